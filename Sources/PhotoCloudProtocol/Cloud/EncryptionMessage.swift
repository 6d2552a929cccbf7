import Crypto

/// What a client and the servers say about an encryption request, on the
/// control endpoints (docs/protocol.md, "Encryption request"). The payload and
/// the stego result travel on the data endpoints as transfers, each object
/// framed by `EncryptionObject`.
public enum EncryptionMessage: Sendable, Equatable {
    /// Client -> every server (or only server 1 without balancing); retries repeat it.
    case request(Request)
    /// Server -> client: who has the request and how far it got.
    case accepted(Accepted)
    /// Server -> client: the request cannot be served (retrying will not help).
    case refused(Refused)
    /// Client -> the server whose inline answer (`MessageType.encryptAnswer`) arrived: stop resending it.
    case answerReceived(AnswerReceived)

    public struct Request: Sendable, Equatable {
        /// The first 16 bytes of SHA-256 of the request's encoding (without
        /// its cookie and inline payload, which differ from server to server
        /// and retry to retry): names this very request.
        public var digest: [UInt8] { Array(Array(SHA256.hash(data: EncryptionMessage.request(identity).encoded())).prefix(16)) }

        /// The request without its cookie and inline payload: what a server remembers of it.
        public var identity: Request {
            var request = self
            request.cookie = []
            request.inline = nil
            return request
        }

        /// The smallest body a request can have (a key of one byte).
        public static let minimumBodySize = 16 + 1 + 1 + 4 + 32 + 2 + 1 + 2 + 32 + 1 + 1 + 2
        public var id: RequestID
        /// Served by the server it is sent to, without the token (the original's
        /// baseline without load balancing).
        public var direct: Bool
        public var bitsPerChannel: UInt8
        public var payloadBytes: UInt32
        /// SHA-256 of the payload, so the server knows the transfer it gets is this request's.
        public var payloadDigest: [UInt8]
        /// The stego key's material (a passphrase's bytes or a raw key, 1-64 bytes): it decides where the payload hides
        /// and seals it inside the image. The payload itself is already sealed
        /// by its sender for its receiver; servers never see plaintext.
        public var key: [UInt8]
        /// The port of the client's data endpoint, on the address the request
        /// came from (the answer goes to the endpoint the payload comes from).
        public var dataPort: UInt16
        /// The client's X25519 public key (32 bytes): servers tag what they tell
        /// the client with the key it makes with the cluster's (`SessionKey`).
        public var clientKey: [UInt8]
        /// The cookie this server sent the client's data endpoint (`AddressCheck`), or empty.
        public var cookie: [UInt8]
        /// The payload itself, when it is small (`maxInlinePayload`): a server
        /// that finds the cookie valid serves it without a payload transfer.
        public var inline: [UInt8]?

        public init(id: RequestID, direct: Bool = false, bitsPerChannel: UInt8 = 1, payloadBytes: UInt32, payloadDigest: [UInt8], key: [UInt8],
                    dataPort: UInt16 = 0, clientKey: [UInt8] = [UInt8](repeating: 9, count: 32), cookie: [UInt8] = [], inline: [UInt8]? = nil) {
            self.id = id
            self.direct = direct
            self.bitsPerChannel = bitsPerChannel
            self.payloadBytes = payloadBytes
            self.payloadDigest = payloadDigest
            self.key = key
            self.dataPort = dataPort
            self.clientKey = clientKey
            self.cookie = cookie
            self.inline = inline
        }
    }

    public struct Accepted: Sendable, Equatable {
        public enum Phase: UInt8, Sendable {
            /// Said by a server that knows another one has it.
            case claimedElsewhere = 0
            /// The acceptor waits for the payload on its data endpoint.
            case awaitingPayload = 1
            /// The acceptor has the payload and is embedding it.
            case working = 2
            /// The acceptor has the answer and is sending it (again).
            case answered = 3
        }

        public var id: RequestID
        public var server: UInt64
        public var phase: Phase

