import AsyncUDP
import Crypto
import Foundation
import Logging
import PhotoCloudProtocol
import PhotoCloudStore

/// A user's daemon (`photocloud peer`): registers the user with every server
/// and re-registers every second (the directory's heartbeat) with a fresh
/// signed record that publishes its peer-to-peer endpoints; talks to other
/// peers (signed `PeerEnvelope`s on its control endpoint, sealed objects as
/// transfers on its data endpoint); asks the cloud to hide photos; keeps the
/// user's album, inbox and rights in a `PeerStore`.
///
/// The actor is the shell: the conversation is a `PeerLink`, access rights
/// are `ViewRights` and `Grant`s, sealing is `PeerSeal`, all pure. CPU-heavy
/// work (sealing, embedding's check, extraction) runs off the loop.
public actor PeerActor {
    public nonisolated let identity: PeerIdentity
    public nonisolated let endpoints: PeerEndpoints
    public nonisolated let loop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    public nonisolated let store: PeerStore
    public nonisolated let config: ClusterConfig
    /// Registration and heartbeats, to the servers.
    private let serverSocket: UDPSocket
    /// Signed peer messages.
    let peerControl: UDPSocket
    /// Sealed objects from and to other peers.
    let transfers: TransferEndpoint
    /// The cloud's encryption service (hides sealed photos).
    let cloud: EncryptionClient
    let keys: WireKeys
    private var origin = WireOrigin(sender: 0)
    var peerOrigin = WireOrigin(sender: 0)
    private var sequence: UInt64 = 0
    /// The digests of the records sent lately: only an answer to one of them counts.
    private var recentRecords: [[UInt8]] = []
    private var acknowledged: Set<Int> = []
    /// Each server's cookie for this daemon's data endpoint (mail objects come only to an endpoint that has one).
    var dataCookies: [Int: [UInt8]] = [:]
    private nonisolated let dataChecks: AsyncStream<([UInt8], SocketAddress)>
    /// A server has taken this daemon's record (it knows where to send).
    var isRegistered: Bool { !acknowledged.isEmpty }
    private var deferredBy: Set<Int> = []
    let clock = ProtocolClock()
    var link: PeerLink<SocketAddress>
    var waiting: [UInt64: CheckedContinuation<PeerEnvelope, any Error>] = [:]
    var objectWaiters: [UInt64: CheckedContinuation<[UInt8], any Error>] = [:]
    /// Objects announced and not yet taken; those that came before anyone waited for them.
    var expectedObjects: Set<UInt64> = []
    var earlyObjects: [UInt64: [UInt8]] = [:]
    var offers = PeerActor.makeOffers()
    /// Other users' records as the servers gave them lately (keys checked against the pins).
    var contacts: [String: (found: UserLookup.Found, at: ContinuousClock.Instant)] = [:]
    /// Envelopes being checked and handled now (bounded: a flood waits in the socket, then drops).
    var handling = 0
    var limiter = RateLimiter<SocketAddress>(limits: .init(perSource: .init(rate: 2_000, burst: 400), total: .init(rate: 10_000, burst: 2_000)))
    /// Per user: calls that make this peer work (a lookup of a stranger's keys, a preview listing to send).
    var perUser = RateLimiter<String>(limits: .init(perSource: .init(rate: 2, burst: 20), total: .init(rate: 50, burst: 100), maxSources: 4_096))
    /// Lookups of the keys of users who call for the first time: each costs the cloud a query.
    var firstContacts = RateLimiter<String>(limits: .init(perSource: .init(rate: 1, burst: 5), total: .init(rate: 10, burst: 30), maxSources: 4_096))
    /// Names no server knew lately: a flood of made-up senders costs one lookup each at most every 10 s.
    var unknownUsers: [String: ContinuousClock.Instant] = [:]
    /// Lookups sent to the servers (for the tests and the curious).
    public internal(set) var lookups = 0
    /// Users a preview listing is on its way to.
    var listing: Set<String> = []
    var receiveBuffer = [UInt8](repeating: 0, count: UDPSocket.maxDatagramSize)
    private var tasks: [Task<Void, Never>] = []
    let logger = Logger(label: "photocloud.peer")
    public static let heartbeat = Duration.seconds(1)

    /// `host` is the address others reach this machine at; `home` the user's
    /// folder of keys and state (its store is `home/USER/peer.sqlite`).
    public init(identity: PeerIdentity, config: ClusterConfig, home: String, host: String = "127.0.0.1", loop: EventLoop = .shared) throws {
        guard Directory.Record.isValidName(identity.user) else {
            throw NodeError(.io, "\"\(identity.user)\" is not a valid user name (1-32 of a-z 0-9 - _ .)")
        }
        self.identity = identity
        self.config = config
        self.loop = loop
        keys = config.wireKeys()
        link = PeerLink(me: identity.user)
        store = try PeerStore(folder: (home as NSString).appendingPathComponent(identity.user))
        let any = config.anyLocalAddress
        serverSocket = try UDPSocket(bind: any, loop: loop)
        peerControl = try UDPSocket(bind: any, loop: loop)
        let options = UDPSocket.Options(receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20)
        let dataSocket = try UDPSocket(bind: any, options: options, loop: loop)
        // Only objects this peer asked for (announced one by one) are taken; the servers' cookies for the endpoint come here too.
        // A server's check for a mail object comes signed.
        let (checks, hook) = TransferEndpoint.addressCheckStream(size: Wire.headerSize + AddressCheck.size + Wire.signatureSize,
                                                                 from: Set(config.servers.map(\.control)), buffer: 16)
        dataChecks = checks
        transfers = TransferEndpoint(socket: dataSocket, loop: loop, admission: .announcedOnly(inFlightTotal: Self.maxStegoBytes + (64 << 20)),
                                     addressChecks: hook)
        cloud = try EncryptionClient(config: config, loop: loop, attempt: .init(giveUpAfter: .seconds(60)))
        let advertised = try SocketAddress(host: host, port: peerControl.localAddress.port)
        endpoints = PeerEndpoints(control: advertised, data: advertised.with(port: dataSocket.localAddress.port))
    }

    /// Registers and serves until cancelled; `registered` hears each server's
    /// first acknowledgement, `notice` a server's refusal to take the record
    /// for now. Throws if a server refuses the name for good (another key
    /// holds it). Only answers signed by the server, to a record it sent
    /// lately (named by its digest), count.
    public func run(registered: @Sendable (Int) -> Void = { _ in }, notice: @Sendable (String) -> Void = { _ in }) async throws {
        await startServing()
        var nextBeat = ContinuousClock.now
        while !Task.isCancelled {
            if ContinuousClock.now >= nextBeat {
                try sendRecord(leaving: false)
                nextBeat = ContinuousClock.now + Self.heartbeat
            }
            // At most a batch a turn: a flood of datagrams must not hold back the heartbeat.
            var read = 0
            while read < 256, let received = try serverSocket.receiveNow() {
                read += 1
                // What the datagram says first (cheap); its signature (tens of microseconds) only if it answers us.
                guard let server = config.servers.first(where: { $0.control == received.address }),
                      let frame = try? Wire.decodeFrame(received.bytes[...], keys: keys, checkingSignature: false),
                      frame.auth == .signed, frame.sender == UInt64(server.id),
                      case .registered(let name, _, let digest, let refusal)? = try? DirectoryMessage.decode(type: frame.type, body: frame.payload),
                      name == identity.user, recentRecords.contains(digest),
                      (try? Wire.checkSignature(of: received.bytes[...], keys: keys)) != nil else { continue }
                if let refusal {
                    if refusal.permanent { throw NodeError(.io, "server \(server.id) refused \(name): \(refusal.reason)") }
                    if deferredBy.insert(server.id).inserted { notice("server \(server.id) did not take \(name) yet: \(refusal.reason)") }
                    continue
                }
                deferredBy.remove(server.id)
                if acknowledged.insert(server.id).inserted { registered(server.id) }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Tells every server the user is leaving (twice: a datagram can be lost) and closes everything.
    public func leave() async {
        for _ in 0..<2 { try? sendRecord(leaving: true) }
        for task in tasks { task.cancel() }
        tasks = []
        serverSocket.close()
        peerControl.close()
        await transfers.close()
        await cloud.close()
        for (_, waiter) in waiting { waiter.resume(throwing: NodeError(.io, "the daemon is stopping")) }
        waiting = [:]
        for (_, waiter) in objectWaiters { waiter.resume(throwing: NodeError(.io, "the daemon is stopping")) }
        objectWaiters = [:]
    }

    private func startServing() async {
        guard tasks.isEmpty else { return }
        await transfers.start()
        await cloud.start()
        let socket = peerControl, deliveries = transfers.deliveries
        tasks.append(Task(executorPreference: loop) { [weak self] in
            await socket.drainWhenReadable { await self?.drainPeerControl() ?? .stopped }
        })
        tasks.append(Task(executorPreference: loop) { [weak self] in
            for await delivery in deliveries { await self?.arrived(delivery) }
        })
        tasks.append(Task(executorPreference: loop) { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                await self?.tick()
            }
        })
        tasks.append(Task(executorPreference: loop) { [weak self] in await self?.watchMailbox() })
        let checks = dataChecks
        tasks.append(Task(executorPreference: loop) { [weak self] in
            for await (bytes, from) in checks { await self?.dataAddressChecked(bytes, from: from) }
        })
    }

    private func sendRecord(leaving: Bool) throws {
        // Milliseconds since 1970, and always above the last one sent.
        sequence = max(sequence + 1, ProtocolClock.wallMilliseconds())
        let record = try Directory.Record(
            name: identity.user, signingKey: Array(identity.signing.publicKey.rawRepresentation),
            agreementKey: Array(identity.agreement.publicKey.rawRepresentation), endpoint: leaving ? "" : endpoints.description,
            sequence: sequence, leaving: leaving).signed(with: identity.signing)
        recentRecords.append(record.digest)
        if recentRecords.count > 8 { recentRecords.removeFirst() }
        let message = DirectoryMessage.register(record)
        var bytes: [UInt8] = []
        try Wire.encode(into: &bytes, header: origin.next(message.type), keys: keys, writePayload: { $0.append(contentsOf: message.encoded()) })
        for server in config.servers { _ = try? serverSocket.trySend(bytes, to: server.control) }
    }

}
