import AsyncUDP
import Crypto
import Foundation
import Logging
import PNGCodec
import PhotoCloudProtocol

/// One server of the cloud: the thin shell around the `TokenRing` and
/// `EncryptionJobs` state machines. It reads the control socket, feeds ring
/// messages (cluster scheme only, from servers of the cluster file) and client
/// messages (open scheme) to the machines, carries out their directives, fires
/// the timer, and persists each new epoch in the data folder before the token
/// moves. Payloads and answers travel on the data endpoint (a
/// `TransferEndpoint`, by default on the same event loop: a loop of its own
/// cost four thread hops per request); embedding runs on worker threads, one
/// per core (ServerActor+Encryption.swift).
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
    private let config: ClusterConfig
    private let keys: WireKeys
    private let dataDirectory: String
    let logger: Logger
    private let clock = ProtocolClock()
    private var ring: TokenRing
    private var deadline: Instant?
    private var controlAddresses: [UInt64: SocketAddress] = [:]
    private var nextMessageID: UInt64 = 0
    private var receiveBuffer = [UInt8](repeating: 0, count: UDPSocket.maxDatagramSize)
    var tasks: [Task<Void, Never>] = []
    private var failure: NodeError?

    // The encryption service (ServerActor+Encryption.swift).
    let covers: CoverSource
    var jobs: EncryptionJobs<SocketAddress>
    let maxEmbeddings = max(1, EventLoop.availableCPUs)
    /// Embedding and encoding run here, off the event loops.
    let workers: WorkerPool
    /// Requests finished since the last tick, told to the ring in one message.
    var finishedRequests: [RequestID] = []
    private var nextJobsTimer = Instant.zero

    /// Who is online (ServerActor+Directory.swift).
    var directory = Directory()

    /// Fault injection (`--faults offline-token`): the offline token, and the
    /// end of the current outage while this server holds it.
    private var offline: OfflineToken?
    private var offlineUntil: Instant?

    public static let epochFileName = "epoch"

    public init(id: Int, config: ClusterConfig, dataDirectory: String, loop: EventLoop, dataLoop: EventLoop? = nil,
                covers: CoverSource, offlineToken: Bool = false, logger: Logger = Logger(label: "photocloud.server")) throws {
        guard let me = config.server(id: id) else {
            throw NodeError(.clusterFile, "server \(id) is not in \(config.source) (it lists \(config.servers.map(\.id).map(String.init).joined(separator: ", ")))")
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let persisted = try Self.loadEpoch(from: dataDirectory)
        self.id = UInt64(id)
        self.loop = loop
        self.config = config
        self.dataDirectory = dataDirectory
        self.logger = logger
        keys = WireKeys(clusterSecret: config.secret)
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
        data = TransferEndpoint(socket: dataSocket, loop: dataLoop, nodeID: UInt64(id),
                                receiver: .init(maxBytes: EncryptionJobs<SocketAddress>.Configuration().maxPayloadBytes + 64))
        for server in config.servers where server.id != id { controlAddresses[UInt64(server.id)] = server.control }
        ring = TokenRing(id: UInt64(id), members: config.servers.map { UInt64($0.id) }, persisted: persisted, now: .zero)
        self.covers = covers
        jobs = EncryptionJobs(server: UInt64(id))
        workers = WorkerPool(name: "photocloud-embed-\(id)", threads: maxEmbeddings)
        if offlineToken { offline = OfflineToken(id: UInt64(id), members: config.servers.map { UInt64($0.id) }, now: .zero) }
    }

    /// Serves until `stop()`; throws if the server cannot go on (its epoch could not be persisted).
    public func run() async throws {
        let start = ring.start(now: now())
        try apply(start)
        let socket = control
        tasks.append(Task(executorPreference: loop) { [weak self] in
            await socket.drainWhenReadable { await self?.drain() ?? false }
        })
        startDataEndpoint()
        askForDirectory()
        tasks.append(Task(executorPreference: loop) { [weak self] in
            // Once more a moment later: at a cold start of the whole cloud the others were not up yet.
            try? await Task.sleep(for: .seconds(1))
            await self?.askForDirectory()
        })
        // One timer: the ring asks for deadlines in milliseconds, a 1 ms tick is enough.
        while !Task.isCancelled, failure == nil, !control.isClosed {
            try? await Task.sleep(for: .milliseconds(1))
            fireTimerIfDue()
        }
        if let failure { throw failure }
    }

    public func stop() {
        for task in tasks { task.cancel() }
        control.close()
        Task { await data.close() }
    }

    public func status() -> ClusterStatus { ring.status(now: now()) }

    var otherServers: [SocketAddress] { Array(controlAddresses.values) }

    // MARK: Events

    private func drain() -> Bool {
        var handled = 0
        return control.receiveEach(into: &receiveBuffer) { bytes, address in
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
            logger.debug("dropped a datagram from \(address): \(error)")
            return
        }
        do {
            switch frame.type {
            case .ringHeartbeat, .ringToken, .ringTokenAck, .ringClaimed, .ringCompleted:
                // Only servers of this cluster (who hold its secret) take part in the ring.
                guard frame.auth == .cluster, controlAddresses[frame.sender] != nil else { return }
                let message = try RingMessage.decode(type: frame.type, body: frame.payload)
                try apply(ring.on(message, from: frame.sender, now: now()))
            case .offlineToken, .offlineTokenAck:
                guard frame.auth == .cluster, controlAddresses[frame.sender] != nil else { return }
                let message = try OfflineToken.Message.decode(type: frame.type, body: frame.payload)
                if offline != nil { applyOffline(offline!.on(message, from: frame.sender, now: now())) }
            case .directoryRegister, .directoryRegistered, .whoRequest, .whoReply, .directorySyncRequest, .directorySync:
                let fromServer = frame.auth == .cluster && controlAddresses[frame.sender] == address
                let message = try DirectoryMessage.decode(type: frame.type, body: frame.payload)
                handleDirectory(message, from: address, fromServer: fromServer)
            case .encryptRequest:
                guard case .request(let request) = try EncryptionMessage.decode(type: frame.type, body: frame.payload) else { return }
                if let refusal = jobs.onRequest(request, from: address, data: address.with(port: request.dataPort)) {
                    applyJobs([refusal])
                } else if request.direct {
                    applyJobs(jobs.onAccepted(request.id, now: now()))
                } else {
                    try apply(ring.onRequest(request.id, now: now()))
                }
            case .statusRequest:
                send(.statusReply, ring.status(now: now()).encoded(), auth: .open, to: address)
            case .ping:
                send(.pong, Array(frame.payload), auth: .open, to: address)
            default:
                return
            }
        } catch let error as WireError {
            logger.debug("refused a \(frame.type) from \(address): \(error)")
        } catch {
            fail(error)
        }
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
                try apply(ring.onCompleted(finished, now: at))
            }
            if at >= nextJobsTimer {
                nextJobsTimer = at + .seconds(1)
                applyJobs(jobs.onTimer(now: at))
            }
            guard let due = deadline, due <= at else { return }
            deadline = nil
            try apply(ring.onTimer(now: at))
        } catch {
            fail(error)
        }
    }

    // MARK: Offline token

    private func applyOffline(_ directives: [OfflineToken.Directive]) {
        for directive in directives {
            switch directive {
            case .send(let to, let message):
                if let address = controlAddresses[to] { send(message.type, message.encoded(), auth: .cluster, to: address) }
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
        ring = TokenRing(id: id, members: ring.membership.members, persisted: ring.seen.epoch, configuration: ring.configuration, now: at)
        do { try apply(ring.start(now: at)) } catch { fail(error) }
        if offline != nil { applyOffline(offline!.onWake(now: at)) }
    }

    // MARK: Directives

    private func apply(_ directives: [RingDirective]) throws {
        for directive in directives {
            switch directive {
            case .send(let to, let message):
                if let address = controlAddresses[to] { send(message.type, message.encoded(), auth: .cluster, to: address) }
            case .broadcast(let message):
                let body = message.encoded()
                for address in controlAddresses.values { send(message.type, body, auth: .cluster, to: address) }
            case .persist(let epoch):
                try persist(epoch)
            case .armTimer(let at):
                deadline = at
            case .accept(let request):
                applyJobs(jobs.onAccepted(request, now: now()))
            case .claimedElsewhere(let request, let owner):
                applyJobs(jobs.onClaimedElsewhere(request, by: owner))
            }
        }
    }

    func send(_ type: MessageType, _ body: [UInt8], auth: AuthScheme, to address: SocketAddress) {
        nextMessageID &+= 1
        guard let bytes = try? Wire.encode(Envelope(type: type, sender: id, messageID: nextMessageID, auth: auth, payload: body), keys: keys)
        else { return }
        _ = try? control.trySend(bytes, to: address)
    }

    private func fail(_ error: any Error) {
        failure = (error as? NodeError) ?? NodeError(.io, "server \(id) stopped: \(error)")
        stop()
    }

    // MARK: Epoch file

    private func persist(_ epoch: Epoch) throws {
        let text = "\(epoch.counter) \(epoch.generator)\n"
        do {
            try FileBytes.writeAtomically(Array(text.utf8), to: (dataDirectory as NSString).appendingPathComponent(Self.epochFileName))
        } catch {
            throw NodeError(.io, "cannot record the token epoch in \(dataDirectory): \(error.message); the server stops rather than risk reusing it")
        }
        logger.info("server \(id) generated the work token, epoch \(epoch)")
    }

    static func loadEpoch(from directory: String) throws -> Epoch? {
        let path = (directory as NSString).appendingPathComponent(epochFileName)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path, limit: 256) } catch {
            throw NodeError(.io, "cannot read \(path): \(error.message)")
        }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let counter = UInt64(fields[0]), let generator = UInt64(fields[1]) else {
            throw NodeError(.io, "\(path) is damaged (expected two numbers); remove it only if no other server of this cluster used this folder")
        }
        return Epoch(counter: counter, generator: generator)
    }

    func now() -> Instant { clock.now() }
}
