import AsyncUDP
import Crypto
import Foundation
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudTestKit

/// Real server processes and a stranger with a UDP socket: what the
/// hostile-network tests attack and how they craft their datagrams.
struct AttackedCloud {
    let binary: BinaryRunner
    let folder: String
    let clusterFile: String
    let config: ClusterConfig
    var servers: [Int: Process] = [:]

    /// A cluster file for `count` servers at `base`; starts the ones in `running`.
    init(binary: BinaryRunner, folder: String, count: Int, base: Int, running: [Int]) async throws {
        self.binary = binary
        self.folder = folder
        clusterFile = folder + "/cluster.toml"
        _ = try await binary.run(["cluster", "init", "--servers", "\(count)", "--base-port", "\(base)", "--out", clusterFile])
        config = try ClusterFile.load(clusterFile)
        for id in running { try start(id) }
    }

    mutating func start(_ id: Int) throws {
        servers[id] = try binary.startServer(id: id, cluster: clusterFile, data: dataFolder(id), log: folder + "/server\(id)-\(UUID()).log")
    }

    func dataFolder(_ id: Int) -> String { folder + "/s\(id)" }

    mutating func kill9(_ id: Int) {
        guard let process = servers[id], process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stopAll() {
        for process in servers.values where process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Every server in `ids` answers `status` and reports all of them alive, within `within`.
    func waitUntilAlive(_ ids: [Int], within: Duration = .seconds(20)) async throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if let view = try? await StatusQuery.run(config: config, timeout: .milliseconds(300)),
               ids.allSatisfy({ id in view.servers.contains { $0.id == id && $0.answered && $0.alive } }), view.position.epoch != .none {
                return true
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// The servers' view (as `status` merges it).
    func view() async throws -> StatusQuery.View { try await StatusQuery.run(config: config, timeout: .milliseconds(400)) }

    /// Resident memory of server `id`, in bytes (from /proc).
    func residentBytes(_ id: Int) -> Int? {
        guard let process = servers[id], process.isRunning,
              let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") else { return nil }
        return kilobytes * 1_024
    }

    /// The boot server `id` recorded for its current incarnation.
    func boot(of id: Int) throws -> UInt64 {
        let text = try String(contentsOfFile: dataFolder(id) + "/boot", encoding: .utf8)
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func allRunning() -> Bool { servers.values.allSatisfy(\.isRunning) }
}

/// A stranger's socket: sends crafted datagrams, counts what comes back.
final class Stranger {
    let socket: UDPSocket
    /// Its own X25519 key, as a client's: what it sends in requests.
    let agreement = Curve25519.KeyAgreement.PrivateKey()
    var clientKey: [UInt8] { Array(agreement.publicKey.rawRepresentation) }
    var origin = WireOrigin(sender: 0xBAD)
    private(set) var sentBytes = 0
    private(set) var received: [(bytes: [UInt8], from: SocketAddress)] = []

    init(bind address: SocketAddress = .ipv4Loopback(port: 0)) throws {
        socket = try UDPSocket(bind: address, options: .init(receiveBufferSize: 8 << 20, sendBufferSize: 8 << 20))
    }

    deinit { socket.close() }

    var address: SocketAddress { socket.localAddress }

    func send(_ bytes: [UInt8], to address: SocketAddress) {
        if (try? socket.trySend(bytes, to: address)) == true { sentBytes += bytes.count }
    }

    /// Frames `body` as `type` (open scheme unless told otherwise) and sends it.
    @discardableResult
    func send(_ type: MessageType, _ body: [UInt8], to address: SocketAddress, auth: AuthScheme = .open, keys: WireKeys = WireKeys(),
              header: Wire.Header? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        let header = header ?? origin.next(type)
        guard (try? Wire.encode(into: &bytes, header: header, auth: auth, keys: keys, writePayload: { $0.append(contentsOf: body) })) != nil else { return [] }
        send(bytes, to: address)
        return bytes
    }

    /// Reads what has arrived for `duration`.
    func collect(for duration: Duration) async throws {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            while let datagram = try socket.receiveNow() { received.append((datagram.bytes, datagram.address)) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    var receivedBytes: Int { received.reduce(0) { $0 + $1.bytes.count } }

    func clear() {
        received = []
        sentBytes = 0
    }

    /// Authenticated frames from the cloud's servers: signed, or tagged with
    /// this stranger's session key (checked with the cluster file's keys).
    func signedFrames(_ config: ClusterConfig) -> [Frame] {
        received.compactMap { authenticated($0.bytes, config) }
    }

    /// `datagram` as a frame, if a server of the cloud signed it or tagged it with this stranger's session key.
    func authenticated(_ datagram: [UInt8], _ config: ClusterConfig) -> Frame? {
        guard let cluster = config.agreementPublicKey, let session = try? SessionKey.client(agreement, cluster: cluster),
              let frame = try? Wire.decodeFrame(datagram, keys: config.wireKeys().with(session: session)),
              frame.auth == .signed || frame.auth == .session else { return nil }
        return frame
    }
}

enum Craft {
    /// `inline` puts the payload in the request, with `cookie`.
    static func request(_ id: RequestID, payload: [UInt8], key: [UInt8] = Array("k".utf8), dataPort: UInt16, clientKey: [UInt8],
                        cookie: [UInt8] = [], inline: Bool = false) -> [UInt8] {
        EncryptionMessage.request(.init(id: id, payloadBytes: UInt32(payload.count), payloadDigest: Array(SHA256.hash(data: payload)),
                                        key: key, dataPort: dataPort, clientKey: clientKey, cookie: cookie, inline: inline ? payload : nil)).encoded()
    }

    static func chunk(_ transfer: UInt64, sequence: UInt32 = 0, count: UInt32, total: UInt64, size: UInt32, payload: [UInt8]) -> [UInt8] {
        TransferMessage.chunk(.init(transferID: transfer, sequence: sequence, chunkCount: count, totalBytes: total, chunkSize: size,
                                    payload: payload[...])).encoded()
    }

    static func random(_ count: Int, using generator: inout SeededRandom) -> [UInt8] { generator.bytes(count) }
}

/// The UDP ports a process has open (from /proc), as a stranger on the machine can find them.
func udpPorts(of pid: Int32) -> [UInt16] {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
    var inodes = Set<String>()
    for fd in fds {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
           target.hasPrefix("socket:[") { inodes.insert(String(target.dropFirst(8).dropLast())) }
    }
    guard let table = try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8) else { return [] }
    var ports: [UInt16] = []
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 9, inodes.contains(String(fields[9])) else { continue }
        if let port = fields[1].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) }) { ports.append(port) }
    }
    return ports
}
