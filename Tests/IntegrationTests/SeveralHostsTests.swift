import Foundation
import PhotoCloudNode
import PhotoCloudTestKit
import Testing

extension ServerProcesses {
    /// The cloud and its users on several hosts: each server and each peer in
    /// a network namespace of its own, joined by a bridge (NetworkLab), with
    /// the real binary. Partitions are made by taking a host's link down or
    /// by blackhole routes between two hosts.
    @Suite("Several hosts: kill -9, partitions and healing across network namespaces",
           .enabled(if: NetworkLab.unavailable == nil, Comment(rawValue: NetworkLab.unavailable ?? "")))
    struct SeveralHostsTests {
        static let binary = BinaryRunner.locate()

        struct Status: Decodable {
            struct Server: Decodable { let id: Int; let alive: Bool; let answered: Bool; let handled: UInt64; let mail_items: Int? }
            let servers: [Server]
            let token_holder: Int?
            let epoch: UInt64
            let epoch_generator: UInt64
        }

        struct Bench: Decodable { let sent: Int; let answered: Int; let failed: Int; let per_server: [String: Int]; let first_errors: [String] }

        /// Three servers, one on each of the lab's hosts s1, s2, s3 (fixed ports: every host has its own).
        final class Cloud: @unchecked Sendable {
            let lab: NetworkLab
            let binary: BinaryRunner
            let folder: String
            let cluster: String
            var servers: [Int: Process] = [:]
            var others: [Process] = []

            init(lab: NetworkLab, binary: BinaryRunner, folder: String) async throws {
                self.lab = lab
                self.binary = binary
                self.folder = folder
                cluster = folder + "/cluster.toml"
                let hosts = ["s1", "s2", "s3"].map(lab.address).joined(separator: ",")
                let written = try await binary.run(["cluster", "init", "--hosts", hosts, "--out", cluster])
                #expect(written.status == 0, "\(written.stderr)")
                for id in 1...3 { try start(id) }
            }

            func start(_ id: Int) throws {
                servers[id] = try lab.on("s\(id)", binary).startServer(id: id, cluster: cluster, data: folder + "/s\(id)",
                                                                       log: folder + "/server\(id)-\(UUID()).log")
            }

            func kill9(_ id: Int) {
                guard let process = servers[id] else { return }
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }

            func stop() {
                for process in Array(servers.values) + others where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }

            /// `photocloud status --json` run on `host`.
            func status(from host: String) async throws -> Status? {
                let outcome = try await lab.on(host, binary).run(["status", "--cluster", cluster, "--json", "--timeout-ms", "300"], timeout: .seconds(20))
                guard outcome.status == 0 else { return nil }
                return try? JSONDecoder().decode(Status.self, from: Data(outcome.stdout.utf8))
            }

            func waitFor(from host: String, within: Duration, _ condition: (Status) -> Bool) async throws -> Status? {
                let deadline = ContinuousClock.now + within
                while ContinuousClock.now < deadline {
                    if let status = try await status(from: host), condition(status) { return status }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return nil
            }

            /// `bench cluster` against this cloud from `host`, in the background; its JSON goes to `json`.
            func startLoad(from host: String, clients: Int, requests: Int, json: String) throws -> Process {
                let process = try lab.on(host, binary).start(["bench", "cluster", "--cluster", cluster, "--clients", "\(clients)",
                                                              "--requests", "\(requests)", "--interval-ms", "100", "--deadline-ms", "60000",
                                                              "--json", json], log: json + ".log")
                others.append(process)
                return process
            }

            func finish(_ load: Process, json: String) async throws -> Bench {
                let deadline = ContinuousClock.now + .seconds(150)
                while load.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
                let log = (try? String(contentsOfFile: json + ".log", encoding: .utf8)) ?? ""
                #expect(!load.isRunning && load.terminationStatus == 0, "bench: \(log)")
                return try JSONDecoder().decode(Bench.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
            }
        }

        func withCloud(hosts extra: [String], _ body: (NetworkLab, Cloud) async throws -> Void) async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            let lab = try NetworkLab(hosts: ["s1", "s2", "s3"] + extra)
            defer { lab.tearDown() }
            try await withTemporaryFolder { folder in
                let cloud = try await Cloud(lab: lab, binary: binary, folder: folder)
                defer { cloud.stop() }
                let formed = try await cloud.waitFor(from: extra[0], within: .seconds(30)) { status in
                    status.servers.allSatisfy(\.answered) && status.token_holder != nil
                }
                try #require(formed != nil, "three servers on three hosts, and a token, within 30 s")
                try await body(lab, cloud)
            }
        }

