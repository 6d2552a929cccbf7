/// The bodies of the work-token messages (docs/protocol.md, "Work token").
/// Integers big-endian; lists carry a 16-bit count that is checked against
/// the bytes present before anything is allocated.
extension RingMessage {
    public static let maxRequestsPerList = 4_096
    public static let maxClaimsPerToken = 64

    public var type: MessageType {
        switch self {
        case .heartbeat: .ringHeartbeat
        case .token: .ringToken
        case .tokenAck: .ringTokenAck
        case .claimed: .ringClaimed
        case .completed: .ringCompleted
        }
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .heartbeat(let beat):
            Self.append(beat.seen, to: &bytes)
            bytes.append(beat.holding ? 1 : 0)
            bytes.appendBigEndian(beat.accepted)
            bytes.appendBigEndian(beat.pending)
            bytes.appendBigEndian(beat.intervalMilliseconds)
        case .token(let token):
            Self.append(token.position, to: &bytes)
            let claims = token.recentClaims.suffix(Self.maxClaimsPerToken)
            bytes.appendBigEndian(UInt16(claims.count))
            for claim in claims { Self.append(claim, to: &bytes) }
        case .tokenAck(let position):
            Self.append(position, to: &bytes)
        case .claimed(let claim):
            Self.append(claim, to: &bytes)
        case .completed(let requests):
            Self.append(requests, to: &bytes)
        }
        return bytes
    }

    public static func decode(type: MessageType, body: ArraySlice<UInt8>) throws(WireError) -> RingMessage {
        var reader = ByteReader(body)
        let message: RingMessage
        switch type {
        case .ringHeartbeat:
            let seen = try readPosition(&reader)
            let holding = try reader.readUInt8()
            guard holding <= 1 else { throw WireError(.malformedBody, "a heartbeat's holding flag is \(holding)") }
            let accepted = try reader.readUInt64(), pending = try reader.readUInt32(), interval = try reader.readUInt16()
            guard (1...1_000).contains(interval) else { throw WireError(.malformedBody, "a heartbeat interval of \(interval) ms") }
            message = .heartbeat(.init(seen: seen, holding: holding == 1, accepted: accepted, pending: pending, intervalMilliseconds: interval))
        case .ringToken:
            let position = try readPosition(&reader)
            let count = Int(try reader.readUInt16())
            guard count <= maxClaimsPerToken else { throw WireError(.malformedBody, "a token carries at most \(maxClaimsPerToken) claims, not \(count)") }
            var claims: [Claim] = []
            for _ in 0..<count { claims.append(try readClaim(&reader)) }
            message = .token(.init(position: position, recentClaims: claims))
        case .ringTokenAck:
            message = .tokenAck(try readPosition(&reader))
        case .ringClaimed:
            message = .claimed(try readClaim(&reader))
        case .ringCompleted:
            message = .completed(try readRequests(&reader))
        default:
            throw WireError(.unknownType, "message type \(type) is not part of the work-token protocol")
        }
        try reader.expectEnd()
        return message
    }

    // MARK: Fields

    static func append(_ position: TokenPosition, to bytes: inout [UInt8]) {
        bytes.appendBigEndian(position.epoch.counter)
        bytes.appendBigEndian(position.epoch.generator)
        bytes.appendBigEndian(position.hop)
    }

    static func append(_ claim: Claim, to bytes: inout [UInt8]) {
        bytes.appendBigEndian(claim.server)
        append(claim.requests, to: &bytes)
    }

    static func append(_ requests: [RequestID], to bytes: inout [UInt8]) {
        let list = requests.prefix(maxRequestsPerList)
        bytes.appendBigEndian(UInt16(list.count))
        for request in list {
            bytes.appendBigEndian(request.client)
            bytes.appendBigEndian(request.number)
        }
    }

    static func readPosition(_ reader: inout ByteReader) throws(WireError) -> TokenPosition {
        let counter = try reader.readUInt64(), generator = try reader.readUInt64(), hop = try reader.readUInt64()
        return TokenPosition(epoch: Epoch(counter: counter, generator: generator), hop: hop)
    }

    static func readClaim(_ reader: inout ByteReader) throws(WireError) -> Claim {
        let server = try reader.readUInt64()
        return Claim(server: server, requests: try readRequests(&reader))
    }

    static func readRequests(_ reader: inout ByteReader) throws(WireError) -> [RequestID] {
        let count = Int(try reader.readUInt16())
        guard count <= maxRequestsPerList else { throw WireError(.malformedBody, "a list of \(count) requests is too long") }
        guard count * 16 <= reader.remaining else { throw WireError(.truncated, "message ends early: \(count) requests announced") }
        var requests: [RequestID] = []
        requests.reserveCapacity(count)
        for _ in 0..<count { requests.append(RequestID(client: try reader.readUInt64(), number: try reader.readUInt64())) }
        return requests
    }
}