        public init(id: RequestID, server: UInt64, phase: Phase) {
            self.id = id
            self.server = server
            self.phase = phase
        }
    }

    public struct Refused: Sendable, Equatable {
        public var id: RequestID
        /// `Request.digest` of the request refused: a client takes a refusal
        /// only of the very request it sent (a stranger's variant of it, sent
        /// from the client's address, is refused to that address too).
        public var request: [UInt8]
        public var reason: String
        /// Bytes of reason at most: a refusal stays within three times the request it answers.
        public static let maxReason = 160

        public init(id: RequestID, request: [UInt8], reason: String) {
            self.id = id
            self.request = request
            self.reason = reason
        }

        /// The refusal of `request`.
        public init(_ request: Request, reason: String) {
            self.init(id: request.id, request: request.digest, reason: reason)
        }
    }

    public struct AnswerReceived: Sendable, Equatable {
        public var id: RequestID
        /// The server whose answer it was.
        public var server: UInt64

        public init(id: RequestID, server: UInt64) {
            self.id = id
            self.server = server
        }
    }

    public static let keyBytes = 1...64
    public static let digestBytes = 32
    /// The largest payload a request carries inline: the request stays
    /// within 1,200 bytes, a datagram every path carries unfragmented (QUIC's
    /// minimum). Larger payloads always travel as a transfer.
    public static let maxInlinePayload = 960

    /// The largest answer object (`EncryptionObject.result`) sent inline, in
    /// one datagram (`MessageType.encryptAnswer`): the transfer's chunk size.
    /// A larger one goes as a transfer.
    public static let maxInlineAnswer = 60_000

    /// The request the message is about.
    public var requestID: RequestID {
        switch self {
        case .request(let request): request.id
        case .accepted(let accepted): accepted.id
        case .refused(let refused): refused.id
        case .answerReceived(let received): received.id
        }
    }

    public var type: MessageType {
        switch self {
        case .request: .encryptRequest
        case .accepted: .encryptAccepted
        case .refused: .encryptRefused
        case .answerReceived: .encryptAnswerReceived
        }
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        func append(_ id: RequestID) {
            bytes.appendBigEndian(id.client)
            bytes.appendBigEndian(id.number)
        }
        switch self {
        case .request(let request):
            append(request.id)
            bytes.append(request.direct ? 1 : 0)
            bytes.append(request.bitsPerChannel)
            bytes.appendBigEndian(request.payloadBytes)
            bytes.append(contentsOf: request.payloadDigest)
            bytes.appendLengthPrefixed(request.key)
            bytes.appendBigEndian(request.dataPort)
            bytes.appendFixed(request.clientKey, count: 32)
            Self.appendCookie(request.cookie, to: &bytes)
            // Only a payload that is small, and whole, goes inline.
            let inline = request.inline.flatMap { $0.count <= Self.maxInlinePayload && $0.count == Int(request.payloadBytes) ? $0 : nil }
            bytes.append(inline == nil ? 0 : 1)
            bytes.appendBigEndian(UInt16(inline?.count ?? 0))
            bytes.append(contentsOf: inline ?? [])
        case .accepted(let accepted):
            append(accepted.id)
            bytes.appendBigEndian(accepted.server)
            bytes.append(accepted.phase.rawValue)
        case .refused(let refused):
            append(refused.id)
            bytes.appendFixed(refused.request, count: 16)
            bytes.appendString(String(refused.reason.utf8Prefix(Refused.maxReason)))
        case .answerReceived(let received):
            append(received.id)
            bytes.appendBigEndian(received.server)
        }
        return bytes
    }

    /// A cookie field: its length (0 or 16) and the cookie (one of another size is written as none).
    static func appendCookie(_ cookie: [UInt8], to bytes: inout [UInt8]) {
        let kept = cookie.count == AddressCookies.size ? cookie : []
        bytes.append(UInt8(kept.count))
        bytes.append(contentsOf: kept)
    }

