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

        @Test func whatWaitsForBobSurvivesEveryServerKilledAndReachesHimOnce() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = 33_000 + Int(getpid() % 150) * 10
                let cluster = folder + "/cluster.toml", home = folder + "/home"
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                var servers = try (1...3).map { try binary.startServer(id: $0, cluster: cluster, data: folder + "/s\($0)", log: folder + "/server\($0).log") }
                var peers: [String: Process] = [:]
                defer { for process in servers + Array(peers.values) where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                let environment = ["PHOTOCLOUD_HOME": home, "PHOTOCLOUD_CLUSTER": cluster]
                func run(_ arguments: [String], as user: String) async throws -> BinaryRunner.Outcome {
                    try await binary.run(arguments + ["--user", user], environment: environment, directory: folder, timeout: .seconds(60))
                }
                func lastWord(_ outcome: BinaryRunner.Outcome) -> String {
                    outcome.stdout.split(whereSeparator: \.isWhitespace).last.map(String.init) ?? ""
                }
                func inbox() async throws -> [InboxItem]? {
                    let listed = try await run(["inbox", "--json"], as: "bob")
                    return listed.status == 0 ? try JSONDecoder().decode([InboxItem].self, from: Data(listed.stdout.utf8)) : nil
                }
                func restart(_ id: Int) throws {
                    servers[id - 1] = try binary.startServer(id: id, cluster: cluster, data: folder + "/s\(id)", log: folder + "/server\(id)-again.log")
                }
                for user in ["alice", "bob"] {
                    peers[user] = try binary.start(["peer", "--user", user], log: folder + "/\(user).log", environment: environment)
                }
                let online = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < online {
                    if try await binary.run(["who", "--cluster", cluster], environment: environment).stdout.contains("online:  alice, bob") { break }
                    try await Task.sleep(for: .milliseconds(200))
                }

                // bob receives a photo, then goes offline.
                let beach = try SyntheticPhoto.png(seed: 8, width: 320, height: 240)
                try Data(beach).write(to: URL(fileURLWithPath: folder + "/beach.png"))
                let first = try await run(["send", "beach.png", "--to", "bob"], as: "alice")
                #expect(first.status == 0 && !first.stdout.contains("queued"), "\(first.stdout)\(first.stderr)")
                let beachID = lastWord(first)
                kill(peers["bob"]!.processIdentifier, SIGINT)
                peers["bob"]!.waitUntilExit()

                // alice grants him 5 views and sends a second photo: both queued.
                let granted = try await run(["grant", beachID, "--to", "bob", "--views", "5"], as: "alice")
                #expect(granted.status == 0 && granted.stdout.hasPrefix("queued for bob (offline)\n"), "\(granted.stdout)\(granted.stderr)")
                let harbour = try SyntheticPhoto.png(seed: 9, width: 400, height: 300)
                try Data(harbour).write(to: URL(fileURLWithPath: folder + "/harbour.png"))
                let second = try await run(["send", "harbour.png", "--to", "bob", "--views", "2"], as: "alice")
                #expect(second.status == 0 && second.stdout.hasPrefix("queued for bob (offline)\n"), "\(second.stdout)\(second.stderr)")
                let harbourID = lastWord(second)

                // kill -9 of one server, restarted; then of the other two together, restarted; all from their data folders.
                kill(servers[0].processIdentifier, SIGKILL)
                servers[0].waitUntilExit()
                try restart(1)
                try await Task.sleep(for: .milliseconds(500))
                for id in [2, 3] { kill(servers[id - 1].processIdentifier, SIGKILL) }
                for id in [2, 3] { servers[id - 1].waitUntilExit() }
                try restart(2)
                try restart(3)

                // bob comes back: within seconds his inbox shows 5 views of the first photo and holds the second, pixel-identical.
                peers["bob"] = try binary.start(["peer", "--user", "bob"], log: folder + "/bob-again.log", environment: environment)
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
                let viewed = try await run(["view", harbourID, "--out", "harbour-seen.png"], as: "bob")
                #expect(viewed.status == 0, "\(viewed.stderr)")
                let seen = try PNGCodec().decode(file: folder + "/harbour-seen.png")
                #expect(seen == (try PNGCodec().decode(harbour)) && FileManager.default.contents(atPath: folder + "/harbour-seen.png") == Data(harbour))

                // The grant was applied once: a view takes one, and nothing the servers still hold (or deliver again) gives it back.
                #expect(try await run(["view", beachID, "--out", "beach-seen.png"], as: "bob").status == 0)
                try await Task.sleep(for: PeerActor.mailInterval + .seconds(2))
                #expect(try await inbox()?.first { $0.photo == beachID }?.views_left == 4)

                // Delivered and acknowledged: the servers hold nothing for bob any more.
                let status = try await binary.run(["status", "--cluster", cluster, "--json"], environment: environment)
                let reported = try JSONDecoder().decode(Status.self, from: Data(status.stdout.utf8)).servers
                #expect(reported.count == 3 && reported.allSatisfy { $0.answered && $0.mail_items == 0 }, "\(status.stdout)")
            }
        }

        struct Status: Decodable {
            struct Server: Decodable { let id: Int; let answered: Bool; let mail_items: Int? }
            let servers: [Server]
        }

        /// The cluster file's `[mailbox]` limits hold: over a user's quota the sender hears why, and nothing more is stored.
        @Test func overTheQuotaTheSenderGetsOneClearError() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = 27_000 + Int(getpid() % 150) * 10
                let cluster = folder + "/cluster.toml", home = folder + "/home"
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                let handle = try #require(FileHandle(forWritingAtPath: cluster))
                handle.seekToEndOfFile()
                handle.write(Data("\n[mailbox]\nmax_messages_per_user = 2\nttl_days = 7\n".utf8))
                try handle.close()
                let servers = try (1...3).map { try binary.startServer(id: $0, cluster: cluster, data: folder + "/s\($0)", log: folder + "/server\($0).log") }
                let environment = ["PHOTOCLOUD_HOME": home, "PHOTOCLOUD_CLUSTER": cluster]
                var peers = try ["alice", "bob"].map { try binary.start(["peer", "--user", $0], log: folder + "/\($0).log", environment: environment) }
                defer { for process in servers + peers where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                func run(_ arguments: [String], as user: String) async throws -> BinaryRunner.Outcome {
                    try await binary.run(arguments + ["--user", user], environment: environment, directory: folder, timeout: .seconds(60))
                }
                let online = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < online {
                    if try await binary.run(["who", "--cluster", cluster], environment: environment).stdout.contains("online:  alice, bob") { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let beach = try SyntheticPhoto.png(seed: 2, width: 120, height: 90)
                try Data(beach).write(to: URL(fileURLWithPath: folder + "/beach.png"))
                let photo = try await run(["send", "beach.png", "--to", "bob"], as: "alice").stdout.split(whereSeparator: \.isWhitespace).last.map(String.init) ?? ""
                kill(peers[1].processIdentifier, SIGINT)
                peers[1].waitUntilExit()
                for views in [3, 4] {
                    let queued = try await run(["grant", photo, "--to", "bob", "--views", "\(views)"], as: "alice")
                    #expect(queued.status == 0 && queued.stdout.hasPrefix("queued for bob (offline)"), "\(queued.stdout)\(queued.stderr)")
                }
                let over = try await run(["grant", photo, "--to", "bob", "--views", "5"], as: "alice")
                #expect(over.status == 1 && over.stderr.hasPrefix("error: ") && over.stderr.contains("bob's mailbox is full (2 messages"),
                        "\(over.stdout)\(over.stderr)")
                #expect(over.stderr.split(separator: "\n").count == 1)
                // bob comes back: the two that were stored arrive (the newest grant wins), and there is room again.
                peers[1] = try binary.start(["peer", "--user", "bob"], log: folder + "/bob-again.log", environment: environment)
                var views: Int?
                let back = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < back {
                    let listed = try await run(["inbox", "--json"], as: "bob")
                    if listed.status == 0, listed.stdout.contains("\"views_left\" : 4") { views = 4; break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(views == 4)
            }
        }

        /// A user whose record names someone else's port as its data endpoint (records are its own to write) asks for
        /// the photo waiting for it: the servers send that port only a small cookie, never the photo.
        @Test func aPhotoGoesOnlyToADataEndpointThatShowsItReceives() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = 29_000 + Int(getpid() % 150) * 10
                let cluster = folder + "/cluster.toml", home = folder + "/home"
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                let servers = try (1...3).map { try binary.startServer(id: $0, cluster: cluster, data: folder + "/s\($0)", log: folder + "/server\($0).log") }
                let environment = ["PHOTOCLOUD_HOME": home, "PHOTOCLOUD_CLUSTER": cluster]
                let alice = try binary.start(["peer", "--user", "alice"], log: folder + "/alice.log", environment: environment)
                defer { for process in servers + [alice] where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                let config = try ClusterFile.load(cluster)

                // mal registers once, naming the victim's port, and goes quiet (offline after 3.5 s).
                let victim = try Stranger(), registrar = try Stranger()
                let mal = Curve25519.Signing.PrivateKey()
                let record = try Directory.Record(name: "mal", signingKey: Array(mal.publicKey.rawRepresentation),
                                                  agreementKey: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation),
                                                  endpoint: "127.0.0.1:\(victim.address.port)/\(victim.address.port)",
                                                  sequence: UInt64(Date().timeIntervalSince1970 * 1_000)).signed(with: mal)
                let up = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < up, try await binary.run(["who", "--cluster", cluster], environment: environment).stdout.contains("alice") == false {
                    try await Task.sleep(for: .milliseconds(200))
                }
                for _ in 0..<2 {
                    for server in config.servers { registrar.send(.directoryRegister, DirectoryMessage.register(record).encoded(), to: server.control) }
                    try await Task.sleep(for: .milliseconds(300))
                }
                try await Task.sleep(for: .seconds(4))

                // alice sends mal a photo: it waits in the mailbox.
                let beach = try SyntheticPhoto.png(seed: 6, width: 160, height: 120)
                try Data(beach).write(to: URL(fileURLWithPath: folder + "/beach.png"))
                let sent = try await binary.run(["send", "beach.png", "--to", "mal", "--user", "alice"], environment: environment, directory: folder,
                                                timeout: .seconds(60))
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
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = 31_000 + Int(getpid() % 150) * 10
                let cluster = folder + "/cluster.toml", home = folder + "/home"
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                var servers = try (1...3).map { try binary.startServer(id: $0, cluster: cluster, data: folder + "/s\($0)", log: folder + "/server\($0).log") }
                var peers: [String: Process] = [:]
                defer { for process in servers + Array(peers.values) where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                let environment = ["PHOTOCLOUD_HOME": home, "PHOTOCLOUD_CLUSTER": cluster]
                func run(_ arguments: [String], as user: String) async throws -> BinaryRunner.Outcome {
                    try await binary.run(arguments + ["--user", user], environment: environment, directory: folder, timeout: .seconds(60))
                }
                func mailItems() async throws -> [Int: Int] {
                    let status = try await binary.run(["status", "--cluster", cluster, "--json"], environment: environment)
                    guard status.status == 0, let parsed = try? JSONDecoder().decode(Status.self, from: Data(status.stdout.utf8)) else { return [:] }
                    return Dictionary(uniqueKeysWithValues: parsed.servers.compactMap { server in server.mail_items.map { (server.id, $0) } })
                }
                for user in ["alice", "bob"] {
                    peers[user] = try binary.start(["peer", "--user", user], log: folder + "/\(user).log", environment: environment)
                }
                let online = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < online {
                    if try await binary.run(["who", "--cluster", cluster], environment: environment).stdout.contains("online:  alice, bob") { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let beach = try SyntheticPhoto.png(seed: 4, width: 200, height: 150)
                try Data(beach).write(to: URL(fileURLWithPath: folder + "/beach.png"))
                let shared = try await run(["send", "beach.png", "--to", "bob", "--views", "1"], as: "alice")
                let photo = shared.stdout.split(whereSeparator: \.isWhitespace).last.map(String.init) ?? ""
                kill(peers["bob"]!.processIdentifier, SIGINT)
                peers["bob"]!.waitUntilExit()

                // Queued on all three; then server 3 goes away (kill -9) holding it.
                let granted = try await run(["grant", photo, "--to", "bob", "--views", "3"], as: "alice")
                #expect(granted.status == 0 && granted.stdout.hasPrefix("queued for bob (offline)"), "\(granted.stderr)")
                var held: [Int: Int] = [:]
                let stored = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < stored {
                    held = try await mailItems()
                    if held == [1: 1, 2: 1, 3: 1] { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(held == [1: 1, 2: 1, 3: 1], "every server holds the grant: \(held)")
                kill(servers[2].processIdentifier, SIGKILL)
                servers[2].waitUntilExit()

                // bob picks it up from the other two, which delete it.
                peers["bob"] = try binary.start(["peer", "--user", "bob"], log: folder + "/bob-again.log", environment: environment)
                let picked = ContinuousClock.now + .seconds(15)
                while ContinuousClock.now < picked {
                    let listed = try await run(["inbox", "--json"], as: "bob")
                    if listed.status == 0, listed.stdout.contains("\"views_left\" : 3") { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(try await run(["view", photo, "--out", "seen.png"], as: "bob").status == 0)
                let deleted = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deleted, try await mailItems() != [1: 0, 2: 0] { try await Task.sleep(for: .milliseconds(200)) }
                #expect(try await mailItems() == [1: 0, 2: 0])

                // Server 3 comes back from its data folder still holding the grant: the others' tombstones bury it,
                // and bob does not get it again (his one view used stays used).
                servers[2] = try binary.startServer(id: 3, cluster: cluster, data: folder + "/s3", log: folder + "/server3-again.log")
                let caughtUp = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < caughtUp, try await mailItems()[3] != 0 { try await Task.sleep(for: .milliseconds(200)) }
                #expect(try await mailItems() == [1: 0, 2: 0, 3: 0])
                try await Task.sleep(for: PeerActor.mailInterval + .seconds(1))
                let inbox = try await run(["inbox", "--json"], as: "bob")
                #expect(inbox.stdout.contains("\"views_left\" : 2"), "\(inbox.stdout)")

                // Two servers down: a minority cannot store, and says so; nothing counts as stored.
                kill(peers["bob"]!.processIdentifier, SIGINT)
                peers["bob"]!.waitUntilExit()
                for index in [0, 1] { kill(servers[index].processIdentifier, SIGKILL) }
                let refused = try await run(["grant", photo, "--to", "bob", "--views", "9"], as: "alice")
                #expect(refused.status == 1 && refused.stderr.hasPrefix("error: ") && refused.stderr.contains("nothing is claimed as stored"),
                        "\(refused.stdout)\(refused.stderr)")
                #expect(!refused.stdout.contains("queued"))
            }
        }
    }
}
