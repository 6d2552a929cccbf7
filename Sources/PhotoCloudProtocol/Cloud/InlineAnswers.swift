/// Answers small enough for one datagram, sent whole to the client's data
/// endpoint and resent until the client says it has them (`answerReceived`),
/// as a pure state machine: events in, directives out, time injected.
/// `Peer` is an address (a socket address in the server, a number in tests).
///
/// An answer too large for one datagram goes as a transfer instead; this
/// machine never sees it. Idempotence comes from the encryption jobs: a
/// client's retry of its request makes the server send the kept answer again,
/// through here, once the last sending is over.
public struct InlineAnswers<Peer: Hashable & Sendable>: Sendable {
    public struct Configuration: Sendable {
        /// The wait before the first resend; each next wait is twice the last.
        public var firstResend: Duration
        /// Resends after the first sending, at most (then the client's own retry takes over).
        public var resends: Int
        /// Answers waiting for their acknowledgement, at most; beyond, a new
        /// one is sent once and not kept (the client's retry brings it again).
        public var maxPending: Int

        public init(firstResend: Duration = .milliseconds(200), resends: Int = 3, maxPending: Int = 2_048) {
            self.firstResend = firstResend
            self.resends = resends
            self.maxPending = maxPending
        }
    }

    public enum Directive: Sendable, Equatable {
        /// The answer's datagram (already framed) to the client's data endpoint.
        case send([UInt8], to: Peer)
        /// Sending this answer is over (acknowledged, or resent as often as it will be).
        case sendingEnded(RequestID)
    }

    private struct Pending: Sendable {
        var datagram: [UInt8]
        var to: Peer
        var resent: Int
        var next: Instant
    }

    public let configuration: Configuration
    private var pending: [RequestID: Pending] = [:]
    /// No resend is due before this (a bound, not exact: an acknowledgement does not move it).
    private var earliest: Instant?
    /// Answers sent (not counting resends), acknowledged, and resends made, in total (for the tests and the bench).
    public private(set) var sent = 0
    public private(set) var acknowledged = 0
    public private(set) var resent = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var pendingCount: Int { pending.count }

    /// The earliest resend due (nil: nothing waits).
    public var nextDeadline: Instant? { pending.isEmpty ? nil : earliest }

    /// Sends `datagram`, the answer to request `id`, to `peer`, and keeps it to resend.
    public mutating func send(_ id: RequestID, datagram: [UInt8], to peer: Peer, now: Instant) -> [Directive] {
        sent += 1
        guard pending.count < configuration.maxPending || pending[id] != nil else {
            return [.send(datagram, to: peer), .sendingEnded(id)]
        }
        let next = now + configuration.firstResend
        pending[id] = Pending(datagram: datagram, to: peer, resent: 0, next: next)
        earliest = min(earliest ?? next, next)
        return [.send(datagram, to: peer)]
    }

    /// `from` says it has the answer to `id`: only the endpoint it was sent to counts.
    public mutating func onReceived(_ id: RequestID, from peer: Peer) -> [Directive] {
        guard let kept = pending[id], kept.to == peer else { return [] }
        pending[id] = nil
        acknowledged += 1
        return [.sendingEnded(id)]
    }

    /// Resends what is due; gives up on answers resent `resends` times.
    public mutating func onTimer(now: Instant) -> [Directive] {
        guard let due = earliest, due <= now else { return [] }
        var out: [Directive] = []
        var soonest: Instant?
        for (id, kept) in pending {
            guard kept.next <= now else {
                soonest = min(soonest ?? kept.next, kept.next)
                continue
            }
            guard kept.resent < configuration.resends else {
                pending[id] = nil
                out.append(.sendingEnded(id))
                continue
            }
            resent += 1
            pending[id]?.resent += 1
            let next = now + configuration.firstResend * (1 << (kept.resent + 1))
            pending[id]?.next = next
            soonest = min(soonest ?? next, next)
            out.append(.send(kept.datagram, to: kept.to))
        }
        earliest = soonest
        return out
    }
}
