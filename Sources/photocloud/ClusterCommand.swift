import ArgumentParser
import Foundation
import PhotoCloudNode

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run a local cloud; write and inspect cluster files.",
        subcommands: [Up.self, Init.self, Public.self, Show.self]
    )

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "up",
            abstract: "Run a local cloud of child server processes until Ctrl-C.",
            discussion: """
                Uses DATA/cluster.toml, or writes one (ports 7101.. and 7201.., a fresh secret), so the \
                default layout of the other commands reaches it. Each server keeps its state in \
                DATA/server-N and logs to DATA/server-N.log. Ctrl-C stops them all.
                """
        )

        @Option(help: "Number of servers (1-99), when DATA has no cluster file yet.") var servers: Int = 3
        @Option(help: "Folder of the cloud (default: $PHOTOCLOUD_HOME/cluster, or ~/.photocloud/cluster).") var data: String?
        @Option(help: "Folder of cover PNGs for the servers (default: built-in covers).") var covers: String?
        @Option(help: "Fault injection in the servers: none or offline-token.") var faults: ServerCommand.Faults = .none

        func run() async throws {
            let folder = data ?? ServerCommand.defaultDataFolder(name: "cluster")
            var arguments: [String] = []
            if let covers { arguments += ["--covers", (covers as NSString).standardizingPath] }
            if faults != .none { arguments += ["--faults", faults.rawValue] }
            let cloud = try LocalCluster(folder: folder, servers: servers, basePort: ClusterConfig.defaultBasePort, serverArguments: arguments)
            let (stop, stopped) = AsyncStream<Void>.makeStream()
            let interruption = Interruption { stopped.yield() }
            try cloud.startAll()
            do { try await cloud.waitUntilReady() } catch {
                cloud.stopAll()
                throw error
            }
            print("local cloud of \(cloud.config.servers.count) servers in \(folder) (cluster file \(cloud.clusterFile))")
            for server in cloud.config.servers {
                print("  server \(server.id)  pid \(cloud.pid(of: server.id) ?? 0)  control \(server.control)  data \(server.data)")
            }
            print("Ctrl-C stops them all.")
            fflush(nil)   // a supervisor reading a pipe or a log file sees it now
            let watcher = Task {
                var reported: Set<Int> = []
                while !Task.isCancelled {
                    for server in cloud.config.servers where cloud.isRunning(server.id) == false && !reported.contains(server.id) {
                        reported.insert(server.id)
                        FileHandle.standardError.write(Data("server \(server.id) exited; see \(cloud.logFile(of: server.id))\n".utf8))
                    }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            for await _ in stop { break }
            withExtendedLifetime(interruption) {}
            watcher.cancel()
            cloud.stopAll()
            print("stopped \(cloud.config.servers.count) servers")
            fflush(nil)
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write a cluster file with a fresh random secret: N servers on 127.0.0.1, or one on each of --hosts.",
            discussion: """
                Server i listens for control traffic on base+i and for data on base+100+i, on 127.0.0.1 or on the                 i-th address of --hosts (docs/operations.md, "Several machines").
                """
        )

        @Option(help: "Number of servers (1-99) on 127.0.0.1.")
        var servers: Int?

        @Option(help: "The servers' addresses, one server each, in order (e.g. 10.0.0.1,10.0.0.2,10.0.0.3).")
        var hosts: String?

        @Option(name: .customLong("base-port"), help: "Ports are base+id (control) and base+100+id (data).")
        var basePort: UInt16 = ClusterConfig.defaultBasePort

        @Option(help: "Where to write the file.")
        var out: String = ClusterFile.defaultName

        @Flag(help: "Replace an existing file (its secret changes).")
        var force = false

        func validate() throws {
            if let hosts, let servers, servers != hosts.split(separator: ",").count {
                throw ValidationError("--servers \(servers) but --hosts names \(hosts.split(separator: ",").count): give one of them")
            }
        }

        func run() throws {
            let secret = ClusterConfig.randomSecret()
            let config = if let hosts {
                try ClusterConfig.layout(hosts: hosts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
                                         basePort: basePort, secret: secret, source: out)
            } else {
                try ClusterConfig.local(servers: servers ?? 3, basePort: basePort, secret: secret, source: out)
            }
            try ClusterFile.write(config, to: out, overwrite: force)
            let count = config.servers.count
            let on = hosts == nil ? "" : " on " + Set(config.servers.map { $0.control.hostString }).sorted().joined(separator: ", ")
            print("wrote \(out): \(count) server\(count == 1 ? "" : "s")\(on), control ports \(basePort + 1)-\(basePort + UInt16(count)), data ports \(basePort + 101)-\(basePort + 100 + UInt16(count))")
        }
    }

    struct Public: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public",
            abstract: "Write the cluster file users get: the servers and their public keys, without the secret.",
            discussion: "Peers and the other commands need only this; servers need the file with the secret."
        )

        @Option(help: "Cluster file with the secret (default: $PHOTOCLOUD_CLUSTER, ./cluster.toml, built-in layout).")
        var cluster: String?

        @Option(help: "Where to write the public file.")
        var out: String

        @Flag(help: "Replace an existing file.")
        var force = false

        func run() throws {
            let config = try ClusterFile.resolve(explicit: cluster)
            try ClusterFile.write(config.publicFile, to: out, overwrite: force)
            print("wrote \(out): \(config.servers.count) server\(config.servers.count == 1 ? "" : "s") with their keys, no secret")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Check and print the cluster configuration in force."
        )

        @Option(help: "Cluster file (default: $PHOTOCLOUD_CLUSTER, ./cluster.toml, built-in layout).")
        var cluster: String?

        @Flag(help: "Print one JSON document.")
        var json = false

        func run() throws {
            let config = try ClusterFile.resolve(explicit: cluster)
            if json {
                struct Entry: Encodable { let id: Int; let control: String; let data: String; let key: String }
                struct Document: Encodable { let source: String; let has_secret: Bool; let servers: [Entry] }
                let document = Document(source: config.source, has_secret: config.secret != nil, servers: config.servers.map {
                    Entry(id: $0.id, control: "\($0.control)", data: "\($0.data)", key: $0.key.map { String(format: "%02x", $0) }.joined())
                })
                try JSONOutput.print(document)
            } else {
                print("cluster from \(config.source): \(config.servers.count) server\(config.servers.count == 1 ? "" : "s")")
                for server in config.servers {
                    print("  server \(server.id)  control \(server.control)  data \(server.data)")
                }
            }
        }
    }
}
