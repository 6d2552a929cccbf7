import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudTestKit
import Testing

extension ServerProcesses {
    /// The peer features on the real binary: 3 server processes, two peer
    /// daemons, and the one-shot commands a user types.
    @Suite("photocloud share, browse, request, approve, view, grant, send")
    struct PeerCLITests {
        static let binary = BinaryRunner.locate()

        struct InboxItem: Decodable { let photo: String; let owner: String; let title: String; let views_left: Int; let received_at: String }
        struct RequestItem: Decodable { let request: String; let from: String; let photo: String; let views: Int }

        @Test func theStoryOfASharedPhoto() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = TestPorts.cluster()
                let cluster = folder + "/cluster.toml", home = folder + "/home"
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                let servers = try (1...3).map { try binary.startServer(id: $0, cluster: cluster, data: folder + "/s\($0)", log: folder + "/server\($0).log") }
                var peers: [Process] = []
                defer { for process in servers + peers where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                let environment = ["PHOTOCLOUD_HOME": home, "PHOTOCLOUD_CLUSTER": cluster]
                func run(_ arguments: [String], as user: String) async throws -> BinaryRunner.Outcome {
                    try await binary.run(arguments + ["--user", user], environment: environment, directory: folder, timeout: .seconds(60))
                }
                func lastWord(_ outcome: BinaryRunner.Outcome) -> String {
                    outcome.stdout.split(whereSeparator: \.isWhitespace).last.map(String.init) ?? ""
                }

                // A command with no daemon says how to start one.
                let early = try await run(["inbox"], as: "bob")
                #expect(early.status == 1 && early.stderr == "error: no peer daemon for bob is running; start one with `photocloud peer --user bob`\n")

                for user in ["alice", "bob"] {
                    peers.append(try binary.start(["peer", "--user", user], log: folder + "/\(user).log", environment: environment))
                }
                // Until both are online (the servers take their records).
                try await binary.waitForWho("online:  alice, bob", cluster: cluster, environment: environment)

                let beach = try SyntheticPhoto.png(seed: 3, width: 640, height: 480)
                try Data(beach).write(to: URL(fileURLWithPath: folder + "/beach.png"))
                let shared = try await run(["share", "beach.png", "--title", "beach"], as: "alice")
                #expect(shared.status == 0, "\(shared.stderr)")
                let photo = lastWord(shared)
                #expect(photo.count == 32)

                // bob sees the low-resolution preview, asks for 2 views.
                let browsed = try await run(["browse", "alice", "--out", "previews"], as: "bob")
                #expect(browsed.status == 0, "browse: \(browsed.stderr)")
                #expect(browsed.stdout.contains("\(photo)  beach  256x192"))
                let preview = try PNGCodec().decode(file: folder + "/previews/\(photo).png")
                #expect(max(preview.width, preview.height) <= 256)
                let asked = try await run(["request", "alice/\(photo)", "--views", "2"], as: "bob")
                #expect(asked.status == 0, "\(asked.stderr)")
                let request = lastWord(asked)

                // alice sees it and approves; bob cannot approve it himself.
                let listed = try await run(["requests", "--json"], as: "alice")
                let pending = try JSONDecoder().decode([RequestItem].self, from: Data(listed.stdout.utf8))
                #expect(pending.map(\.request) == [request] && pending.first?.from == "bob" && pending.first?.views == 2)
                let impostor = try await run(["approve", request], as: "bob")
                #expect(impostor.status == 1 && impostor.stderr.hasPrefix("error: request \(request) is one bob made"))
                let approved = try await run(["approve", request], as: "alice")
                #expect(approved.status == 0, "\(approved.stderr)")

                // Two views, the very bytes shared; the third is refused and writes nothing.
                for index in 1...2 {
                    let viewed = try await run(["view", photo, "--out", "view\(index).png"], as: "bob")
                    #expect(viewed.status == 0, "\(viewed.stderr)")
                    #expect(FileManager.default.contents(atPath: folder + "/view\(index).png") == Data(beach))
                }
                let third = try await run(["view", photo, "--out", "view3.png"], as: "bob")
                #expect(third.status == 1 && third.stderr == "error: no views left for \(photo) (ask alice for more)\n")
                #expect(!FileManager.default.fileExists(atPath: folder + "/view3.png"))

                // One more view from alice.
                let granted = try await run(["grant", photo, "--to", "bob", "--views", "1"], as: "alice")
                #expect(granted.status == 0, "\(granted.stderr)")
                let again = try await run(["view", photo, "--out", "view4.png"], as: "bob")
                #expect(again.status == 0 && FileManager.default.contents(atPath: folder + "/view4.png") == Data(beach), "\(again.stderr)")

                // A server dies (kill -9): the cloud goes on with the other two, and users see only latency.
                kill(servers[0].processIdentifier, SIGKILL)

                // A photo sent directly, as the project was specified: PHOTOCLOUD_USER names the sender.
                let sunset = try SyntheticPhoto.png(seed: 5, width: 300, height: 200)
                try Data(sunset).write(to: URL(fileURLWithPath: folder + "/sunset.png"))
                var senderEnvironment = environment
                senderEnvironment["PHOTOCLOUD_USER"] = "alice"
                let sent = try await binary.run(["send", "sunset.png", "--to", "bob"], environment: senderEnvironment, directory: folder)
                #expect(sent.status == 0, "\(sent.stderr)")
                let sentPhoto = lastWord(sent)
                let inbox = try JSONDecoder().decode([InboxItem].self, from: Data(try await run(["inbox", "--json"], as: "bob").stdout.utf8))
                #expect(Set(inbox.map(\.photo)) == [photo, sentPhoto])
                #expect(inbox.first { $0.photo == sentPhoto }?.views_left == 1)
                let viewedSunset = try await run(["view", sentPhoto, "--out", "sunset-seen.png"], as: "bob")
                #expect(viewedSunset.status == 0 && FileManager.default.contents(atPath: folder + "/sunset-seen.png") == Data(sunset))

                // bob's daemon stops and starts again: everything it held is still there. What alice sent meanwhile
                // (the beach again, with one view: a newer grant) waited in the mailbox of the two servers left, and
                // reaches bob when he is back.
                kill(peers[1].processIdentifier, SIGINT)
                peers[1].waitUntilExit()
                let offline = try await run(["send", "beach.png", "--to", "bob"], as: "alice")
                #expect(offline.status == 0 && offline.stdout.hasPrefix("queued for bob (offline)\n") && lastWord(offline) == photo,
                        "\(offline.stdout)\(offline.stderr)")
                peers[1] = try binary.start(["peer", "--user", "bob"], log: folder + "/bob-again.log", environment: environment)
                var restarted: [InboxItem] = []
                let back = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < back {
                    let listed = try await run(["inbox", "--json"], as: "bob")
                    if listed.status == 0 {
                        restarted = try JSONDecoder().decode([InboxItem].self, from: Data(listed.stdout.utf8))
                        if restarted.first(where: { $0.photo == photo })?.views_left == 1 { break }
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(Set(restarted.map(\.photo)) == [photo, sentPhoto])
                #expect(restarted.first { $0.photo == photo }?.views_left == 1, "the queued grant applied: \(restarted)")
                #expect(restarted.first { $0.photo == sentPhoto }?.views_left == 0)

                // What fails says so in one line.
                let notAPhoto = folder + "/notes.txt"
                try Data("not a photo".utf8).write(to: URL(fileURLWithPath: notAPhoto))
                let refused = try await run(["share", "notes.txt"], as: "alice")
                #expect(refused.status == 1 && refused.stderr == "error: \(notAPhoto) is not a photo (PNG or JPEG)\n")
                let unknown = try await run(["send", "beach.png", "--to", "nobody"], as: "alice")
                #expect(unknown.status == 1 && unknown.stderr.hasPrefix("error: unknown user nobody"))
                let neverReceived = try await run(["view", String(repeating: "0", count: 32)], as: "bob")
                #expect(neverReceived.status == 1 && neverReceived.stderr.contains("never received"))

                // Nothing under the servers' data folders holds either photo (the mailbox held the beach only as the
                // stego PNG made for bob, sealed inside).
                for server in 1...3 {
                    let data = folder + "/s\(server)"
                    for file in FileManager.default.subpaths(atPath: data) ?? [] {
                        guard let bytes = FileManager.default.contents(atPath: data + "/" + file) else { continue }
                        #expect(bytes.range(of: Data(beach.suffix(256))) == nil && bytes.range(of: Data(sunset.suffix(256))) == nil,
                                "server \(server)'s \(file) holds a photo")
                    }
                }
            }
        }
    }
}
