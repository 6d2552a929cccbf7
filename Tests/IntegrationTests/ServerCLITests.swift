import Foundation
import PhotoCloudTestKit
import Testing

extension ServerProcesses {
    /// Three real server processes on 127.0.0.1, `status` against them, and a kill -9.
    @Suite("photocloud server and status")
    struct ServerCLITests {
        static let binary = BinaryRunner.locate()

        struct Status: Decodable {
            struct Server: Decodable { let id: Int; let alive: Bool; let handled: UInt64 }
            let servers: [Server]
            let token_holder: Int?
            let epoch: UInt64
            let epoch_generator: UInt64
        }

        func status(_ binary: BinaryRunner, cluster: String) async throws -> Status? {
            let outcome = try await binary.run(["status", "--cluster", cluster, "--json"], timeout: .seconds(20))
            guard outcome.status == 0 else { return nil }
            return try JSONDecoder().decode(Status.self, from: Data(outcome.stdout.utf8))
        }

        /// Polls `status` until `condition` holds (at most `within`).
        func waitFor(_ binary: BinaryRunner, cluster: String, within: Duration,
                     _ condition: (Status) -> Bool) async throws -> Status? {
            let deadline = ContinuousClock.now + within
            var last: Status?
            while ContinuousClock.now < deadline {
                last = try await status(binary, cluster: cluster)
                if let last, condition(last) { return last }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }

        @Test func threeServersShareATokenSurviveKillNineAndTheRestartedOneServesAgain() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = TestPorts.cluster()
                let cluster = folder + "/cluster.toml"
                let written = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                #expect(written.status == 0, "\(written.stderr)")
                func start(_ id: Int) throws -> Process {
                    try binary.startServer(id: id, cluster: cluster, data: folder + "/s\(id)", log: folder + "/log\(id)-\(UUID())")
                }
                var servers = try (1...3).map(start)
                defer { for server in servers where server.isRunning { kill(server.processIdentifier, SIGKILL) } }

                let formed = try await waitFor(binary, cluster: cluster, within: .seconds(10)) {
                    $0.servers.allSatisfy(\.alive) && $0.token_holder != nil && $0.epoch >= 1
                }
                let ring = try #require(formed, "three servers and a token holder within 10 s")
                #expect(ring.servers.map(\.id) == [1, 2, 3])

                // kill -9 one server: the others see it down, and the token lives on.
                kill(servers[0].processIdentifier, SIGKILL)
                servers[0].waitUntilExit()
                let degraded = try await waitFor(binary, cluster: cluster, within: .seconds(5)) {
                    !$0.servers[0].alive && $0.servers[1].alive && $0.servers[2].alive && ($0.token_holder ?? 1) != 1
                }
                #expect(degraded != nil, "server 1 seen down and the token held by 2 or 3 within 5 s")

                // Restarted with the same data folder, it is back in the ring: it takes the token and serves requests
                // again (answering `status` would show only that the process runs).
                servers[0] = try start(1)
                let restarted = ContinuousClock.now
                let seen = try await waitFor(binary, cluster: cluster, within: .seconds(10)) { $0.servers.allSatisfy(\.alive) }
                #expect(seen != nil, "server 1 seen alive again within 10 s")
                if let seen, let before = degraded {
                    #expect(seen.epoch >= before.epoch, "epochs never go back")
                }
                let load = try await binary.run(["bench", "cluster", "--cluster", cluster, "--clients", "5", "--requests", "20", "--interval-ms", "50",
                                                 "--deadline-ms", "30000", "--json", folder + "/after.json"], timeout: .seconds(90))
                #expect(load.status == 0, "\(load.stderr)")
                struct Served: Decodable { let answered: Int; let failed: Int; let per_server: [String: Int] }
                let served = try JSONDecoder().decode(Served.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/after.json")))
                #expect(served.answered == 100 && served.failed == 0)
                #expect((served.per_server["1"] ?? 0) > 0, "the restarted server answered none of 100 requests: \(served.per_server)")
                #expect(ContinuousClock.now - restarted < .seconds(60))
            }
        }

        @Test func statusWithNoServersSaysSo() async throws {
            let binary = try #require(Self.binary)
            try await withTemporaryFolder { folder in
                let cluster = folder + "/cluster.toml"
                _ = try await binary.run(["cluster", "init", "--servers", "2", "--base-port", "\(TestPorts.cluster())", "--out", cluster])
                let outcome = try await binary.run(["status", "--cluster", cluster, "--timeout-ms", "200"])
                #expect(outcome.status == 1)
                #expect(outcome.stderr.hasPrefix("error: no server of"))
                #expect(outcome.stderr.split(separator: "\n").count == 1)
            }
        }

        @Test func aServerNotInTheClusterFileIsRefused() async throws {
            let binary = try #require(Self.binary)
            try await withTemporaryFolder { folder in
                let cluster = folder + "/cluster.toml"
                _ = try await binary.run(["cluster", "init", "--servers", "2", "--base-port", "\(TestPorts.cluster())", "--out", cluster])
                let outcome = try await binary.run(["server", "--id", "7", "--cluster", cluster, "--data", folder + "/s7"])
                #expect(outcome.status == 1)
                #expect(outcome.stderr.hasPrefix("error: server 7 is not in"))
            }
        }
    }
}
