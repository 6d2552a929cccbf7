/// The work token of one server, as a pure state machine (events in,
/// directives out; time injected).
///
/// Servers form a ring by id. The holder claims its share of the pending
/// requests (a fair share of them among the alive servers, up to a batch),
/// tells the others, and hands the token to the next alive server,
/// which acknowledges it. Within an epoch the token only moves by hand-off, and
/// the sender stops holding as it sends, so an epoch has at most one holder.
/// Everything else makes a new epoch (`Epoch`):
/// - the next server does not acknowledge and heartbeats say it is dead: the
///   sender regenerates the token itself and passes it past the dead one;
/// - nobody has seen the token move for `tokenTimeout`: the lowest alive
///   server regenerates it (once: the others defer to it).
/// A holder that learns of a higher epoch drops its token. Requests claimed by
/// a server that dies reopen and are claimed again; clients retry with the same
/// request id and a retry is answered, not queued twice.
public struct TokenRing: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var heartbeatInterval: Duration
        /// The interval once no request has been seen for `quietAfter`: an
        /// idle server's cost is its wake-ups, most of them heartbeats. A
        /// third of `suspectAfter`, so that a death is still seen as soon.
        public var quietHeartbeatInterval: Duration
        /// Silence after which a server counts as dead.
        public var suspectAfter: Duration
        /// No token movement seen for this long: the token is lost.
        public var tokenTimeout: Duration
        /// Resend the token when the next server has not acknowledged it.
        public var handoffRetry: Duration
        /// A holder with nothing to claim keeps the token this long.
        public var idleHold: Duration
        /// ... and this long once no request has been seen for `quietAfter`:
        /// an idle cloud passes the token 4 times a second, not 500, and a
        /// request that comes is claimed at once by the holder (every server
        /// gets it), so nobody waits for the hold. The holder's heartbeats
        /// (holding, at the newest position) tell the others the token is
        /// resting, not lost.
        public var quietHold: Duration
        public var quietAfter: Duration
        /// Requests claimed per hold at most.
        public var maxBatch: Int
        /// Requests waiting to be claimed at most: beyond, a new one is not
        /// queued (the client's retry brings it back once there is room).
        public var maxPending: Int
        /// Requests this server has claimed and not finished, at most: beyond,
        /// it claims nothing and passes the token on.
        public var maxOpenClaims: Int

        public init(heartbeatInterval: Duration = .milliseconds(30), quietHeartbeatInterval: Duration = .milliseconds(50),
                    suspectAfter: Duration = .milliseconds(150),
                    tokenTimeout: Duration = .milliseconds(200), handoffRetry: Duration = .milliseconds(10),
                    idleHold: Duration = .milliseconds(2), quietHold: Duration = .milliseconds(250), quietAfter: Duration = .seconds(1),
                    maxBatch: Int = 64, maxPending: Int = 65_536, maxOpenClaims: Int = 16_384) {
            self.heartbeatInterval = heartbeatInterval
            self.quietHeartbeatInterval = quietHeartbeatInterval
            self.suspectAfter = suspectAfter
            self.tokenTimeout = tokenTimeout
            self.handoffRetry = handoffRetry
            self.idleHold = idleHold
            self.quietHold = quietHold
            self.quietAfter = quietAfter
            self.maxBatch = maxBatch
            self.maxPending = maxPending
            self.maxOpenClaims = maxOpenClaims
        }
    }

    public enum Role: Sendable, Equatable {
        case idle
        case holding(TokenPosition, since: Instant)
        case handingOff(TokenPosition, to: UInt64, sentAt: Instant)
    }

    public let id: UInt64
    public let configuration: Configuration
    public private(set) var membership: Membership
    public private(set) var role = Role.idle
    /// The furthest token position seen anywhere.
    public private(set) var seen = TokenPosition.none
    /// The highest epoch counter persisted or seen: new epochs go above it.
    private var highestCounter: UInt64
    private var lastTokenMovement: Instant
    /// When the last client request reached this server (a quiet ring holds the token longer).
    private var lastRequest = Instant.zero
    private var nextHeartbeat: Instant
    /// When this machine last handled anything: a long gap is its own pause.
    private var lastEvent: Instant
    /// Requests waiting to be claimed, in arrival order. A request leaves by
    /// leaving `pendingSet`; its stale place in the array is skipped later
    /// (removing from the middle of the array would cost a scan each time).
    private var pending: [RequestID] = []
    private var pendingHead = 0
    private var pendingSet: Set<RequestID> = []
    /// Who took each request that is not known to be completed.
    public private(set) var claims: [RequestID: UInt64] = [:]
    /// The same, by server, so that a dead server's claims reopen without a scan of all.
    private var claimsByServer: [UInt64: Set<RequestID>] = [:]
    /// Who answered each recently completed request (a retry goes back to it).
    private var completed = BoundedMap<RequestID, UInt64>(capacity: 65_536)
    private var recentClaims: [RingMessage.Claim] = []
    /// Requests this server has accepted, in total.
    public private(set) var acceptedCount = 0
    /// The last heartbeat of each other server.
    private var reports: [UInt64: RingMessage.Heartbeat] = [:]

    /// `persisted` is the epoch last written by `persist` before a restart.
    public init(id: UInt64, members: [UInt64], persisted: Epoch? = nil, configuration: Configuration = Configuration(), now: Instant) {
        self.id = id
        self.configuration = configuration
        membership = Membership(me: id, members: members, suspectAfter: configuration.suspectAfter)
        highestCounter = persisted?.counter ?? 0
        // A (re)started server listens for a while before it regenerates anything.
        lastTokenMovement = now
        nextHeartbeat = now
        lastEvent = now
    }

    public var isHolding: Bool { if case .holding = role { true } else { false } }
    public var holdingPosition: TokenPosition? { if case .holding(let position, _) = role { position } else { nil } }
    public var pendingCount: Int { pendingSet.count }

    // MARK: Events

    public mutating func start(now: Instant) -> [RingDirective] {
        var out: [RingDirective] = []
        heartbeat(now: now, into: &out)
        out.append(.armTimer(nextDeadline(now: now)))
        return out
    }

    /// A client's request (or its retry) reached this server.
    public mutating func onRequest(_ request: RequestID, now: Instant) -> [RingDirective] {
        noteTime(now)
        lastRequest = now
        var out: [RingDirective] = []
        if let owner = claims[request] {
            out.append(owner == id ? .accept(request) : .claimedElsewhere(request, by: owner))
        } else if let answerer = completed[request], answerer == id || membership.isAlive(answerer, now: now) {
            // Answered already (the answer was lost): the answerer answers again from its results.
            out.append(answerer == id ? .accept(request) : .claimedElsewhere(request, by: answerer))
        } else if addPending(request) {
            // New, or answered by a server that has died since: served again.
            if case .holding = role { holdAndPass(now: now, into: &out) }
        }
        out.append(.armTimer(nextDeadline(now: now)))
        return out
    }

    /// This server finished requests it accepted (answered, refused or given up).
    public mutating func onCompleted(_ requests: [RequestID], now: Instant) -> [RingDirective] {
        guard !requests.isEmpty else { return [] }
        for request in requests { markCompleted(request, by: id) }
        var out: [RingDirective] = []
        // 1,024 ids (16 KiB) a datagram: a list of the decoder's maximum would not fit in one.
        for start in stride(from: 0, to: requests.count, by: 1_024) {
            out.append(.broadcast(.completed(Array(requests[start..<min(start + 1_024, requests.count)]))))
        }
        out.append(.armTimer(nextDeadline(now: now)))
        return out
    }

    public mutating func on(_ message: RingMessage, from sender: UInt64, now: Instant) -> [RingDirective] {
        guard sender != id, membership.members.contains(sender) else { return [] }
        noteTime(now)
        if case .heartbeat(let beat) = message {
            membership.heard(from: sender, now: now, interval: .milliseconds(Int64(beat.intervalMilliseconds)))
        } else {
            membership.heard(from: sender, now: now)
        }
        var out: [RingDirective] = []
        switch message {
        case .heartbeat(let beat):
            reports[sender] = beat
            observe(beat.seen, now: now)
            // A live holder of the newest position: the token is not lost, only resting (a quiet ring).
            if beat.holding, beat.seen == seen { lastTokenMovement = now }
            followPacer(sender, now: now, into: &out)
        case .token(let token):
            onToken(token, from: sender, now: now, into: &out)
        case .tokenAck(let position):
            if case .handingOff(let sent, let next, _) = role, sent == position, next == sender { role = .idle }
        case .claimed(let claim):
            record(claim)
        case .completed(let requests):
            for request in requests { markCompleted(request, by: sender) }
        }
        out.append(.armTimer(nextDeadline(now: now)))
        return out
    }

    public mutating func onTimer(now: Instant) -> [RingDirective] {
        noteTime(now)
        var out: [RingDirective] = []
        if now >= nextHeartbeat { heartbeat(now: now, into: &out) }
        reopenClaimsOfDeadServers(now: now)
        switch role {
        case .holding(_, let since):
            if !pendingSet.isEmpty || now.since(since) >= hold(now: now) { holdAndPass(now: now, into: &out) }
        case .handingOff(let position, let next, let sentAt):
            if now.since(sentAt) >= configuration.handoffRetry {
                if membership.isAlive(next, now: now) && now.since(lastTokenMovement) < configuration.tokenTimeout {
                    role = .handingOff(position, to: next, sentAt: now)
                    out.append(.send(to: next, .token(.init(position: position, recentClaims: recentClaims))))
                } else {
                    // The next server died with the hand-off in flight (or cannot be
                    // reached though it is heard): a new epoch, so that a token it may
                    // have received is stale, passed past it.
                    regenerate(now: now, skipping: next, into: &out)
                }
            }
        case .idle:
            if now.since(lastTokenMovement) >= configuration.tokenTimeout, membership.lowestAlive(now: now) == id {
                regenerate(now: now, into: &out)
            }
        }
        out.append(.armTimer(nextDeadline(now: now)))
        return out
    }

    /// This server's view of the cluster.
    public func status(now: Instant) -> ClusterStatus {
        var holder: UInt64? = switch role {
        case .holding: id
        case .handingOff(_, let next, _): next   // it has the token, or will in a moment
        case .idle: nil
        }
        var servers: [ClusterStatus.Entry] = []
        for member in membership.members {
            let alive = membership.isAlive(member, now: now)
            if member == id {
                servers.append(.init(id: id, alive: true, accepted: UInt64(acceptedCount), pending: UInt32(clamping: pendingCount)))
                continue
            }
            let report = reports[member]
            if alive, let report, report.holding, report.seen.epoch == seen.epoch { holder = member }
            servers.append(.init(id: member, alive: alive, accepted: report?.accepted ?? 0, pending: report?.pending ?? 0))
        }
        return ClusterStatus(reporter: id, seen: seen, holder: holder, servers: servers)
    }

    // MARK: Token

    private mutating func onToken(_ token: RingMessage.Token, from sender: UInt64, now: Instant, into out: inout [RingDirective]) {
        for claim in token.recentClaims { record(claim) }
        let position = token.position
        guard position.epoch >= seen.epoch else { return }   // a stale epoch: ignored
        out.append(.send(to: sender, .tokenAck(position)))
        guard position > seen else { return }                 // a resend of a hand-off already taken
        observe(position, now: now)
        role = .holding(position, since: now)
        highestCounter = max(highestCounter, position.epoch.counter)
        if !pendingSet.isEmpty { holdAndPass(now: now, into: &out) }
    }

    /// Claims what is pending, then hands the token on (or keeps it, alone).
    private mutating func holdAndPass(now: Instant, skipping: UInt64? = nil, into out: inout [RingDirective]) {
        guard case .holding(let position, _) = role else { return }
        // A fair share of what is waiting (the rest goes on with the token), so that
        // a burst arriving while one server holds it is not all that server's.
        let alive = max(1, membership.members.count { membership.isAlive($0, now: now) })
        let room = configuration.maxOpenClaims - (claimsByServer[id]?.count ?? 0)
        let batch = takePending(min(configuration.maxBatch, max(1, (pendingCount + alive - 1) / alive), max(0, room)))
        if !batch.isEmpty {
            for request in batch {
                setClaim(request, to: id)
                out.append(.accept(request))
            }
            acceptedCount += batch.count
            let claim = RingMessage.Claim(server: id, requests: batch)
            recentClaims.append(claim)
            // One round of claims rides with the token (a lost `claimed` costs nothing);
            // more only made every hop's datagram, and its HMAC, longer.
            let kept = max(2, membership.members.count)
            if recentClaims.count > kept { recentClaims.removeFirst(recentClaims.count - kept) }
            out.append(.broadcast(.claimed(claim)))
        }
        guard let next = membership.nextAlive(after: id, excluding: skipping.map { [$0] } ?? [], now: now) else {
            role = .holding(position, since: now)   // alone: keep claiming
            return
        }
        let handed = TokenPosition(epoch: position.epoch, hop: position.hop + 1)
        seen = max(seen, handed)
        lastTokenMovement = now
        role = .handingOff(handed, to: next, sentAt: now)
        out.append(.send(to: next, .token(.init(position: handed, recentClaims: recentClaims))))
    }

    private mutating func regenerate(now: Instant, skipping: UInt64? = nil, into out: inout [RingDirective]) {
        highestCounter = max(highestCounter, seen.epoch.counter) + 1
        let epoch = Epoch(counter: highestCounter, generator: id)
        out.append(.persist(epoch))
        let position = TokenPosition(epoch: epoch, hop: 0)
        seen = position
        lastTokenMovement = now
        role = .holding(position, since: now)
        holdAndPass(now: now, skipping: skipping, into: &out)
    }

    /// Evidence of where the token is: a higher epoch takes ours away.
    private mutating func observe(_ position: TokenPosition, now: Instant) {
        if position > seen {
            seen = position
            lastTokenMovement = now
        }
        highestCounter = max(highestCounter, position.epoch.counter)
        switch role {
        case .holding(let held, _) where held.epoch < seen.epoch: role = .idle
        case .handingOff(let held, _, _) where held.epoch < seen.epoch: role = .idle
        default: break
        }
    }

    // MARK: Claims

    private mutating func record(_ claim: RingMessage.Claim) {
        for request in claim.requests where completed[request] == nil {
            setClaim(request, to: claim.server)
            pendingSet.remove(request)
        }
    }

    private mutating func markCompleted(_ request: RequestID, by server: UInt64) {
        // A server that answered a request itself keeps answering its retries. Were it to note another answerer
        // instead, two servers that both answered it (a takeover raced the first answer, and both answers were
        // lost) would each send its retries to the other, and nobody would answer again: found by
        // `photocloud simulate --seed 84`.
        if completed[request] != id || server == id { completed[request] = server }
        setClaim(request, to: nil)
        pendingSet.remove(request)
    }

    private mutating func reopenClaimsOfDeadServers(now: Instant) {
        for server in claimsByServer.keys.sorted() where server != id && !membership.isAlive(server, now: now) {
            for request in (claimsByServer[server] ?? []).sorted() {
                setClaim(request, to: nil)
                addPending(request)
            }
        }
    }

    private mutating func setClaim(_ request: RequestID, to server: UInt64?) {
        if let previous = claims[request] {
            claimsByServer[previous]?.remove(request)
            if claimsByServer[previous]?.isEmpty == true { claimsByServer[previous] = nil }
        }
        claims[request] = server
        if let server { claimsByServer[server, default: []].insert(request) }
    }

    // MARK: Pending

    @discardableResult
    private mutating func addPending(_ request: RequestID) -> Bool {
        guard pendingSet.count < configuration.maxPending, pendingSet.insert(request).inserted else { return false }
        pending.append(request)
        if pending.count - pendingHead > 2 * pendingSet.count + 1_024 {
            pending = pending[pendingHead...].filter { pendingSet.contains($0) }
            pendingHead = 0
        }
        return true
    }

    /// Up to `limit` pending requests, oldest first, no longer pending.
    private mutating func takePending(_ limit: Int) -> [RequestID] {
        var batch: [RequestID] = []
        guard limit > 0 else { return batch }
        while pendingHead < pending.count, batch.count < limit {
            let request = pending[pendingHead]
            pendingHead += 1
            if pendingSet.remove(request) != nil { batch.append(request) }
        }
        // Drop the taken front now and then, not per batch (each drop copies the rest).
        if pendingHead > 1_024 || pendingHead == pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        return batch
    }

    // MARK: Time

    /// A server whose process or loop stalled (no event for two heartbeat
    /// intervals, though its timer asks to run at least every interval) must
    /// not read the silence of its own pause as the others' death, nor as a
    /// lost token: under load that reopened every request of a live server and
    /// served them twice.
    private mutating func noteTime(_ now: Instant) {
        let gap = now.since(lastEvent)
        // The interval in force when the silence began: the timer was set by it.
        let interval = heartbeatInterval(at: lastEvent)
        if gap > interval * 2 {
            membership.excusePause(from: lastEvent + interval, to: now)
            if lastEvent.since(lastTokenMovement) < configuration.tokenTimeout {
                lastTokenMovement = lastTokenMovement + (gap - interval)
            }
        }
        lastEvent = max(lastEvent, now)
    }

    private mutating func heartbeat(now: Instant, into out: inout [RingDirective]) {
        // The interval goes with it: the others allow five of them of silence (`Membership`), so a quiet ring's
        // slower heartbeats do not make a live server dead after fewer lost in a row.
        let interval = heartbeatInterval(at: now)
        let milliseconds = interval.components.seconds * 1_000 + interval.components.attoseconds / 1_000_000_000_000_000
        out.append(.broadcast(.heartbeat(.init(seen: seen, holding: isHolding, accepted: UInt64(acceptedCount),
                                               pending: UInt32(clamping: pendingCount),
                                               intervalMilliseconds: UInt16(clamping: max(1, min(1_000, milliseconds)))))))
        nextHeartbeat = now + interval
    }

    private func isQuiet(at now: Instant) -> Bool { now.since(lastRequest) >= configuration.quietAfter }

    /// Heartbeats come less often in a quiet ring (`quietHeartbeatInterval`);
    /// a death is seen after `suspectAfter` either way.
    private func heartbeatInterval(at now: Instant) -> Duration {
        isQuiet(at: now) ? configuration.quietHeartbeatInterval : configuration.heartbeatInterval
    }

    /// Heartbeats in step with the lowest live server's (the pacer's): on
    /// hearing the pacer, this server sends its own at once if half an
    /// interval has passed since its last, and sets its timer a quarter of an
    /// interval past the pacer's next. A follower's sends then share the
    /// wake-up of the pacer's heartbeat instead of taking one of their own (an
    /// idle server's cost is its wake-ups); should the pacer fall silent, the
    /// timer sends them at most 1.25 intervals apart.
    private mutating func followPacer(_ sender: UInt64, now: Instant, into out: inout [RingDirective]) {
        let interval = heartbeatInterval(at: now)
        guard sender < id, membership.lowestAlive(now: now) == sender, nextHeartbeat <= now + interval / 2 else { return }
        heartbeat(now: now, into: &out)
        nextHeartbeat = now + interval + interval / 4
    }

    /// How long a holder with nothing to claim keeps the token.
    private func hold(now: Instant) -> Duration {
        isQuiet(at: now) ? configuration.quietHold : configuration.idleHold
    }

    private func nextDeadline(now: Instant) -> Instant {
        var deadline = nextHeartbeat
        switch role {
        case .holding(_, let since): deadline = min(deadline, since + hold(now: now))
        case .handingOff(_, _, let sentAt): deadline = min(deadline, sentAt + configuration.handoffRetry)
        case .idle:
            // Once the token is overdue only the lowest alive server acts; the
            // others re-check at their heartbeats (a past deadline would spin).
            let overdue = lastTokenMovement + configuration.tokenTimeout
            if overdue > now || membership.lowestAlive(now: now) == id { deadline = min(deadline, overdue) }
        }
        if !claims.isEmpty, let expiry = membership.nextExpiry(now: now) { deadline = min(deadline, expiry) }
        return max(deadline, now)
    }
}