    static func readCookie(_ reader: inout ByteReader) throws(WireError) -> [UInt8] {
        let length = Int(try reader.readUInt8())
        guard length == 0 || length == AddressCookies.size else { throw WireError(.malformedBody, "a cookie of \(length) bytes") }
        return try reader.readBytes(length)
    }

    public static func decode(type: MessageType, body: ArraySlice<UInt8>) throws(WireError) -> EncryptionMessage {
        var reader = ByteReader(body)
        let id = RequestID(client: try reader.readUInt64(), number: try reader.readUInt64())
        let message: EncryptionMessage
        switch type {
        case .encryptRequest:
            let direct = try reader.readUInt8()
            guard direct <= 1 else { throw WireError(.malformedBody, "a request's direct flag is \(direct)") }
            let bits = try reader.readUInt8()
            guard (1...3).contains(bits) else { throw WireError(.malformedBody, "a request asks for \(bits) bits per channel (1-3)") }
            let size = try reader.readUInt32()
            let digest = try reader.readBytes(digestBytes)
            let key = try reader.readLengthPrefixed(limit: keyBytes.upperBound)
            guard keyBytes.contains(key.count) else { throw WireError(.malformedBody, "a stego key of \(key.count) bytes (1-64)") }
            let port = try reader.readUInt16()
            let clientKey = try reader.readBytes(32)
            let cookie = try readCookie(&reader)
            let hasInline = try reader.readUInt8()
            guard hasInline <= 1 else { throw WireError(.malformedBody, "a request's inline flag is \(hasInline)") }
            let inlineBytes = Int(try reader.readUInt16())
            // Compared in the wire's width: the inline payload is the whole payload, and small.
            guard hasInline == 1 || inlineBytes == 0 else { throw WireError(.malformedBody, "inline bytes without the inline flag") }
            guard inlineBytes <= maxInlinePayload, hasInline == 0 || UInt32(inlineBytes) == size else {
                throw WireError(.malformedBody, "an inline payload of \(inlineBytes) bytes for a payload of \(size) (at most \(maxInlinePayload) inline)")
            }
            let inline = hasInline == 1 ? try reader.readBytes(inlineBytes) : nil
            message = .request(.init(id: id, direct: direct == 1, bitsPerChannel: bits, payloadBytes: size, payloadDigest: digest, key: key,
                                     dataPort: port, clientKey: clientKey, cookie: cookie, inline: inline))
        case .encryptAccepted:
            let server = try reader.readUInt64()
            let raw = try reader.readUInt8()
            guard let phase = Accepted.Phase(rawValue: raw) else { throw WireError(.malformedBody, "unknown acceptance phase \(raw)") }
            message = .accepted(.init(id: id, server: server, phase: phase))
        case .encryptRefused:
            let request = try reader.readBytes(16)
            message = .refused(.init(id: id, request: request, reason: try reader.readString(limit: Refused.maxReason)))
        case .encryptAnswerReceived:
            message = .answerReceived(.init(id: id, server: try reader.readUInt64()))
        default:
            throw WireError(.unknownType, "\(type) is not an encryption message")
        }
        try reader.expectEnd()
        return message
    }
}

/// The objects of an encryption request on the data endpoints: a magic, the
/// request id, then the payload (client -> server) or the acceptor's id, its
/// proof and the stego PNG (server -> client).
public enum EncryptionObject: Sendable, Equatable {
    case payload(RequestID, [UInt8])
    /// The same bytes from every incarnation of a server (a transfer a
    /// restarted server resumes must not change under the receiver).
    case result(RequestID, server: UInt64, proof: AnswerProof, png: [UInt8])

    /// Who made an answer: only a server of the cloud can make the proof over
    /// `statement(...)`; a transfer that anyone who knows the request id could
    /// send is not taken as an answer without it.
    public enum AnswerProof: Sendable, Equatable {
        /// HMAC-SHA256 under the client's session key (32 bytes).
        case session([UInt8])
        /// The server's Ed25519 signature (64 bytes), when it has no session with the client.
        case signature([UInt8])
    }

