import Crypto
import Foundation
import PNGCodec
import PhotoCloudProtocol
import PhotoCloudNode
import PhotoCloudTestKit
import Testing

extension ServerProcesses {
    /// The mailbox on the real binary: what alice sends bob while he is away
    /// survives kill -9 of every server (one, then the other two together)
    /// and reaches bob when he is back.
    @Suite("photocloud mailbox: queued for offline users")
    struct MailboxCLITests {
        static let binary = BinaryRunner.locate()

        struct InboxItem: Decodable { let photo: String; let owner: String; let title: String; let views_left: Int }

        struct Status: Decodable {
            struct Server: Decodable { let id: Int; let answered: Bool; let mail_items: Int? }
            let servers: [Server]
        }

        /// Three server processes from a fresh cluster file, the users' daemons, and the commands a user types.
        final class Cloud {
            let binary: BinaryRunner
            let folder: String
            let cluster: String
            let environment: [String: String]
            var servers: [Process] = []
            var peers: [String: Process] = [:]

            /// `mailbox`: a `[mailbox]` section for the cluster file.
            init(binary: BinaryRunner, folder: String, base: Int, mailbox: String? = nil) async throws {
                self.binary = binary
                self.folder = folder
                cluster = folder + "/cluster.toml"
                environment = ["PHOTOCLOUD_HOME": folder + "/home", "PHOTOCLOUD_CLUSTER": cluster]
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                if let mailbox {
                    let handle = try #require(FileHandle(forWritingAtPath: cluster))
                    handle.seekToEndOfFile()
                    handle.write(Data("\n[mailbox]\n\(mailbox)\n".utf8))
                    try handle.close()
                }
                servers = try (1...3).map { try binary.startServer(id: $0, cluster: cluster, data: folder + "/s\($0)", log: folder + "/server\($0).log") }
            }

            /// kill -9 of everything still running.
            func stop() {
                for process in servers + Array(peers.values) where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }

            func run(_ arguments: [String], as user: String) async throws -> BinaryRunner.Outcome {
                try await binary.run(arguments + ["--user", user], environment: environment, directory: folder, timeout: .seconds(60))
            }

            func startPeer(_ user: String, log: String? = nil) throws {
                peers[user] = try binary.start(["peer", "--user", user], log: folder + "/" + (log ?? "\(user).log"), environment: environment)
            }

            /// Ctrl-C to a user's daemon: the user is offline.
            func stopPeer(_ user: String) {
                guard let peer = peers[user] else { return }
                kill(peer.processIdentifier, SIGINT)
                peer.waitUntilExit()
            }

            /// Until `who` says `text` (20 s at most).
            func waitForWho(_ text: String) async throws {
                try await binary.waitForWho(text, cluster: cluster, environment: environment)
            }

            func killServer(_ id: Int) {
                kill(servers[id - 1].processIdentifier, SIGKILL)
                servers[id - 1].waitUntilExit()
            }

            /// Server `id` again, from its data folder.
            func restartServer(_ id: Int) throws {
                servers[id - 1] = try binary.startServer(id: id, cluster: cluster, data: folder + "/s\(id)", log: folder + "/server\(id)-again.log")
            }

            /// A photo written to the folder under `name`.
            func photo(_ name: String, seed: UInt64, width: Int, height: Int) throws -> [UInt8] {
                let png = try SyntheticPhoto.png(seed: seed, width: width, height: height)
                try Data(png).write(to: URL(fileURLWithPath: folder + "/" + name))
                return png
            }

            /// What each server that answers holds in its mailbox (`status --json`).
            func mailItems() async throws -> [Int: Int] {
                let status = try await binary.run(["status", "--cluster", cluster, "--json"], environment: environment)
                guard status.status == 0, let parsed = try? JSONDecoder().decode(Status.self, from: Data(status.stdout.utf8)) else { return [:] }
                return Dictionary(uniqueKeysWithValues: parsed.servers.compactMap { server in server.mail_items.map { (server.id, $0) } })
            }

            static func lastWord(_ outcome: BinaryRunner.Outcome) -> String {
                outcome.stdout.split(whereSeparator: \.isWhitespace).last.map(String.init) ?? ""
            }
        }

