import Foundation
import PhotoCloudTestKit
import Testing

extension ServerProcesses {
    /// `peer` registers users with real servers; `who` sees them come and go; a
    /// restarted server learns the directory from the others.
    @Suite("photocloud peer and who")
    struct DirectoryCLITests {
        static let binary = BinaryRunner.locate()

        struct Who: Decodable { let online: [String]; let offline: [String] }

        func who(_ binary: BinaryRunner, cluster: String) async throws -> Who? {
            let outcome = try await binary.run(["who", "--cluster", cluster, "--json"], timeout: .seconds(20))
            guard outcome.status == 0 else { return nil }
            return try JSONDecoder().decode(Who.self, from: Data(outcome.stdout.utf8))
        }

        func waitFor(_ binary: BinaryRunner, cluster: String, within: Duration, _ condition: (Who) -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + within
            while ContinuousClock.now < deadline {
                if let answer = try await who(binary, cluster: cluster), condition(answer) { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return false
        }

        @Test func usersComeAndGoAndARestartedServerKnowsThem() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = TestPorts.cluster()
                let cluster = folder + "/cluster.toml"
                _ = try await binary.run(["cluster", "init", "--servers", "2", "--base-port", "\(base)", "--out", cluster])
                func server(_ id: Int) throws -> Process {
                    try binary.startServer(id: id, cluster: cluster, data: folder + "/s\(id)", log: folder + "/server\(id)-\(UUID())")
                }
                var servers = try [server(1), server(2)]
                var peers: [Process] = []
                defer { for process in servers + peers where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                let empty = try await waitFor(binary, cluster: cluster, within: .seconds(10)) { $0.online.isEmpty && $0.offline.isEmpty }
                #expect(empty, "who answers, with nobody known yet")

                for user in ["alice", "bob"] {
                    peers.append(try binary.start(["peer", "--user", user, "--home", folder + "/home", "--cluster", cluster], log: folder + "/\(user).log"))
                }
                #expect(try await waitFor(binary, cluster: cluster, within: .seconds(10)) { $0.online == ["alice", "bob"] })

                // Another key cannot take alice's name.
                let impostor = try await binary.run(["peer", "--user", "alice", "--home", folder + "/elsewhere", "--cluster", cluster], timeout: .seconds(20))
                #expect(impostor.status == 1)
                #expect(impostor.stderr.hasPrefix("error: server") && impostor.stderr.contains("belongs to another key"))

                // bob leaves (Ctrl-C): offline at once.
                kill(peers[1].processIdentifier, SIGINT)
                #expect(try await waitFor(binary, cluster: cluster, within: .seconds(5)) { $0.online == ["alice"] && $0.offline == ["bob"] })

                // Server 1 restarts and learns from server 2 that bob exists (bob will not register again).
                kill(servers[0].processIdentifier, SIGKILL)
                servers[0].waitUntilExit()
                servers[0] = try server(1)
                let text = try String(contentsOfFile: cluster, encoding: .utf8)
                let onlyFirst = folder + "/first.toml"
                let second = try #require(text.range(of: "[[server]]", options: .backwards))
                try String(text[..<second.lowerBound]).write(toFile: onlyFirst, atomically: true, encoding: .utf8)
                #expect(try await waitFor(binary, cluster: onlyFirst, within: .seconds(5)) { $0.online == ["alice"] && $0.offline == ["bob"] },
                        "the restarted server knows alice and bob")
            }
        }
    }
}