    /// What the proof covers: the request, the server and the PNG's SHA-256.
    public static func statement(_ id: RequestID, server: UInt64, png: [UInt8]) -> [UInt8] {
        var bytes = Array("photocloud answer v1".utf8)
        bytes.appendBigEndian(id.client)
        bytes.appendBigEndian(id.number)
        bytes.appendBigEndian(server)
        bytes += Array(SHA256.hash(data: png))
        return bytes
    }

    /// A result object's bytes besides the PNG, with a proof of `proof` bytes.
    public static func resultOverhead(proof: Int) -> Int { 4 + 16 + 8 + 1 + proof }

    static let payloadMagic = Array("PCP1".utf8)
    static let resultMagic = Array("PCR2".utf8)
    /// A payload object's bytes besides the payload.
    public static let payloadOverhead = 20

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .payload(let id, let payload):
            bytes.reserveCapacity(20 + payload.count)
            bytes += Self.payloadMagic
            bytes.appendBigEndian(id.client)
            bytes.appendBigEndian(id.number)
            bytes += payload
        case .result(let id, let server, let proof, let png):
            bytes.reserveCapacity(93 + png.count)
            bytes += Self.resultMagic
            bytes.appendBigEndian(id.client)
            bytes.appendBigEndian(id.number)
            bytes.appendBigEndian(server)
            switch proof {
            case .session(let mac):
                bytes.append(1)
                bytes.appendFixed(mac, count: 32)
            case .signature(let signature):
                bytes.append(2)
                bytes.appendFixed(signature, count: 64)
            }
            bytes += png
        }
        return bytes
    }

    /// The body of an inline answer (`MessageType.encryptAnswer`): a result, nothing else.
    public static func decodeAnswer(_ bytes: ArraySlice<UInt8>) throws(WireError) -> EncryptionObject {
        let object = try decode(bytes)
        guard case .result = object else { throw WireError(.malformedBody, "an inline answer that carries a payload") }
        return object
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> EncryptionObject { try decode(bytes[...]) }

    public static func decode(_ bytes: ArraySlice<UInt8>) throws(WireError) -> EncryptionObject {
        var reader = ByteReader(bytes)
        let magic = try reader.readBytes(4)
        let id = RequestID(client: try reader.readUInt64(), number: try reader.readUInt64())
        switch magic {
        case payloadMagic:
            return .payload(id, try reader.readBytes(reader.remaining))
        case resultMagic:
            let server = try reader.readUInt64()
            let kind = try reader.readUInt8()
            let proof: AnswerProof
            switch kind {
            case 1: proof = .session(try reader.readBytes(32))
            case 2: proof = .signature(try reader.readBytes(64))
            default: throw WireError(.malformedBody, "unknown answer proof \(kind)")
            }
            return .result(id, server: server, proof: proof, png: try reader.readBytes(reader.remaining))
        default:
            throw WireError(.badMagic, "a data object that is neither a payload nor a result")
        }
    }
}

extension RequestID {
    /// The transfer that carries this request's payload to acceptor `server`.
    /// Named by the request and the server, so that the acceptor knows which
    /// transfer to take (it takes no other), a retried payload resumes where
    /// it was, and a payload to a new acceptor is not held up by one still
    /// going to a dead one.
    public func payloadTransfer(to server: UInt64) -> UInt64 { transfer("payload", server) }
    /// The transfer that carries the answer back from `server`: the client
    /// takes no other (it announces one for each server of the cloud).
    public func answerTransfer(from server: UInt64) -> UInt64 { transfer("answer", server) }

    private func transfer(_ label: String, _ server: UInt64) -> UInt64 {
        var hash = SHA256()
        hash.update(data: Array("photocloud \(label) transfer".utf8))
        hash.update(data: client.bigEndianBytes + number.bigEndianBytes + server.bigEndianBytes)
        return Array(hash.finalize()).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
