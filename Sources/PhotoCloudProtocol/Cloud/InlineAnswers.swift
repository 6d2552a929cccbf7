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
        /// Answers waiting for their acknowledgement, at most, and their bytes
        /// at most; beyond either, a new one is sent once and not kept (the
        /// client's retry brings it again). The bytes are the real bound: a
        /// client that falls behind under load acknowledges late, and at 10x
        /// the text workload a count of 2,048 left answers unkept whose one
        /// sending was then lost (the client, waiting for a late answer,
        /// retried only after its deadline).
        public var maxPending: Int
        public var maxPendingBytes: Int

        public init(firstResend: Duration = .milliseconds(200), resends: Int = 3, maxPending: Int = 65_536,
                    maxPendingBytes: Int = 64 << 20) {
            self.firstResend = firstResend
            self.resends = resends
            self.maxPending = maxPending
            self.maxPendingBytes = maxPendingBytes
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
        var lastSent: Instant
    }

    public let configuration: Configuration
    private var pending: [RequestID: Pending] = [:]
    /// The bytes of the datagrams in `pending`.
    public private(set) var pendingBytes = 0
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
        let replaced = pending[id]?.datagram.count
        let fits = replaced != nil || pending.count < configuration.maxPending
        guard fits, pendingBytes - (replaced ?? 0) + datagram.count <= configuration.maxPendingBytes else {
            return [.send(datagram, to: peer), .sendingEnded(id)]
        }
        let next = now + configuration.firstResend
        pendingBytes += datagram.count - (replaced ?? 0)
        pending[id] = Pending(datagram: datagram, to: peer, resent: 0, next: next, lastSent: now)
        earliest = min(earliest ?? next, next)
        return [.send(datagram, to: peer)]
    }

    /// `from` says it has the answer to `id`: only the endpoint it was sent to counts.
    public mutating func onReceived(_ id: RequestID, from peer: Peer) -> [Directive] {
        guard let kept = pending[id], kept.to == peer else { return [] }
        pending[id] = nil
        pendingBytes -= kept.datagram.count
        acknowledged += 1
        return [.sendingEnded(id)]
    }

    /// The client asked again for `id` while its answer is still kept: it has
    /// not got it (every copy so far was lost, or its receipts were), so it goes
    /// again now, and its resends start over. At most once a `firstResend`,
    /// whatever the retries (forged ones included) ask.
    public mutating func onRetry(_ id: RequestID, now: Instant) -> [Directive] {
        guard let kept = pending[id], now.since(kept.lastSent) >= configuration.firstResend else { return [] }
        let next = now + configuration.firstResend
        pending[id] = Pending(datagram: kept.datagram, to: kept.to, resent: 0, next: next, lastSent: now)
        earliest = min(earliest ?? next, next)
        resent += 1
        return [.send(kept.datagram, to: kept.to)]
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
                pendingBytes -= kept.datagram.count
                out.append(.sendingEnded(id))
                continue
            }
            resent += 1
            pending[id]?.resent += 1
            let next = now + configuration.firstResend * (1 << (kept.resent + 1))
            pending[id]?.next = next
            pending[id]?.lastSent = now
            soonest = min(soonest ?? next, next)
            out.append(.send(kept.datagram, to: kept.to))
        }
        earliest = soonest
        return out
    }
}
