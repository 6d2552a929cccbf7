/// The original system's chaos mode, kept as fault injection: a second token
/// whose holder goes offline for a while (it neither reads nor sends on its
/// control endpoint), then wakes and passes the token to the next server in
/// ring order, which acknowledges it and goes offline in turn. The cloud must
/// hide each outage from the clients the way it hides a crash.
///
/// Pure: time injected. Every pass carries a higher round, so a token that
/// went astray (its holder was killed) dies when a newer one has been seen;
/// the lowest server makes a new one when it has not had it for `lostAfter`.
public struct OfflineToken: Sendable {
    public struct Configuration: Sendable {
        public var offlineFor: Duration
        /// Resend to the next server, or try the one after, this often without an ack.
        public var passRetry: Duration
        /// Before the first token, after start.
        public var startDelay: Duration

        public init(offlineFor: Duration = .milliseconds(400), passRetry: Duration = .milliseconds(60), startDelay: Duration = .milliseconds(500)) {
            self.offlineFor = offlineFor
            self.passRetry = passRetry
            self.startDelay = startDelay
        }
    }

    public enum Message: Sendable, Equatable {
        case token(round: UInt64)
        case ack(round: UInt64)
    }

    public enum Directive: Sendable, Equatable {
        case send(to: UInt64, Message)
        /// Go offline until this instant (the caller calls `onWake` then).
        case sleep(until: Instant)
    }

    public let id: UInt64
    public let members: [UInt64]
    public let configuration: Configuration
    private var seenRound: UInt64 = 0
    private var passing: (round: UInt64, to: UInt64, sentAt: Instant, attempts: Int)?
    private var lastSeen: Instant
    /// The lowest server makes the first token `startDelay` after it starts.
    private let firstTokenAt: Instant
    public private(set) var outages = 0

    public init(id: UInt64, members: [UInt64], configuration: Configuration = Configuration(), now: Instant) {
        self.id = id
        self.members = members.sorted()
        self.configuration = configuration
        lastSeen = now
        firstTokenAt = now + configuration.startDelay
    }

    /// Long enough for the token to go round every server.
    public var lostAfter: Duration { (configuration.offlineFor + configuration.passRetry * 2) * max(2, members.count) + .seconds(1) }

    public mutating func on(_ message: Message, from sender: UInt64, now: Instant) -> [Directive] {
        switch message {
        case .token(let round):
            var out: [Directive] = [.send(to: sender, .ack(round: round))]
            guard round > seenRound else { return out }   // an old token, or a resend of one taken
            seenRound = round
            lastSeen = now
            passing = nil
            outages += 1
            out.append(.sleep(until: now + configuration.offlineFor))
            return out
        case .ack(let round):
            if let pass = passing, pass.round == round { passing = nil }
            return []
        }
    }

    /// The holder woke up: the token goes on.
    public mutating func onWake(now: Instant) -> [Directive] {
        pass(round: seenRound + 1, startingAfter: id, now: now)
    }

    public mutating func onTimer(now: Instant) -> [Directive] {
        if let pass = passing, now.since(pass.sentAt) >= configuration.passRetry {
            // Twice to the same server, then on to the one after it.
            let target = pass.attempts < 2 ? pass.to : next(after: pass.to)
            if target == id { passing = nil; return [] }
            passing = (pass.round, target, now, pass.attempts < 2 ? pass.attempts + 1 : 1)
            return [.send(to: target, .token(round: pass.round))]
        }
        let due = seenRound == 0 ? now >= firstTokenAt : now.since(lastSeen) >= lostAfter
        if passing == nil, id == members.first, due {
            lastSeen = now
            seenRound += 1
            outages += 1
            return [.sleep(until: now + configuration.offlineFor)]
        }
        return []
    }

    private mutating func pass(round: UInt64, startingAfter server: UInt64, now: Instant) -> [Directive] {
        let target = next(after: server)
        guard target != id else {
            // Alone: sleep again later.
            lastSeen = now
            return []
        }
        seenRound = max(seenRound, round)
        passing = (round, target, now, 1)
        return [.send(to: target, .token(round: round))]
    }

    /// The next other server in ring order (self only when alone).
    private func next(after server: UInt64) -> UInt64 {
        let others = members.filter { $0 != id }
        return others.first { $0 > server } ?? others.first ?? id
    }
}

extension OfflineToken.Message {
    public var type: MessageType {
        switch self {
        case .token: .offlineToken
        case .ack: .offlineTokenAck
        }
    }

    /// The round, big-endian.
    public func encoded() -> [UInt8] {
        switch self {
        case .token(let round), .ack(let round): round.bigEndianBytes
        }
    }

    public static func decode(type: MessageType, body: ArraySlice<UInt8>) throws(WireError) -> OfflineToken.Message {
        var reader = ByteReader(body)
        let round = try reader.readUInt64()
        try reader.expectEnd()
        switch type {
        case .offlineToken: return .token(round: round)
        case .offlineTokenAck: return .ack(round: round)
        default: throw WireError(.unknownType, "\(type) is not an offline-token message")
        }
    }
}
