import Foundation

/// Runs the real `photocloud` binary (for IntegrationTests), bounded in time.
public struct BinaryRunner: Sendable {
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var timedOut: Bool
    }

    public let executable: String

    /// `$PHOTOCLOUD_BIN`, else `photocloud` beside the test bundle (the build folder).
    public static func locate() -> BinaryRunner? {
        if let path = ProcessInfo.processInfo.environment["PHOTOCLOUD_BIN"] { return BinaryRunner(executable: path) }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = folder.appendingPathComponent("photocloud").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return BinaryRunner(executable: candidate) }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }

    /// A command the binary runs under, e.g. `ip netns exec NAME` (which execs it: the pid is the binary's).
    public let prefix: [String]

    public init(executable: String, prefix: [String] = []) {
        self.executable = executable
        self.prefix = prefix
    }

    /// The same binary run under `prefix`.
    public func under(_ prefix: [String]) -> BinaryRunner { BinaryRunner(executable: executable, prefix: prefix) }

    /// Starts the binary in the background (a server); output goes to `log`.
    /// The caller stops it (`terminate`, or `kill(pid, SIGKILL)`).
    public func start(_ arguments: [String], log: String, environment: [String: String] = [:]) throws -> Process {
        let process = process(arguments, environment: environment)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Starts `photocloud server --id ID --cluster CLUSTER --data DATA` in the background.
    public func startServer(id: Int, cluster: String, data: String, log: String) throws -> Process {
        try start(["server", "--id", "\(id)", "--cluster", cluster, "--data", data], log: log)
    }

    /// A photocloud home for the binaries a test process runs (the built-in
    /// layout's secret is made there), so that tests never write to the user's own.
    public static let home: String = {
        let path = NSTemporaryDirectory() + "photocloud-test-home-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }()

    /// The binary with `arguments`, in this environment plus `environment`,
    /// without any cluster file the tests' own environment names, and with a
    /// home of the tests' own unless `environment` names one.
    private func process(_ arguments: [String], environment: [String: String]) -> Process {
        let process = Process()
        if let first = prefix.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(prefix.dropFirst()) + [executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "PHOTOCLOUD_CLUSTER")
        env["PHOTOCLOUD_HOME"] = Self.home
        for (key, value) in environment { env[key] = value }
        process.environment = env
        return process
    }

    /// Until `photocloud who` on `cluster` prints `text` ("online:  alice, bob"), polling every 200 ms, `within` at most.
    public func waitForWho(_ text: String, cluster: String, environment: [String: String], within: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if try await run(["who", "--cluster", cluster], environment: environment).stdout.contains(text) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    public func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                    timeout: Duration = .seconds(60)) async throws -> Outcome {
        let process = process(arguments, environment: environment)
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes while it runs so a chatty child never blocks.
        async let out = Task.detached { stdout.fileHandleForReading.readDataToEndOfFile() }.value
        async let err = Task.detached { stderr.fileHandleForReading.readDataToEndOfFile() }.value
        let deadline = ContinuousClock.now + timeout
        var timedOut = false
        while process.isRunning {
            if ContinuousClock.now > deadline {
                timedOut = true
                process.terminate()
                kill(process.processIdentifier, SIGKILL)
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            stdout: String(decoding: await out, as: UTF8.self),
            stderr: String(decoding: await err, as: UTF8.self),
            timedOut: timedOut
        )
    }
}
