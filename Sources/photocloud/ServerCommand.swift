import ArgumentParser
import AsyncUDP
import Foundation
import Logging
import PhotoCloudNode

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run one server of the cloud (the work token ring, the encryption service, status).",
        discussion: """
            Runs until interrupted. The data folder keeps the server's state across restarts (the token epoch). \
            Payloads are hidden in the covers of --covers (every PNG in the folder), or in built-in synthetic \
            covers; every server of a cloud should use the same covers, so that any of them gives a retried \
            request the same answer.
            """
    )

    @Option(help: "This server's id in the cluster file.") var id: Int
    @Option(help: "Cluster file (default: $PHOTOCLOUD_CLUSTER, ./cluster.toml, built-in layout).") var cluster: String?
    @Option(help: "Data folder (default: $PHOTOCLOUD_HOME/server-ID, or ~/.photocloud/server-ID).") var data: String?
    @Option(help: "Folder of cover PNGs (default: built-in synthetic covers).") var covers: String?
    @Option(help: "Fault injection: none, or offline-token (the holder of a second token sleeps offline, then passes it on).")
    var faults: Faults = .none
    @Flag(help: "Serve requests marked direct without the work token (the benchmark's baseline without balancing); off, anyone could skip the token.")
    var allowDirect = false
    @Option(help: "Stop when process PID is no longer this server's parent (how photocloud's own clouds end with the command that started them: cluster up, bench, the demo; even after its kill -9).")
    var parent: Int32?

    enum Faults: String, ExpressibleByArgument, CaseIterable, Sendable {
        case none
        case offlineToken = "offline-token"
    }

    func run() async throws {
        let config = try ClusterFile.resolve(explicit: cluster)
        // The file holds the cloud's secret: refused if others can read it, as ssh refuses such a key.
        if config.source != ClusterConfig.builtInSource { try PrivateFile.check(config.source, what: "the cluster file") }
        if config.source == ClusterConfig.builtInSource {
            FileHandle.standardError.write(Data("note: no cluster file found; using the built-in local layout (3 servers on 127.0.0.1) with the secret in \(ClusterFile.home())\n".utf8))
        }
        if let parent { Self.stopWhenOrphaned(expecting: parent, id: id) }
        let folder = data ?? Self.defaultDataFolder(id: id)
        let library = try covers.map { CoverSource(try CoverLibrary(directory: $0)) } ?? CoverSource.builtIn()
        let loop = try EventLoop(name: "photocloud-server-\(id)")
        let server = try ServerActor(id: id, config: config, dataDirectory: folder, loop: loop,
                                     covers: library, offlineToken: faults == .offlineToken, allowDirect: allowDirect,
                                     logger: Logger(label: "photocloud.server"))
        let me = config.server(id: id)!
        // Written straight to the descriptor: a supervisor reading a pipe sees it at once.
        FileHandle.standardOutput.write(Data("server \(id) of \(config.servers.count) (\(config.source)): control \(me.control), data \(me.data), data folder \(folder)\n".utf8))
        try await server.run()
    }

    /// Exits once this process's parent is not `parent` any more (it exited,
    /// however it died, and this server was handed to another): a thread that
    /// looks four times a second. A bench killed with SIGTERM or -9 left its
    /// three servers running for good. The state a server keeps is written
    /// atomically, so stopping it at any moment is like its SIGTERM.
    static func stopWhenOrphaned(expecting parent: Int32, id: Int) {
        Thread.detachNewThread {
            while getppid() == parent { usleep(250_000) }
            FileHandle.standardError.write(Data("server \(id): the process that started it (\(parent)) has exited; stopping\n".utf8))
            Foundation.exit(0)
        }
    }

    static func defaultDataFolder(id: Int) -> String { defaultDataFolder(name: "server-\(id)") }

    /// `name` in $PHOTOCLOUD_HOME, or in ~/.photocloud.
    static func defaultDataFolder(name: String) -> String {
        (ClusterFile.home() as NSString).appendingPathComponent(name)
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the servers of the cloud: alive or not, load, and who holds the work token."
    )

    @OptionGroup var query: ServerQueryOptions
    @Flag(help: "Print one JSON document.") var json = false

    func run() async throws {
        let config = try query.config()
        let view = try await StatusQuery.run(config: config, timeout: query.timeout)
        guard view.servers.contains(where: \.answered) else { throw query.nobodyAnswered(config) }
        let epoch = view.position.epoch
        if json {
            struct Entry: Encodable {
                let id: Int, alive: Bool, answered: Bool, control: String, data: String, handled: UInt64, queued: UInt32
                let mail_items: UInt32?, mail_bytes: UInt64?
            }
            struct Document: Encodable {
                let servers: [Entry]
                let token_holder: Int?
                let epoch: UInt64
                let epoch_generator: UInt64
            }
            try JSONOutput.print(Document(
                servers: view.servers.map {
                    Entry(id: $0.id, alive: $0.alive, answered: $0.answered, control: "\($0.control)", data: "\($0.data)",
                          handled: $0.handled, queued: $0.queued, mail_items: $0.mail?.items, mail_bytes: $0.mail?.bytes)
                },
                token_holder: view.tokenHolder, epoch: epoch.counter, epoch_generator: epoch.generator))
            return
        }
        for server in view.servers {
            let state = server.alive ? "alive" : "down "
            let token = server.id == view.tokenHolder ? "  holds the token" : ""
            let mail = server.mail.map { "  mailbox \($0.items) message\($0.items == 1 ? "" : "s") (\(Self.size($0.bytes)))" } ?? ""
            print("server \(server.id)  \(state)  control \(server.control)  data \(server.data)  handled \(server.handled)  queued \(server.queued)\(mail)\(token)")
        }
        let holder = view.tokenHolder.map { "server \($0)" } ?? "in flight"
        print("work token: epoch \(epoch) (generated by server \(epoch.generator)), holder \(holder)")
    }

    static func size(_ bytes: UInt64) -> String {
        bytes < 10_000 ? "\(bytes) B" : bytes < 10_000_000 ? "\(bytes / 1_000) kB" : "\(bytes / 1_000_000) MB"
    }
}

/// What the commands that ask every server share (`status`, `who`).
struct ServerQueryOptions: ParsableArguments {
    @Option(help: "Cluster file (default: $PHOTOCLOUD_CLUSTER, ./cluster.toml, built-in layout).") var cluster: String?
    @Option(name: .customLong("timeout-ms"), help: "How long to wait for answers.") var timeoutMs: Int = 500

    func validate() throws {
        guard (1...60_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be 1 to 60000") }
    }

    func config() throws -> ClusterConfig { try ClusterFile.resolve(explicit: cluster) }

    var timeout: Duration { .milliseconds(Int64(timeoutMs)) }

    func nobodyAnswered(_ config: ClusterConfig) -> CLIError {
        CLIError("no server of \(config.source) answered within \(timeoutMs) ms; start them with `photocloud server --id N` (or `photocloud cluster up`)")
    }
}
