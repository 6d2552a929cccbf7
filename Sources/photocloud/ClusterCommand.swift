import ArgumentParser
import Foundation
import PhotoCloudNode

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Write and inspect cluster files.",
        subcommands: [Init.self, Show.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a cluster file for N servers on 127.0.0.1 with a fresh random secret.",
            discussion: "Server i listens for control traffic on base+i and for data on base+100+i."
        )

        @Option(help: "Number of servers (1-99).")
        var servers: Int = 3

        @Option(name: .customLong("base-port"), help: "Ports are base+id (control) and base+100+id (data).")
        var basePort: UInt16 = ClusterConfig.defaultBasePort

        @Option(help: "Where to write the file.")
        var out: String = ClusterFile.defaultName

        @Flag(help: "Replace an existing file (its secret changes).")
        var force = false

        func run() throws {
            let config = try ClusterConfig.local(
                servers: servers, basePort: basePort, secret: ClusterConfig.randomSecret(), source: out)
            try ClusterFile.write(config, to: out, overwrite: force)
            print("wrote \(out): \(servers) server\(servers == 1 ? "" : "s"), control ports \(basePort + 1)-\(basePort + UInt16(servers)), data ports \(basePort + 101)-\(basePort + 100 + UInt16(servers))")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check and print the cluster configuration in force."
        )

        @Option(help: "Cluster file (default: $PHOTOCLOUD_CLUSTER, ./cluster.toml, built-in layout).")
        var cluster: String?

        @Flag(help: "Print one JSON document.")
        var json = false

        func run() throws {
            let config = try ClusterFile.resolve(explicit: cluster)
            if json {
                struct Entry: Encodable { let id: Int; let control: String; let data: String }
                struct Document: Encodable { let source: String; let servers: [Entry] }
                let document = Document(source: config.source, servers: config.servers.map {
                    Entry(id: $0.id, control: "\($0.control)", data: "\($0.data)")
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
