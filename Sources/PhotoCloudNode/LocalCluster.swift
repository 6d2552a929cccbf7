import AsyncUDP
import Foundation
import Synchronization

/// A cloud of child `photocloud server` processes on this machine, for
/// `cluster up`, the demo and `bench cluster`. The folder holds the cluster
/// file, each server's data folder (`server-N`) and log (`server-N.log`).
public final class LocalCluster: Sendable {
    public let config: ClusterConfig
    public let folder: String
    public let clusterFile: String
    private let binary: String
    private let serverArguments: [String]
    private let processes = Mutex<[Int: Process]>([:])

    /// Uses the cluster file in `folder`, or writes one for `servers` servers
    /// (at `basePort`, or at free ports when it is nil) with a fresh secret.
    /// `serverArguments` are passed to every server (`--covers`, `--faults`).
    public init(folder: String, servers: Int, basePort: UInt16? = nil, serverArguments: [String] = [], binary: String? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw NodeError(.io, "cannot create \(folder): \(error.localizedDescription)")
        }
        let file = (folder as NSString).appendingPathComponent(ClusterFile.defaultName)
        if FileManager.default.fileExists(atPath: file) {
            config = try ClusterFile.load(file)
        } else {
            let base = try basePort ?? Self.freeBasePort(servers: servers)
            config = try ClusterConfig.local(servers: servers, basePort: base, secret: ClusterConfig.randomSecret(), source: file)
            try ClusterFile.write(config, to: file)
        }
        self.folder = folder
        clusterFile = file
        self.serverArguments = serverArguments
        self.binary = try binary ?? Self.currentExecutable()
    }

    public func dataFolder(of id: Int) -> String { (folder as NSString).appendingPathComponent("server-\(id)") }
    public func logFile(of id: Int) -> String { (folder as NSString).appendingPathComponent("server-\(id).log") }

    /// Starts server `id` (its log appends to `server-N.log`).
    public func start(_ id: Int) throws {
        let path = logFile(of: id)
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: path) else { throw NodeError(.io, "cannot write \(path)") }
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // The servers end with this process, however it ends (`server --parent`).
        process.arguments = ["server", "--id", String(id), "--cluster", clusterFile, "--data", dataFolder(of: id),
                             "--parent", String(getpid())] + serverArguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw NodeError(.io, "cannot start server \(id) (\(binary)): \(error.localizedDescription)")
        }
        processes.withLock { $0[id] = process }
    }

    public func startAll() throws {
        for server in config.servers { try start(server.id) }
    }

    /// Whether server `id`'s process is running; nil if it was never started.
    public func isRunning(_ id: Int) -> Bool? { processes.withLock { $0[id]?.isRunning } }

    /// The process id of server `id`, if it runs.
    public func pid(of id: Int) -> Int32? { processes.withLock { $0[id].flatMap { $0.isRunning ? $0.processIdentifier : nil } } }

    /// kill -9: the server stops at once, without saying anything to anyone.
    public func kill(_ id: Int) {
        guard let process = processes.withLock({ $0[id] }), process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Stops every server (SIGTERM, then SIGKILL after two seconds).
    public func stopAll() {
        let running = processes.withLock { $0.values.filter(\.isRunning) }
        for process in running { process.terminate() }
        let deadline = Date().addingTimeInterval(2)
        for process in running {
            while process.isRunning, Date() < deadline { usleep(10_000) }
            if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    /// Waits until every server answers and the token has an epoch.
    public func waitUntilReady(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for server in config.servers where isRunning(server.id) == false {
                throw NodeError(.io, "server \(server.id) exited at start; see \(logFile(of: server.id))")
            }
            let view = try await StatusQuery.run(config: config, timeout: .milliseconds(300))
            if view.servers.allSatisfy(\.answered), view.position.epoch != .none { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NodeError(.network, "the local cloud in \(folder) did not come up within \(timeout); see the server-N.log files there")
    }

    /// Base ports for `servers` servers whose control and data ports are free now.
    static func freeBasePort(servers: Int) throws -> UInt16 {
        for _ in 0..<50 {
            let base = UInt16.random(in: 20_000...40_000) / 100 * 100
            let ports = (1...servers).flatMap { [base + UInt16($0), base + 100 + UInt16($0)] }
            var sockets: [UDPSocket] = []
            defer { for socket in sockets { socket.close() } }
            var free = true
            for port in ports {
                guard let socket = try? UDPSocket(bind: .ipv4Loopback(port: port)) else { free = false; break }
                sockets.append(socket)
            }
            if free { return base }
        }
        throw NodeError(.network, "found no free ports on 127.0.0.1 for \(servers) servers")
    }

    static func currentExecutable() throws -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        if let path = Bundle.main.executablePath { return path }
        throw NodeError(.io, "cannot tell where the photocloud binary is")
    }
}
