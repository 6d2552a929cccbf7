import AsyncUDP
import Crypto
import Foundation
import PhotoCloudProtocol

/// A user's daemon (`photocloud peer`): registers the user with every server
/// and re-registers every second (the directory's heartbeat), with a fresh
/// signed record each time. Its peer-to-peer socket is the endpoint it
/// advertises (direct transfers to come).
public actor PeerActor {
    public nonisolated let identity: PeerIdentity
    public nonisolated let endpoint: String
    public nonisolated let loop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    private let config: ClusterConfig
    private let control: UDPSocket
    private let direct: UDPSocket
    private let keys: WireKeys
    private var origin = WireOrigin(sender: 0)
    private var sequence: UInt64 = 0
    /// The digests of the records sent lately: only an answer to one of them counts.
    private var recentRecords: [[UInt8]] = []
    private var acknowledged: Set<Int> = []
    private var deferredBy: Set<Int> = []
    public static let heartbeat = Duration.seconds(1)

    /// `host` is the address others reach this machine at.
    public init(identity: PeerIdentity, config: ClusterConfig, host: String = "127.0.0.1", loop: EventLoop = .shared) throws {
        guard Directory.Record.isValidName(identity.user) else {
            throw NodeError(.io, "\"\(identity.user)\" is not a valid user name (1-32 of a-z 0-9 - _ .)")
        }
        self.identity = identity
        self.config = config
        self.loop = loop
        keys = config.wireKeys()
        let any = config.anyLocalAddress
        control = try UDPSocket(bind: any, loop: loop)
        direct = try UDPSocket(bind: any, loop: loop)
        endpoint = "\(host):\(direct.localAddress.port)"
    }

    /// Registers until cancelled; `registered` hears each server's first
    /// acknowledgement, `notice` a server's refusal to take the record for now.
    /// Throws if a server refuses the name for good (another key holds it).
    /// Only answers signed by the server, to a record it sent lately (named
    /// by its digest), count.
    public func run(registered: @Sendable (Int) -> Void = { _ in }, notice: @Sendable (String) -> Void = { _ in }) async throws {
        var nextBeat = ContinuousClock.now
        while !Task.isCancelled {
            if ContinuousClock.now >= nextBeat {
                try sendRecord(leaving: false)
                nextBeat = ContinuousClock.now + Self.heartbeat
            }
            // At most a batch a turn: a flood of datagrams must not hold back the heartbeat.
            var read = 0
            while read < 256, let received = try control.receiveNow() {
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

    /// Tells every server the user is leaving (twice: a datagram can be lost).
    public func leave() {
        for _ in 0..<2 { try? sendRecord(leaving: true) }
        control.close()
        direct.close()
    }

    private func sendRecord(leaving: Bool) throws {
        // Milliseconds since 1970, and always above the last one sent.
        sequence = max(sequence + 1, UInt64(Date().timeIntervalSince1970 * 1_000))
        let record = try Directory.Record(
            name: identity.user, signingKey: Array(identity.signing.publicKey.rawRepresentation),
            agreementKey: Array(identity.agreement.publicKey.rawRepresentation), endpoint: leaving ? "" : endpoint,
            sequence: sequence, leaving: leaving).signed(with: identity.signing)
        recentRecords.append(record.digest)
        if recentRecords.count > 8 { recentRecords.removeFirst() }
        let message = DirectoryMessage.register(record)
        var bytes: [UInt8] = []
        try Wire.encode(into: &bytes, header: origin.next(message.type), keys: keys, writePayload: { $0.append(contentsOf: message.encoded()) })
        for server in config.servers { _ = try? control.trySend(bytes, to: server.control) }
    }
}

/// Asks every server who is online and merges the answers: a user is online
/// if any server that answered says so.
public enum WhoQuery {
    public struct Answer: Sendable {
        public var online: [String]
        public var offline: [String]
        public var answered: [Int]
    }

    public static func run(config: ClusterConfig, timeout: Duration = .milliseconds(500), loop: EventLoop = .shared) async throws -> Answer {
        var pages: [Int: [UInt32: [DirectoryMessage.User]]] = [:]
        var totals: [Int: UInt32] = [:]
        func have(_ id: Int) -> Int { pages[id]?.values.map(\.count).reduce(0, +) ?? 0 }
        func complete(_ id: Int) -> Bool {
            guard let total = totals[id] else { return false }
            return have(id) >= Int(total)
        }
        func ask(offset: Int, _ send: (MessageType, [UInt8]) -> Void) {
            send(.whoRequest, UInt32(clamping: offset).bigEndianBytes)
        }
        try await ClusterPoll.run(
            config: config, timeout: timeout, loop: loop,
            isDone: { complete($0.id) },
            // The first page, or the next one missing.
            ask: { server, _, send in ask(offset: have(server.id), send) },
            onReply: { server, frame, nonce, send in
                guard case .whoReply(let answered, let total, let offset, let users)? = try? DirectoryMessage.decode(type: frame.type, body: frame.payload),
                      answered == nonce, Int(offset) + users.count <= Int(total) else { return }
                totals[server.id] = total
                pages[server.id, default: [:]][offset] = users
                if !complete(server.id) { ask(offset: Int(offset) + users.count, send) }
            })
        var online: Set<String> = [], known: Set<String> = []
        for users in pages.values.flatMap(\.values) {
            for user in users {
                known.insert(user.name)
                if user.online { online.insert(user.name) }
            }
        }
        return Answer(online: online.sorted(), offline: known.subtracting(online).sorted(), answered: totals.keys.sorted())
    }
}
