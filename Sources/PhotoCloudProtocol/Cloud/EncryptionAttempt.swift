/// One encryption request from the client's side, as a pure state machine.
///
/// The client sends the request to the servers and repeats it until an answer
/// comes: after `retryInterval` until a server accepts, after `workingRetry`
/// once one has, each wait twice the last up to `maxRetryInterval` (a loaded
/// cloud is slow, not lossy: quick repeats would only add to its load). The
/// servers themselves reopen the requests of a dead acceptor and the new one
/// tells the client, so a retry is only the fallback for lost datagrams. Whichever server
/// says it waits for the payload gets it, once per acceptance; a server that
/// dies after taking it is simply replaced. Answers are identical whoever
/// serves, so the first one ends the attempt.
public struct EncryptionAttempt: Sendable {
    public struct Configuration: Sendable {
        public var retryInterval: Duration
        public var workingRetry: Duration
        public var maxRetryInterval: Duration
        /// The attempt fails after this long without an answer.
        public var giveUpAfter: Duration

        public init(retryInterval: Duration = .milliseconds(250), workingRetry: Duration = .milliseconds(2_000),
                    maxRetryInterval: Duration = .seconds(4), giveUpAfter: Duration = .seconds(30)) {
            self.retryInterval = retryInterval
            self.workingRetry = workingRetry
            self.maxRetryInterval = maxRetryInterval
            self.giveUpAfter = giveUpAfter
        }
    }

    public enum Directive: Sendable, Equatable {
        /// Send the request to the servers (all of them, or server 1 only when direct).
        case sendRequest
        /// Transfer the payload to this server's data endpoint (report with `onPayloadSent`).
        case sendPayload(to: UInt64)
        case armTimer(Instant)
        case fail(String)
    }

    /// When each server first accepted (or was named as having) the request.
    public struct Acceptance: Sendable, Equatable {
        public var server: UInt64
        public var at: Instant
    }

    public let request: EncryptionMessage.Request
    public let configuration: Configuration
    public let startedAt: Instant
    public private(set) var acceptances: [Acceptance] = []
    public private(set) var retries = 0
    private var nextRetry: Instant
    private var retryWait: Duration
    /// Payload transfers in flight, and when each server last got the payload.
    private var sending: Set<UInt64> = []
    private var delivered: [UInt64: Instant] = [:]
    private var accepted = false
    public private(set) var isFinished = false
    /// An answer is being checked.
    private var checking = false
    /// Payload transfers that failed since the last one delivered.
    private var failedPayloads = 0

    public init(request: EncryptionMessage.Request, configuration: Configuration = Configuration(), now: Instant) {
        self.request = request
        self.configuration = configuration
        startedAt = now
        retryWait = configuration.retryInterval
        nextRetry = now + retryWait
    }

    public mutating func start() -> [Directive] {
        [.sendRequest, .armTimer(nextRetry)]
    }

    public mutating func on(_ message: EncryptionMessage.Accepted, now: Instant) -> [Directive] {
        guard !isFinished, !checking, message.id == request.id else { return [] }
        if !acceptances.contains(where: { $0.server == message.server }) {
            acceptances.append(Acceptance(server: message.server, at: now))
        }
        if !accepted {
            accepted = true
            retryWait = configuration.workingRetry
            nextRetry = retryTime(after: now)
        }
        guard message.phase == .awaitingPayload, !sending.contains(message.server) else { return [] }
        // A repeated "awaiting" right after a delivery is a late duplicate, not a lost payload.
        if let last = delivered[message.server], now.since(last) < configuration.retryInterval { return [] }
        sending.insert(message.server)
        return [.sendPayload(to: message.server)]
    }

    /// A payload transfer ended: delivered intact, or failed (the server is gone).
    public mutating func onPayloadSent(to server: UInt64, delivered ok: Bool, now: Instant) -> [Directive] {
        sending.remove(server)
        guard !isFinished else { return [] }
        if ok {
            delivered[server] = now
            failedPayloads = 0
            return []
        }
        if now.since(startedAt) >= configuration.giveUpAfter { return giveUp() }
        // Ask again: another server takes over once the ring has reopened the request. At once the
        // first time, then backing off: a server that refuses at once (busy) must not make a spin.
        failedPayloads += 1
        retries += 1
        if failedPayloads == 1 {
            retryWait = configuration.retryInterval
            nextRetry = now + retryWait
            return [.sendRequest, .armTimer(min(nextRetry, startedAt + configuration.giveUpAfter))]
        }
        retryWait = min(configuration.retryInterval * Double(1 << min(failedPayloads - 1, 4)), configuration.maxRetryInterval)
        nextRetry = now + retryWait
        return [.armTimer(min(nextRetry, startedAt + configuration.giveUpAfter))]
    }

    public mutating func onRefused(_ reason: String) -> [Directive] {
        guard !isFinished else { return [] }
        isFinished = true
        return [.fail(reason)]
    }

    /// Where the payload transfers stand, for a failure's message.
    private var payloadState: String {
        let delivered = delivered.sorted { $0.key < $1.key }.map { "to \($0.key) at \($0.value.since(startedAt).nanoseconds / 1_000_000) ms" }
        let sending = sending.sorted().map { "to \($0) still going" }
        let all = delivered + sending
        return all.isEmpty ? "" : "; payload sent \(all.joined(separator: ", "))"
    }

