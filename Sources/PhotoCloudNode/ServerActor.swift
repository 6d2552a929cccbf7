import AsyncUDP
import Crypto
import Foundation
import Logging
import PNGCodec
import PhotoCloudProtocol
import PhotoCloudStore

/// One server of the cloud: the thin shell around the `TokenRing`,
/// `EncryptionJobs` and `Directory` state machines. It reads the control
/// socket, feeds ring messages (cluster scheme, fresh, from the address the
/// cluster file gives their sender) and client messages (open scheme, within
/// each source's rate) to the machines, carries out their directives, fires
/// the timer, and persists each new epoch in the data folder before the token
/// moves. Payloads and answers travel on the data endpoint (a
/// `TransferEndpoint`, by default on the same event loop: a loop of its own
/// cost four thread hops per request); embedding runs on worker threads, one
/// per core (ServerActor+Encryption.swift). Answers to clients are signed and
/// never more than three times what an unvalidated address sent
/// (ServerActor+Clients.swift).
///
/// Runs on an event loop thread of its own, so CPU work elsewhere in the
/// process cannot delay heartbeats; while it drains a burst of datagrams it
/// still fires its timers.
public actor ServerActor {
    public nonisolated let id: UInt64
    public nonisolated let loop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    public nonisolated let control: UDPSocket
    public nonisolated let data: TransferEndpoint
    let config: ClusterConfig
    let keys: WireKeys
    private let dataDirectory: String
    let logger: Logger
    /// The server's clock, shared by its actors (one origin for every instant they compare).
    private let clock: ProtocolClock
    /// The work token (TokenRingActor.swift), on this server's loop.
    let rings: TokenRingActor
    private var deadline: Instant?
    /// When the loop timer fires next (nil: none set), the timer, and when it last fired.
    private var wakeAt: Instant?
    private var timer: EventLoop.Timer?
    private var lastFired = Instant.zero
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    private var controlAddresses: [UInt64: SocketAddress] = [:]
    /// This incarnation's stamp on every datagram, and the others' freshness.
    var origin: WireOrigin
    private var replay: ReplayGuard
    private var receiveBuffer = [UInt8](repeating: 0, count: UDPSocket.maxDatagramSize)
    var tasks: [Task<Void, Never>] = []
    private var failure: NodeError?

    // Strangers (ServerActor+Clients.swift).
    var limiter: RateLimiter<SocketAddress>
    let cookies: AddressCookies
    /// What the defences turned away, for the log and the tests.
    public internal(set) var defences = Defences()

    // The encryption service (ServerActor+Encryption.swift).
    let covers: CoverSource
    var jobs: EncryptionJobs<SocketAddress>
    let maxEmbeddings = max(1, EventLoop.availableCPUs)
    /// `direct` requests skip the token only when the operator allows it (a benchmark's baseline).
    let allowDirect: Bool
    /// Embedding and encoding run here, off the event loops.
    let workers: WorkerPool
    /// Requests finished since the timer last fired, told to the ring in one message.
    private var finishedRequests: [RequestID] = []
    /// When `finishedRequests` is told to the ring (a fixed moment, see `rearmWake`).
    private var finishedDue: Instant?
    /// Answers sent in one datagram, resent until the client says they arrived.
    var inlineAnswers = InlineAnswers<SocketAddress>()
    private var nextJobsTimer = Instant.zero

    /// Who is online (DirectoryActor.swift, on this server's loop), and where its bindings are kept.
    let directories: DirectoryActor
    let store: ServerStore

    /// Items held for offline users (MailboxActor.swift, on this server's loop).
    let mailboxes: MailboxActor

    /// Fault injection (`--faults offline-token`): the offline token, and the
    /// end of the current outage while this server holds it.
    private var offline: OfflineToken?
    private var offlineUntil: Instant?

    /// The cloud's agreement key, and the session keys of the clients that
    /// asked lately, by the client key their requests carried.
    let agreement: Curve25519.KeyAgreement.PrivateKey?
    var sessions = BoundedMap<[UInt8], WireKeys>(capacity: 8_192)

    /// What the defences against strangers refused since the start.
    public struct Defences: Sendable, Equatable {
        public var undecodable = 0
        public var replays = 0
        public var foreign = 0
        public var rateLimited = 0
        public var amplificationRefused = 0
    }

    public init(id: Int, config: ClusterConfig, dataDirectory: String, loop: EventLoop, dataLoop: EventLoop? = nil,
                covers: CoverSource, offlineToken: Bool = false, allowDirect: Bool = false,
                limits: RateLimiter<SocketAddress>.Limits = .init(), logger: Logger = Logger(label: "photocloud.server")) throws {
        guard let me = config.server(id: id) else {
            throw NodeError(.clusterFile, "server \(id) is not in \(config.source) (it lists \(config.servers.map(\.id).map(String.init).joined(separator: ", ")))")
        }
        guard config.secret != nil else {
            throw NodeError(.clusterFile, "\(config.source) has no [cluster] secret: a server needs the cluster file with the secret (a public one is for users)")
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let persisted = try ServerState.loadEpoch(from: dataDirectory)
        let boot = try ServerState.nextBoot(in: dataDirectory)
        do { store = try ServerStore(folder: dataDirectory) } catch {
            throw NodeError(.io, "server \(id): \(error.message)")
        }
        self.id = UInt64(id)
        self.loop = loop
        self.config = config
        self.dataDirectory = dataDirectory
        self.logger = logger
        self.allowDirect = allowDirect
        keys = config.wireKeys(asServer: id)
        agreement = config.agreementKey
        origin = WireOrigin(sender: UInt64(id), boot: boot)
        let others = config.servers.map { UInt64($0.id) }.filter { $0 != UInt64(id) }
        replay = ReplayGuard(ownBoot: boot, members: Set(others))
        limiter = RateLimiter(limits: limits)
        do {
            control = try UDPSocket(bind: me.control, options: .init(receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20), loop: loop)
        } catch {
            throw NodeError(.network, "server \(id) cannot listen on \(me.control): \(error) (is another server \(id) running?)")
        }
        let dataSocket: UDPSocket
        let dataLoop = dataLoop ?? loop
        do {
            dataSocket = try UDPSocket(bind: me.data, options: .init(receiveBufferSize: 8 << 20, sendBufferSize: 8 << 20), loop: dataLoop)
        } catch {
            control.close()
            throw NodeError(.network, "server \(id) cannot listen on \(me.data): \(error) (is another server \(id) running?)")
        }
        // A server takes only the payloads of requests it accepted.
        data = TransferEndpoint(socket: dataSocket, loop: dataLoop, nodeID: UInt64(id), admission: .announcedOnly(inFlightTotal: 1 << 30))
        for server in config.servers where server.id != id { controlAddresses[UInt64(server.id)] = server.control }
        rings = TokenRingActor(ring: TokenRing(id: UInt64(id), members: config.servers.map { UInt64($0.id) }, persisted: persisted, now: .zero),
                               dataDirectory: dataDirectory, loop: loop, logger: logger)
        self.covers = covers
        jobs = EncryptionJobs(server: UInt64(id))
        workers = WorkerPool(name: "photocloud-embed-\(id)", threads: maxEmbeddings)
        if offlineToken { offline = OfflineToken(id: UInt64(id), members: config.servers.map { UInt64($0.id) }, now: .zero) }
        let clock = ProtocolClock()
        self.clock = clock
        directories = DirectoryActor(id: UInt64(id), store: store, clock: clock, loop: loop, logger: logger)
        let cookieKey = (0..<32).map { _ in UInt8.random(in: 0...255) }
        cookies = AddressCookies(key: cookieKey)
        mailboxes = MailboxActor(id: UInt64(id), config: config, store: store, data: data, cookies: AddressCookies(key: cookieKey),
                                 directories: directories, clock: clock, loop: loop, logger: logger)
    }

    /// Serves until `stop()`; throws if the server cannot go on (its epoch could not be persisted).
    public func run() async throws {
        let at = now()
        try apply(ring { $0.start(now: at) })
        let socket = control
        tasks.append(Task(executorPreference: loop) { [weak self] in
            await socket.drainWhenReadable { await self?.drain() ?? .stopped }
        })
        await directories.attach(self)
        await mailboxes.attach(self)
        startDataEndpoint()
        mailbox { $0.restoreMailbox() }
        directory { $0.askForDirectory() }
        tasks.append(Task(executorPreference: loop) { [weak self] in
            // Once more a moment later: at a cold start of the whole cloud the others were not up yet.
            try? await Task.sleep(for: .seconds(1))
            await self?.directory { $0.askForDirectory() }
        })
        // No fixed tick: the timer sleeps until the earliest deadline a machine asked for (heartbeats every
        // 30 ms while the ring runs), and is brought forward when an event asks for an earlier one.
        scheduleWake(now())
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                if control.isClosed { waiter.resume() } else { stopWaiters.append(waiter) }
            }
        } onCancel: {
            Task { await self.stop() }
        }
        if let failure { throw failure }
    }

    public func stop() {
        control.close()
        for waiter in stopWaiters { waiter.resume() }
        stopWaiters = []
        if let timer { loop.cancel(timer) }
        for task in tasks { task.cancel() }
        Task { await data.close() }
    }

    /// This server's view of the cloud, and what its mailbox holds.
    public func status() -> ClusterStatus {
        let at = now()
        var status = rings.assumeIsolated { $0.status(now: at) }
        let held = mailbox { $0.mailHeld }
        status.mailItems = UInt32(clamping: held.items)
        status.mailBytes = held.bytes
        return status
    }

    /// Requests this server served from a payload that came inline with the request.
    public var servedInline: Int { jobs.servedInline }

    /// Answers this server sent in one datagram, those the client said had arrived, and resends.
    public var inlineAnswerCounts: (sent: Int, acknowledged: Int, resent: Int) {
        (inlineAnswers.sent, inlineAnswers.acknowledged, inlineAnswers.resent)
    }

    var otherServers: [(id: UInt64, address: SocketAddress)] { controlAddresses.map { ($0.key, $0.value) } }

    // MARK: Events

    private func drain() -> UDPSocket.Drained {
        var handled = 0
        // No time budget: the drain fires this server's own timers itself, and rate limits bound what a
        // stranger costs; yielding in the middle of a burst only delayed requests already read.
        return control.receiveEach(into: &receiveBuffer, budget: .seconds(3_600)) { bytes, address in
            // A burst of client requests must not hold back this server's own
            // heartbeats and token timers: a late heartbeat looks like a death.
            handled += 1
            if handled % 64 == 0 { fireTimerIfDue() }
            // Offline (the offline token's outage): everything is lost, as on a dead link.
            if offlineUntil == nil { handle(bytes, from: address) }
            return failure == nil
        }
    }

    private func handle(_ bytes: ArraySlice<UInt8>, from address: SocketAddress) {
        let frame: Frame
        do { frame = try Wire.decodeFrame(bytes, keys: keys) } catch {
            defences.undecodable += 1
            logger.trace("dropped a datagram from \(address): \(error)")
            return
        }
        do {
            switch frame.auth {
            case .cluster:
                guard isFresh(frame, from: address) else { return }
                try handleCluster(frame)
            case .open:
                handleClient(frame, bytes: bytes.count, from: address)
            case .signed, .session:
                return   // servers answer clients; nothing signed is addressed to a server
            }
        } catch let error as WireError {
            logger.debug("refused a \(frame.type) from \(address): \(error)")
        } catch {
            fail(error)
        }
    }

    /// A datagram of the cluster: from the address the cluster file gives its
    /// sender, made for this incarnation, and not seen before.
    private func isFresh(_ frame: Frame, from address: SocketAddress) -> Bool {
        guard controlAddresses[frame.sender] == address else {
            defences.foreign += 1
            return false
        }
        switch replay.check(sender: frame.sender, boot: frame.boot, counter: frame.counter, echo: frame.echo) {
        case .fresh:
            return true
        case .wrongEcho:
            // Sent before the sender heard this incarnation (or recorded before it): learnt from, not acted on.
            return false
        case .replay, .staleBoot, .unknownSender:
            defences.replays += 1
            return false
        }
    }

    private func handleCluster(_ frame: Frame) throws {
        switch frame.type {
        case .ringHeartbeat, .ringToken, .ringTokenAck, .ringClaimed, .ringCompleted:
            let message = try RingMessage.decode(type: frame.type, body: frame.payload)
            let at = now(), sender = frame.sender
            try apply(ring { $0.on(message, from: sender, now: at) })
        case .offlineToken, .offlineTokenAck:
            let message = try OfflineToken.Message.decode(type: frame.type, body: frame.payload)
            if offline != nil { applyOffline(offline!.on(message, from: frame.sender, now: now())) }
        case .directorySyncRequest, .directorySync:
            let message = try DirectoryMessage.decode(type: frame.type, body: frame.payload), sender = frame.sender
            directory { $0.handleDirectorySync(message, from: sender) }
        case .mailSyncRequest, .mailSyncList, .mailSyncFetch, .mailSyncItems, .mailSyncObject:
            let message = try MailMessage.decode(type: frame.type, body: frame.payload), sender = frame.sender
            mailbox { $0.handleMailSync(message, from: sender) }
        default:
            return
        }
    }

    /// The timer wakes at `at` at the latest (sooner if already asked to):
    /// a timer of the loop itself, no task and no other thread.
    func scheduleWake(_ wanted: Instant) {
        guard !control.isClosed else { return }   // stopped
        // At most one firing a millisecond (the old tick's pace): a machine that asks for "now" again
        // and again (a deadline already past) must not make the loop spin.
        let at = max(wanted, lastFired + .milliseconds(1))
        if let current = wakeAt, current <= at { return }
        setWake(at)
    }

    /// The timer set to the earliest deadline there is now, later than it was
    /// set for if that deadline moved on (the ring's next heartbeat, brought in
    /// step with the pacer's): a timer that fires for nothing is a wake-up an
    /// idle server pays for. Every deadline `nextDeadline` sees must then be a
    /// fixed moment: one reckoned from now would move on with every re-arm and,
    /// under load, with the token re-arming at each hop, never come. (The
    /// offline token's checks, fault injection only, tick every millisecond.)
    private func rearmWake() {
        guard !control.isClosed, offline == nil else { return }
        let at = max(nextDeadline(), lastFired + .milliseconds(1))
        if wakeAt != at { setWake(at) }
    }

    private func setWake(_ at: Instant) {
        wakeAt = at
        if let timer { loop.cancel(timer) }
        timer = loop.schedule(at: clock.real(at)) { [weak self] in
            self?.assumeIsolated { $0.timerFired() }
        }
    }

    private func timerFired() {
        wakeAt = nil
        lastFired = now()
        fireTimerIfDue()
        scheduleWake(nextDeadline())
    }

    /// The earliest moment something is due: the ring's timer, the jobs' and
    /// the mailbox's, finished requests to tell the ring (batched a
    /// millisecond), the offline token's checks (fault injection only).
    private func nextDeadline() -> Instant {
        let at = now()
        if let until = offlineUntil { return until }
        var next = min(nextJobsTimer, mailbox { $0.nextMailDeadline })
        if let due = deadline { next = min(next, due) }
        if let resend = inlineAnswers.nextDeadline { next = min(next, resend) }
        if let due = finishedDue { next = min(next, due) }
        if offline != nil { next = min(next, at + .milliseconds(1)) }
        return max(next, at)
    }

    /// Requests whose work ended, told to the ring together within a millisecond.
    func finished(_ request: RequestID) {
        if finishedRequests.isEmpty {
            let due = now() + .milliseconds(1)
            finishedDue = due
            scheduleWake(due)
        }
        finishedRequests.append(request)
    }

    private func fireTimerIfDue() {
        let at = now()
        if let until = offlineUntil {
            guard at >= until else { return }
            wake(now: at)
        }
        if offline != nil { applyOffline(offline!.onTimer(now: at)) }
        if offlineUntil != nil { return }
        do {
            if !finishedRequests.isEmpty {
                let finished = finishedRequests
                finishedRequests = []
                finishedDue = nil
                try apply(ring { $0.onCompleted(finished, now: at) })
            }
            if at >= nextJobsTimer {
                nextJobsTimer = at + .seconds(1)
                applyJobs(jobs.onTimer(now: at))
            }
            mailbox { $0.mailTimer(now: at) }
            applyInline(inlineAnswers.onTimer(now: at))
            guard let due = deadline, due <= at else { return }
            deadline = nil
            try apply(ring { $0.onTimer(now: at) })
        } catch {
            fail(error)
        }
    }

    // MARK: Offline token

    private func applyOffline(_ directives: [OfflineToken.Directive]) {
        for directive in directives {
            switch directive {
            case .send(let to, let message):
                sendToServer(to, message.type, message.encoded())
            case .sleep(let until):
                logger.notice("server \(id) holds the offline token: offline for \(until.since(now()))")
                offlineUntil = until
            }
        }
    }

    /// Back from an outage: the ring starts over as after a restart (what it
    /// knew is stale), and the offline token goes on.
    private func wake(now at: Instant) {
        offlineUntil = nil
        do { try apply(rings.assumeIsolated { try $0.restart(now: at) }) } catch { fail(error) }
        if offline != nil { applyOffline(offline!.onWake(now: at)) }
    }

    // MARK: Directives

    /// Something for the mailbox (on this loop: no hop).
    @discardableResult
    func mailbox<T: Sendable>(_ work: @Sendable (isolated MailboxActor) -> T) -> T { mailboxes.assumeIsolated(work) }

    /// Something for the directory (on this loop: no hop).
    @discardableResult
    func directory<T: Sendable>(_ work: @Sendable (isolated DirectoryActor) -> T) -> T { directories.assumeIsolated(work) }

    /// One event for the work token (on this loop: no hop); its directives, a new epoch already written.
    func ring(_ event: @Sendable (inout TokenRing) -> [RingDirective]) throws -> [RingDirective] {
        try rings.assumeIsolated { try $0.step(event) }
    }

    func apply(_ directives: [RingDirective]) throws {
        for directive in directives {
            switch directive {
            case .send(let to, let message):
                sendToServer(to, message.type, message.encoded())
            case .broadcast(let message):
                let body = message.encoded()
                for server in controlAddresses.keys { sendToServer(server, message.type, body) }
            case .persist:
                break   // written by the TokenRingActor before it returned
            case .armTimer(let at):
                let later = deadline.map { at > $0 } ?? false
                deadline = at
                if later, let current = wakeAt, current < at { rearmWake() } else { scheduleWake(at) }
            case .accept(let request):
                applyJobs(jobs.onAccepted(request, now: now()))
            case .claimedElsewhere(let request, let owner):
                applyJobs(jobs.onClaimedElsewhere(request, by: owner))
            }
        }
    }

    /// A cluster datagram to server `to`, naming its incarnation as this one heard it.
    func sendToServer(_ to: UInt64, _ type: MessageType, _ body: [UInt8]) {
        guard let address = controlAddresses[to] else { return }
        sendFramed(origin.next(type, echo: replay.echo(for: to)), body, auth: .cluster, to: address)
    }

    func sendFramed(_ header: Wire.Header, _ body: [UInt8], auth: AuthScheme, to address: SocketAddress) {
        var bytes: [UInt8] = []
        do {
            try Wire.encode(into: &bytes, header: header, auth: auth, keys: keys, writePayload: { $0.append(contentsOf: body) })
        } catch {
            logger.debug("cannot frame a \(header.type): \(error)")
            return
        }
        _ = try? control.trySend(bytes, to: address)
    }

    private func fail(_ error: any Error) {
        failure = (error as? NodeError) ?? NodeError(.io, "server \(id) stopped: \(error)")
        stop()
    }

    func now() -> Instant { clock.now() }
}
