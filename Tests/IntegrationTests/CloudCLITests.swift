import Foundation
import PhotoCloudTestKit
import Testing

extension ServerProcesses {
    /// The encryption service through the real binary: `encrypt` against server
    /// processes, `cluster up`, and `bench cluster` with a kill -9.
    @Suite("photocloud encrypt, cluster up, bench cluster")
    struct CloudCLITests {
        static let binary = BinaryRunner.locate()

        @Test func encryptThroughThreeServersSurvivesAKillNine() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = 31_000 + Int(getpid() % 150) * 100
                let cluster = folder + "/cluster.toml"
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                let servers = try (1...3).map { id in
                    try binary.startServer(id: id, cluster: cluster, data: folder + "/s\(id)", log: folder + "/log\(id)")
                }
                defer { for server in servers where server.isRunning { kill(server.processIdentifier, SIGKILL) } }
                let message = "meet me at the harbour at seven"
                try Data(message.utf8).write(to: URL(fileURLWithPath: folder + "/message.txt"))

                let first = try await binary.run(["encrypt", folder + "/message.txt", "--key", "sunset", "--out", folder + "/one.png", "--cluster", cluster],
                                                 timeout: .seconds(60))
                #expect(first.status == 0, "\(first.stderr)")
                #expect(first.stdout.hasPrefix("hid \(message.utf8.count) bytes in"))
                let back = try await binary.run(["stego", "extract", "--in", folder + "/one.png", "--key", "sunset", "--out", folder + "/back.txt"])
                #expect(back.status == 0, "\(back.stderr)")
                #expect(try String(contentsOfFile: folder + "/back.txt", encoding: .utf8) == message)

                // kill -9 a server: the next requests are served by the others; clients see only latency.
                kill(servers[1].processIdentifier, SIGKILL)
                for index in 0..<3 {
                    let outcome = try await binary.run(["encrypt", folder + "/message.txt", "--key", "hex:00112233445566778899aabbccddeeff",
                                                        "--out", folder + "/after\(index).png", "--cluster", cluster], timeout: .seconds(60))
                    #expect(outcome.status == 0, "\(outcome.stderr)")
                    #expect(!outcome.stdout.contains("by server 2 "))
                }
                let wrongKey = try await binary.run(["stego", "extract", "--in", folder + "/after0.png", "--key", "sunset", "--out", folder + "/x"])
                #expect(wrongKey.status == 1 && wrongKey.stderr.hasPrefix("error: "))
            }
        }

        @Test func encryptWithNoServersFailsWithOneLine() async throws {
            let binary = try #require(Self.binary)
            try await withTemporaryFolder { folder in
                let cluster = folder + "/cluster.toml"
                _ = try await binary.run(["cluster", "init", "--servers", "2", "--base-port", "\(27_000 + Int(getpid() % 200) * 4)", "--out", cluster])
                try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/x.txt"))
                let outcome = try await binary.run(["encrypt", folder + "/x.txt", "--key", "k", "--out", folder + "/x.png", "--cluster", cluster, "--timeout-ms", "600"])
                #expect(outcome.status == 1)
                #expect(outcome.stderr.hasPrefix("error: no answer to request"))
                #expect(outcome.stderr.split(separator: "\n").count == 1)
                #expect(!FileManager.default.fileExists(atPath: folder + "/x.png"))
            }
        }

        @Test func clusterUpRunsServersUntilInterrupted() async throws {
            let binary = try #require(Self.binary)
            try await withTemporaryFolder { folder in
                // Its own home: the default layout (ports 7101..) may be in use here, so a cluster file at free ports first.
                let base = 32_000 + Int(getpid() % 150) * 100
                try FileManager.default.createDirectory(atPath: folder + "/cloud", withIntermediateDirectories: true)
                _ = try await binary.run(["cluster", "init", "--servers", "2", "--base-port", "\(base)", "--out", folder + "/cloud/cluster.toml"])
                let up = try binary.start(["cluster", "up", "--data", folder + "/cloud"], log: folder + "/up.log")
                defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
                var ready = false
                for _ in 0..<300 where !ready {
                    try await Task.sleep(for: .milliseconds(100))
                    ready = ((try? String(contentsOfFile: folder + "/up.log", encoding: .utf8)) ?? "").contains("Ctrl-C stops them all")
                }
                #expect(ready, "cluster up reports its servers")
                let status = try await binary.run(["status", "--cluster", folder + "/cloud/cluster.toml", "--json"], timeout: .seconds(20))
                #expect(status.status == 0 && status.stdout.contains("\"alive\" : true"), "\(status.stdout)")
                kill(up.processIdentifier, SIGINT)
                for _ in 0..<100 where up.isRunning { try await Task.sleep(for: .milliseconds(50)) }
                #expect(!up.isRunning)
                let log = (try? String(contentsOfFile: folder + "/up.log", encoding: .utf8)) ?? ""
                #expect(log.contains("stopped 2 servers"))
                let after = try await binary.run(["status", "--cluster", folder + "/cloud/cluster.toml", "--timeout-ms", "300"])
                #expect(after.status == 1, "no server left running")
            }
        }

        struct BenchResult: Decodable {
            let sent: Int, answered: Int, failed: Int, failure_rate: Double, p50_ms: Double, p99_ms: Double, throughput_rps: Double
            let service_p99_ms: Double, start_lag_max_ms: Double
            let per_server: [String: Int]
            let killed_server: Int?
            let failover_ms: Double?
            let rejoin_ms: Double?
        }

        @Test func benchClusterWithAKillLosesNothing() async throws {
            let binary = try #require(Self.binary)
            try await withTemporaryFolder { folder in
                // A generous deadline: this checks that nothing is lost, not how fast (that is `bench`'s job).
                let outcome = try await binary.run(["bench", "cluster", "--clients", "20", "--requests", "4", "--interval-ms", "100",
                                                    "--faults", "kill", "--deadline-ms", "60000", "--json", folder + "/bench.json"],
                                                   timeout: .seconds(120))
                #expect(outcome.status == 0, "\(outcome.stderr)")
                let result = try JSONDecoder().decode(BenchResult.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/bench.json")))
                #expect(result.sent == 80)
                #expect(result.answered == 80 && result.failed == 0 && result.failure_rate == 0)
                #expect(result.per_server.values.reduce(0, +) == 80)
                #expect(result.killed_server != nil && result.failover_ms != nil)
                #expect(result.p50_ms > 0 && result.p99_ms >= result.p50_ms && result.throughput_rps > 0)
                // Each request's latency runs from its scheduled send time, which is never after its attempt starts.
                #expect(result.p99_ms >= result.service_p99_ms && result.start_lag_max_ms >= 0)
            }
        }
    }
}