    private mutating func giveUp() -> [Directive] {
        isFinished = true
        let seen = acceptances.isEmpty ? "no server accepted it" : "accepted by server \(acceptances.map { "\($0.server) at \($0.at.since(startedAt).nanoseconds / 1_000_000) ms" }.joined(separator: ", then ")); \(retries) retr\(retries == 1 ? "y" : "ies"), the last wait \(retryWait.nanoseconds / 1_000_000) ms\(payloadState)"
        return [.fail("no answer to request \(request.id) after \(configuration.giveUpAfter) (\(seen)); are the servers running?")]
    }

    /// An answer came and is being checked: no retries meanwhile (a check
    /// queued behind others must not make the client ask the cloud again).
    public mutating func onAnswer() { checking = true }

    /// The answer did not carry the payload (forged, or damaged past its
    /// digest): ask again at once, as after a lost answer.
    public mutating func onAnswerRejected(now: Instant) -> [Directive] {
        guard !isFinished, checking else { return [] }
        checking = false
        retries += 1
        retryWait = configuration.retryInterval
        nextRetry = now + retryWait
        return [.sendRequest, .armTimer(nextRetry)]
    }

    /// The answer carried the payload: done.
    public mutating func onAnswerAccepted() { isFinished = true }

    public mutating func onTimer(now: Instant) -> [Directive] {
        guard !isFinished, !checking else { return [] }
        if now.since(startedAt) >= configuration.giveUpAfter { return giveUp() }
        guard now >= nextRetry else { return [.armTimer(min(nextRetry, startedAt + configuration.giveUpAfter))] }
        retries += 1
        retryWait = min(retryWait * 2, configuration.maxRetryInterval)
        nextRetry = retryTime(after: now)
        return [.sendRequest, .armTimer(min(nextRetry, startedAt + configuration.giveUpAfter))]
    }

    /// `retryWait` from now, but no later than one `retryInterval` before
    /// giving up, when there is room: a wait that reaches past the end would
    /// leave an answer lost late with no last chance (at 10x the load the waits
    /// grow to 4 s, and requests accepted at 1 s failed at 5 s without a retry).
    private func retryTime(after now: Instant) -> Instant {
        let wanted = now + retryWait
        guard configuration.giveUpAfter > configuration.retryInterval else { return wanted }
        let lastChance = startedAt + (configuration.giveUpAfter - configuration.retryInterval)
        return wanted > lastChance && lastChance > now + configuration.retryInterval ? lastChance : wanted
    }
}

/// How long the cloud takes to accept a request and to answer an accepted
/// one, as one client saw it lately: RFC 6298's estimator over its own
/// attempts. An acceptance gives a sample only if the attempt was sent once
/// (Karn's rule: which sending it answers is unknown otherwise); an answer
/// gives one if it came from the first server that accepted, whatever the
/// retries (they do not restart the work there, and leaving out the answers
/// that took longer than the wait would teach the estimator only the fast
/// ones). New attempts wait that long before asking again, never less than
/// the configured waits (`base`): a loaded cloud is waited for, not asked
/// three times over (every retry goes to every server).
public struct RetryTiming: Sendable {
    public let base: EncryptionAttempt.Configuration
    public private(set) var acceptance: RTTEstimator
    public private(set) var answer: RTTEstimator

    public init(_ base: EncryptionAttempt.Configuration) {
        self.base = base
        acceptance = RTTEstimator(initialRTO: base.retryInterval, minimumRTO: base.retryInterval,
                                  maximumRTO: max(base.retryInterval, base.maxRetryInterval))
        answer = RTTEstimator(initialRTO: base.workingRetry, minimumRTO: base.workingRetry,
                              maximumRTO: max(base.workingRetry, base.maxRetryInterval))
    }

    /// The configuration of the next attempt.
    public var configuration: EncryptionAttempt.Configuration {
        var configuration = base
        configuration.retryInterval = acceptance.timeout
        configuration.workingRetry = answer.timeout
        return configuration
    }

    /// `attempt`, not yet accepted, hears its first acceptance now.
    public mutating func onFirstAcceptance(of attempt: EncryptionAttempt, now: Instant) {
        guard attempt.acceptances.isEmpty, attempt.retries == 0 else { return }
        acceptance.record(now.since(attempt.startedAt))
    }

    /// The longest first wait that backing off gives new attempts: RFC 6298's
    /// initial timeout. A request lost in an overflowing socket buffer waits
    /// that long for its retry, which a deadline of a few seconds still allows.
    public static let backOffLimit: Duration = .seconds(1)

    /// An attempt that no server has accepted yet asks again: new attempts
    /// wait twice as long before their first retry (RFC 6298 section 5.5), up
    /// to `backOffLimit`, until one sent once is accepted and its sample sets
    /// the wait anew. Without it, Karn's rule hid exactly the slow acceptances
    /// of a burst (they had all been retried), so every request of a burst
    /// that filled the servers' queues was sent twice, to every server: 10,000
    /// retries for 10,000 requests at 10x the original load. Attempts already
    /// under way keep their own waits.
    public mutating func onRetryBeforeAcceptance() {
        acceptance.backOff(upTo: Self.backOffLimit)
    }

    /// An answer to `attempt` came now, from `server`.
    public mutating func onAnswer(of attempt: EncryptionAttempt, from server: UInt64, now: Instant) {
        guard let first = attempt.acceptances.first, first.server == server else { return }
        answer.record(now.since(first.at))
    }
}