        @Test func theCloudAcrossHostsLosesNothingToAKillNineOfTheHolderOrAPartitionOfOneServer() async throws {
            try await withCloud(hosts: ["client"]) { lab, cloud in
                // kill -9 of the token holder while 300 requests, from another host, are under way.
                let first = cloud.folder + "/kill.json"
                let load = try cloud.startLoad(from: "client", clients: 10, requests: 30, json: first)
                try await Task.sleep(for: .milliseconds(1_200))
                // (Between two servers the token is in flight and no one holds it: ask until someone does.)
                let holding = try await cloud.waitFor(from: "client", within: .seconds(5)) { $0.token_holder != nil }
                let holder = try #require(holding?.token_holder, "no holder while the load runs")
                #expect(load.isRunning, "the load ended before the kill")
                cloud.kill9(holder)
                let killed = try await cloud.finish(load, json: first)
                #expect(killed.sent == 300 && killed.answered == 300 && killed.failed == 0, "\(killed.first_errors)")
                #expect(killed.per_server.filter { $0.key != "\(holder)" }.values.reduce(0, +) > 0)

                // It restarts and serves again.
                try cloud.start(holder)
                let back = try await cloud.waitFor(from: "client", within: .seconds(30)) { $0.servers.allSatisfy(\.answered) }
                #expect(back != nil, "server \(holder) not back within 30 s")

                // A partition: server 2's link goes down; the others see it gone and serve without it; it heals.
                let before = try #require(try await cloud.status(from: "client"))
                try lab.cut("s2")
                let without = try await cloud.waitFor(from: "client", within: .seconds(10)) { status in
                    !status.servers[1].answered && status.servers[0].answered && status.servers[2].answered && status.token_holder != nil
                }
                #expect(without != nil, "servers 1 and 3 serving without server 2 within 10 s")
                let second = cloud.folder + "/partition.json"
                let during = try cloud.startLoad(from: "client", clients: 10, requests: 30, json: second)
                try await Task.sleep(for: .milliseconds(1_500))
                try lab.heal("s2")
                let partitioned = try await cloud.finish(during, json: second)
                #expect(partitioned.answered == 300 && partitioned.failed == 0, "\(partitioned.first_errors)")

                // Healed: one ring again. Its epoch never went back, every server answers, and each takes the token
                // in turn and serves (two rings would not share the work of one client stream this way for long).
                let healed = try await cloud.waitFor(from: "client", within: .seconds(30)) { status in
                    status.servers.allSatisfy(\.answered) && status.token_holder != nil
                }
                let after = try #require(healed, "not healed within 30 s")
                #expect(after.epoch >= before.epoch, "the epoch went back")
                let third = cloud.folder + "/healed.json"
                let served = try await cloud.finish(try cloud.startLoad(from: "client", clients: 5, requests: 20, json: third), json: third)
                #expect(served.answered == 100 && served.failed == 0, "\(served.first_errors)")
                #expect((1...3).allSatisfy { (served.per_server["\($0)"] ?? 0) > 0 }, "not every server served after healing: \(served.per_server)")
                var epochs: Set<String> = []
                for _ in 0..<5 {
                    if let status = try await cloud.status(from: "client") { epochs.insert("\(status.epoch).\(status.epoch_generator)") }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(epochs.count == 1, "the servers hold different tokens after healing: \(epochs)")
            }
        }

        @Test func onlyPeersThatReachAMajorityOfServersHearMailStoredAndItArrivesAfterHealing() async throws {
            try await withCloud(hosts: ["alice", "bob", "carol"]) { lab, cloud in
                let environment = ["PHOTOCLOUD_HOME": cloud.folder + "/home", "PHOTOCLOUD_CLUSTER": cloud.cluster]
                func user(_ name: String, _ arguments: [String]) async throws -> BinaryRunner.Outcome {
                    try await lab.on(name, cloud.binary).run(arguments + ["--user", name], environment: environment, directory: cloud.folder,
                                                             timeout: .seconds(90))
                }
                func daemon(_ name: String) throws -> Process {
                    let process = try lab.on(name, cloud.binary).start(["peer", "--user", name], log: cloud.folder + "/\(name)-\(UUID()).log",
                                                                       environment: environment)
                    cloud.others.append(process)
                    return process
                }
                func who(from host: String = "alice") async throws -> String {
                    try await lab.on(host, cloud.binary).run(["who"], environment: environment, timeout: .seconds(20)).stdout
                }
                func waitUntil(_ what: String, within: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
                    let deadline = ContinuousClock.now + within
                    while ContinuousClock.now < deadline {
                        if try await condition() { return }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    Issue.record("not within \(within): \(what)")
                }
                _ = try daemon("alice")
                let bob = try daemon("bob")
                _ = try daemon("carol")
                try await waitUntil("alice, bob and carol online") { try await who().contains("online:  alice, bob, carol") }

                // The peers' hosts and server 3 cannot reach each other; the servers still reach each other.
                for peer in ["alice", "bob"] { try lab.separate(peer, "s3") }
                // bob goes away (Ctrl-C); the servers the peers reach (1 and 2, a majority) see him go.
                kill(bob.processIdentifier, SIGINT)
                bob.waitUntilExit()
                try await waitUntil("bob offline") { try await who().contains("offline: bob") }

                var generator = SystemRandomNumberGenerator()
                let photo = try SyntheticPhoto.png(seed: UInt64.random(in: 1...1_000, using: &generator), width: 200, height: 150)
                try Data(photo).write(to: URL(fileURLWithPath: cloud.folder + "/harbour.png"))
                let sent = try await user("alice", ["send", cloud.folder + "/harbour.png", "--to", "bob", "--views", "2"])
                #expect(sent.status == 0, "\(sent.stderr)")
                // Reported stored only once a majority (servers 1 and 2) has written it.
                #expect(sent.stdout.contains("queued for bob (offline)"), "\(sent.stdout)")
                let id = try #require(sent.stdout.split(separator: "\n").last?.split(separator: " ").last.map(String.init))
                let stored = try #require(try await cloud.status(from: "alice"))
                #expect(stored.servers.filter { ($0.mail_items ?? 0) > 0 }.count >= 2, "not on a majority: \(stored.servers)")

                // carol reaches only server 3, a minority: her send is never reported stored, and says so.
                for server in ["s1", "s2"] { try lab.separate("carol", server) }
                let minority = try await user("carol", ["send", cloud.folder + "/harbour.png", "--to", "bob"])
                #expect(minority.status == 1 && minority.stderr.hasPrefix("error: only 1 of 3 servers stored the message")
                        && minority.stderr.contains("nothing is claimed as stored"),
                        "\(minority.stdout) \(minority.stderr)")
                #expect(!minority.stdout.contains("queued"))

                // Healed; bob comes back and gets what waited, intact, with its views.
                for peer in ["alice", "bob"] { try lab.separate(peer, "s3", false) }
                for server in ["s1", "s2"] { try lab.separate("carol", server, false) }
                _ = try daemon("bob")
                var inbox = ""
                try await waitUntil("the photo in bob's inbox", within: .seconds(60)) {
                    inbox = try await user("bob", ["inbox"]).stdout + (try await user("bob", ["inbox"]).stderr)
                    return inbox.contains("\(id)  harbour from alice  2 views left")
                }
                if !inbox.contains(id) {
                    let logs = (try? FileManager.default.contentsOfDirectory(atPath: cloud.folder))?.filter { $0.hasSuffix(".log") } ?? []
                    for log in logs.sorted() {
                        let text = (try? String(contentsOfFile: cloud.folder + "/" + log, encoding: .utf8)) ?? ""
                        print("=== \(log)\n\(text.split(separator: "\n").suffix(15).joined(separator: "\n"))")
                    }
                    print("inbox: \(inbox)")
                }
                let view = try await user("bob", ["view", id, "--out", cloud.folder + "/seen.png"])
                #expect(view.status == 0, "\(view.stderr)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: cloud.folder + "/seen.png")) == Data(photo))
                // Delivered, it leaves every server's mailbox, server 3's too (it was never reachable by the peers).
                try await waitUntil("every mailbox empty") {
                    (try await cloud.status(from: "alice"))?.servers.allSatisfy { $0.answered && ($0.mail_items ?? 1) == 0 } ?? false
                }
            }
        }
    }
}