        /// A cloud for `body`, stopped after it.
        func withCloud(mailbox: String? = nil, _ body: (Cloud) async throws -> Void) async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let cloud = try await Cloud(binary: binary, folder: folder, base: TestPorts.cluster(), mailbox: mailbox)
                defer { cloud.stop() }
                try await body(cloud)
            }
        }

        @Test func whatWaitsForBobSurvivesEveryServerKilledAndReachesHimOnce() async throws {
            try await withCloud { cloud in
                func inbox() async throws -> [InboxItem]? {
                    let listed = try await cloud.run(["inbox", "--json"], as: "bob")
                    return listed.status == 0 ? try JSONDecoder().decode([InboxItem].self, from: Data(listed.stdout.utf8)) : nil
                }
                for user in ["alice", "bob"] { try cloud.startPeer(user) }
                try await cloud.waitForWho("online:  alice, bob")

                // bob receives a photo, then goes offline.
                _ = try cloud.photo("beach.png", seed: 8, width: 320, height: 240)
                let first = try await cloud.run(["send", "beach.png", "--to", "bob"], as: "alice")
                #expect(first.status == 0 && !first.stdout.contains("queued"), "\(first.stdout)\(first.stderr)")
                let beachID = Cloud.lastWord(first)
                cloud.stopPeer("bob")

                // alice grants him 5 views and sends a second photo: both queued.
                let granted = try await cloud.run(["grant", beachID, "--to", "bob", "--views", "5"], as: "alice")
                #expect(granted.status == 0 && granted.stdout.hasPrefix("queued for bob (offline)\n"), "\(granted.stdout)\(granted.stderr)")
                let harbour = try cloud.photo("harbour.png", seed: 9, width: 400, height: 300)
                let second = try await cloud.run(["send", "harbour.png", "--to", "bob", "--views", "2"], as: "alice")
                #expect(second.status == 0 && second.stdout.hasPrefix("queued for bob (offline)\n"), "\(second.stdout)\(second.stderr)")
                let harbourID = Cloud.lastWord(second)

                // kill -9 of one server, restarted; then of the other two together, restarted; all from their data folders.
                cloud.killServer(1)
                try cloud.restartServer(1)
                try await Task.sleep(for: .milliseconds(500))
                for id in [2, 3] { kill(cloud.servers[id - 1].processIdentifier, SIGKILL) }
                for id in [2, 3] { cloud.servers[id - 1].waitUntilExit() }
                try cloud.restartServer(2)
                try cloud.restartServer(3)

                // bob comes back: within seconds his inbox shows 5 views of the first photo and holds the second, pixel-identical.
                try cloud.startPeer("bob", log: "bob-again.log")
                let back = ContinuousClock.now
                var items: [InboxItem] = []
                while ContinuousClock.now - back < .seconds(30) {
                    items = try await inbox() ?? []
                    if items.count == 2, items.first(where: { $0.photo == beachID })?.views_left == 5 { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let took = ContinuousClock.now - back
                #expect(items.first { $0.photo == beachID }?.views_left == 5, "\(items)")
                #expect(items.first { $0.photo == harbourID }?.views_left == 2, "\(items)")
                #expect(took < .seconds(15), "bob's mailbox took \(took)")
                let viewed = try await cloud.run(["view", harbourID, "--out", "harbour-seen.png"], as: "bob")
                #expect(viewed.status == 0, "\(viewed.stderr)")
                let seen = try PNGCodec().decode(file: cloud.folder + "/harbour-seen.png")
                #expect(seen == (try PNGCodec().decode(harbour)) && FileManager.default.contents(atPath: cloud.folder + "/harbour-seen.png") == Data(harbour))

                // The grant was applied once: a view takes one, and nothing the servers still hold (or deliver again) gives it back.
                #expect(try await cloud.run(["view", beachID, "--out", "beach-seen.png"], as: "bob").status == 0)
                try await Task.sleep(for: PeerActor.mailInterval + .seconds(2))
                #expect(try await inbox()?.first { $0.photo == beachID }?.views_left == 4)

                // Delivered and acknowledged: the servers hold nothing for bob any more.
                let status = try await cloud.binary.run(["status", "--cluster", cloud.cluster, "--json"], environment: cloud.environment)
                let reported = try JSONDecoder().decode(Status.self, from: Data(status.stdout.utf8)).servers
                #expect(reported.count == 3 && reported.allSatisfy { $0.answered && $0.mail_items == 0 }, "\(status.stdout)")
            }
        }

        /// The cluster file's `[mailbox]` limits hold: over a user's quota the sender hears why, and nothing more is stored.
        @Test func overTheQuotaTheSenderGetsOneClearError() async throws {
            try await withCloud(mailbox: "max_messages_per_user = 2\nttl_days = 7") { cloud in
                for user in ["alice", "bob"] { try cloud.startPeer(user) }
                try await cloud.waitForWho("online:  alice, bob")
                _ = try cloud.photo("beach.png", seed: 2, width: 120, height: 90)
                let shared = try await cloud.run(["send", "beach.png", "--to", "bob"], as: "alice")
                #expect(shared.status == 0, "\(shared.stdout)\(shared.stderr)")
                let photo = Cloud.lastWord(shared)
                cloud.stopPeer("bob")
                for views in [3, 4] {
                    let queued = try await cloud.run(["grant", photo, "--to", "bob", "--views", "\(views)"], as: "alice")
                    #expect(queued.status == 0 && queued.stdout.hasPrefix("queued for bob (offline)"), "\(queued.stdout)\(queued.stderr)")
                }
                let over = try await cloud.run(["grant", photo, "--to", "bob", "--views", "5"], as: "alice")
                #expect(over.status == 1 && over.stderr.hasPrefix("error: ") && over.stderr.contains("bob's mailbox is full (2 messages"),
                        "\(over.stdout)\(over.stderr)")
                #expect(over.stderr.split(separator: "\n").count == 1)
                // bob comes back: the two that were stored arrive (the newest grant wins), and there is room again.
                try cloud.startPeer("bob", log: "bob-again.log")
                var views: Int?
                let back = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < back {
                    let listed = try await cloud.run(["inbox", "--json"], as: "bob")
                    if listed.status == 0, listed.stdout.contains("\"views_left\" : 4") { views = 4; break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(views == 4)
            }
        }

        /// A user whose record names someone else's port as its data endpoint (records are its own to write) asks for
        /// the photo waiting for it: the servers send that port only a small cookie, never the photo.
        @Test func aPhotoGoesOnlyToADataEndpointThatShowsItReceives() async throws {
            try await withCloud { cloud in
                try cloud.startPeer("alice")
                let config = try ClusterFile.load(cloud.cluster)

                // mal registers once, naming the victim's port, and goes quiet (offline after 3.5 s).
                let victim = try Stranger(), registrar = try Stranger()
                let mal = Curve25519.Signing.PrivateKey()
                let record = try Directory.Record(name: "mal", signingKey: Array(mal.publicKey.rawRepresentation),
                                                  agreementKey: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation),
                                                  endpoint: "127.0.0.1:\(victim.address.port)/\(victim.address.port)",
                                                  sequence: ProtocolClock.wallMilliseconds()).signed(with: mal)
                try await cloud.waitForWho("alice")
                for _ in 0..<2 {
                    for server in config.servers { registrar.send(.directoryRegister, DirectoryMessage.register(record).encoded(), to: server.control) }
                    try await Task.sleep(for: .milliseconds(300))
                }
                try await Task.sleep(for: .seconds(4))

                // alice sends mal a photo: it waits in the mailbox.
                _ = try cloud.photo("beach.png", seed: 6, width: 160, height: 120)
                let sent = try await cloud.run(["send", "beach.png", "--to", "mal"], as: "alice")
                #expect(sent.status == 0 && sent.stdout.hasPrefix("queued for mal (offline)"), "\(sent.stdout)\(sent.stderr)")
                let (items, _, _) = try await MailboxClient.fetch(user: "mal", key: mal, config: config, loop: .shared)
                let item = try #require(items.first { $0.hasObject })

                // Asked again and again, with no cookie and with a made-up one: "pending", and a cookie to the victim.
                var asks = 0
                for round in 0..<6 {
                    for server in config.servers {
                        let state = try await MailboxClient.requestObject(item.id, transfer: UInt64.random(in: 1...UInt64.max), from: server, user: "mal",
                                                                          cookie: round % 2 == 0 ? [] : [UInt8](repeating: 7, count: AddressCookies.size),
                                                                          key: mal, config: config, loop: .shared)
                        asks += 1
                        #expect(state == .pending, "server \(server.id) answered \(String(describing: state))")
                    }
                }
                try await victim.collect(for: .seconds(2))
                let notChecks = victim.received.filter { Wire.type(of: $0.bytes[...]) != .addressCheck }
                #expect(notChecks.isEmpty, "the victim got \(notChecks.count) datagrams besides cookies (\(victim.receivedBytes) bytes)")
                #expect(victim.received.count <= asks && victim.received.allSatisfy { $0.bytes.count <= 200 },
                        "\(victim.received.count) datagrams, \(victim.receivedBytes) bytes, for \(asks) requests")
            }
        }

        @Test func aServerThatWasAwayBuriesWhatWasDeliveredAndAMinorityStoresNothing() async throws {
            try await withCloud { cloud in
                for user in ["alice", "bob"] { try cloud.startPeer(user) }
                try await cloud.waitForWho("online:  alice, bob")
                _ = try cloud.photo("beach.png", seed: 4, width: 200, height: 150)
                let shared = try await cloud.run(["send", "beach.png", "--to", "bob", "--views", "1"], as: "alice")
                #expect(shared.status == 0, "\(shared.stdout)\(shared.stderr)")
                let photo = Cloud.lastWord(shared)
                cloud.stopPeer("bob")

                // Queued on all three; then server 3 goes away (kill -9) holding it.
                let granted = try await cloud.run(["grant", photo, "--to", "bob", "--views", "3"], as: "alice")
                #expect(granted.status == 0 && granted.stdout.hasPrefix("queued for bob (offline)"), "\(granted.stderr)")
                var held: [Int: Int] = [:]
                let stored = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < stored {
                    held = try await cloud.mailItems()
                    if held == [1: 1, 2: 1, 3: 1] { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(held == [1: 1, 2: 1, 3: 1], "every server holds the grant: \(held)")
                cloud.killServer(3)

                // bob picks it up from the other two, which delete it.
                try cloud.startPeer("bob", log: "bob-again.log")
                let picked = ContinuousClock.now + .seconds(15)
                while ContinuousClock.now < picked {
                    let listed = try await cloud.run(["inbox", "--json"], as: "bob")
                    if listed.status == 0, listed.stdout.contains("\"views_left\" : 3") { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(try await cloud.run(["view", photo, "--out", "seen.png"], as: "bob").status == 0)
                let deleted = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deleted, try await cloud.mailItems() != [1: 0, 2: 0] { try await Task.sleep(for: .milliseconds(200)) }
                #expect(try await cloud.mailItems() == [1: 0, 2: 0])

                // Server 3 comes back from its data folder still holding the grant: the others' tombstones bury it,
                // and bob does not get it again (his one view used stays used).
                try cloud.restartServer(3)
                let caughtUp = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < caughtUp, try await cloud.mailItems()[3] != 0 { try await Task.sleep(for: .milliseconds(200)) }
                #expect(try await cloud.mailItems() == [1: 0, 2: 0, 3: 0])
                try await Task.sleep(for: PeerActor.mailInterval + .seconds(1))
                let inbox = try await cloud.run(["inbox", "--json"], as: "bob")
                #expect(inbox.stdout.contains("\"views_left\" : 2"), "\(inbox.stdout)")

                // Two servers down: a minority cannot store, and says so; nothing counts as stored.
                cloud.stopPeer("bob")
                for index in [0, 1] { kill(cloud.servers[index].processIdentifier, SIGKILL) }
                let refused = try await cloud.run(["grant", photo, "--to", "bob", "--views", "9"], as: "alice")
                #expect(refused.status == 1 && refused.stderr.hasPrefix("error: ") && refused.stderr.contains("nothing is claimed as stored"),
                        "\(refused.stdout)\(refused.stderr)")
                #expect(!refused.stdout.contains("queued"))
            }
        }
    }
}
