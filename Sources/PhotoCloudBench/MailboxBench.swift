import AsyncUDP
import Foundation
import PhotoCloudNode
import PhotoCloudProtocol

/// The mailbox against its targets: a grant for an offline user stored (on a
/// majority, as the command waits for it), many messages queued for one user
/// and picked up when the user is back, and a server restarted with them all
/// held. The peers are `PeerActor`s in this process; the cloud is real server
/// processes (`LocalCluster`), which the bench kills and restarts.
public struct MailboxBench: Sendable {
    /// Grants stored one after the other, each timed.
    public var grants = 200
    /// Messages queued for bob in all (the timed grants included).
    public var queued = 10_000
    /// Grants queued at once while filling the mailbox.
    public var concurrency = 16

    public init() {}

    public struct Result: Sendable, Encodable {
        public var grant_store_p50_ms: Double
        public var grant_store_p99_ms: Double
        public var grants_timed: Int
        public var queued: Int
        public var queue_seconds: Double
        public var held_per_server: [String: Int]
        public var restart_serving_ms: Double?
        public var delivery_seconds: Double?
        public var views_after_delivery: Int?
        public var views_expected: Int
        public var left_on_servers: [String: Int]
        public var first_errors: [String]
    }

    public func run(config: ClusterConfig, cloud: LocalCluster, folder: String,
                    progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        var errors: [String] = []
        func peer(_ name: String) throws -> (PeerActor, PeerIdentity, Task<Void, Never>) {
            let home = (folder as NSString).appendingPathComponent("home-\(name)")
            let identity = try PeerIdentity.loadOrCreate(user: name, home: home)
            let actor = try PeerActor(identity: identity, config: config, home: home)
            return (actor, identity, Task { try? await actor.run() })
        }
        let (alice, _, aliceRun) = try peer("alice")
        defer { aliceRun.cancel() }
        var (bob, bobIdentity, bobRun) = try peer("bob")
        progress("registering alice and bob")
        try await waitOnline(["alice", "bob"], config: config, online: true)

        // bob holds a photo of alice's, then goes away.
        let photo = try await alice.send(file: try SyntheticPhoto.png(seed: 77, width: 256, height: 192), title: "mailbox bench",
                                         to: "bob", views: 1).photo
        await bob.leave()
        bobRun.cancel()
        try await waitOnline(["bob"], config: config, online: false)

        // 1. Grants stored for offline bob, one after the other.
        progress("storing \(grants) grants for bob (offline), one at a time")
        var times = LatencySamples()
        var lastViews = 0
        for index in 0..<grants {
            let views = UInt32(index % 9 + 1)
            let start = ContinuousClock.now
            do {
                let (_, queued) = try await alice.grant(photo, to: "bob", views: views)
                times.record(ContinuousClock.now - start)
                if !queued { errors.append("grant \(index) was not queued") }
                lastViews = Int(views)
            } catch {
                errors.append("grant \(index): \(error)")
            }
        }

        // 2. The mailbox filled up to `queued`, `concurrency` at a time.
        let rest = max(0, queued - grants)
        progress("queueing \(rest) more for bob, \(concurrency) at a time")
        let fillStart = ContinuousClock.now
        var next = 0
        var fillErrors: [String] = []
        await withTaskGroup(of: String?.self) { group in
            func add() {
                guard next < rest else { return }
                let views = UInt32(next % 9 + 1)
                next += 1
                group.addTask {
                    do { _ = try await alice.grant(photo, to: "bob", views: views); return nil } catch { return "\(error)" }
                }
            }
            for _ in 0..<concurrency { add() }
            while let failure = await group.next() {
                if let failure { fillErrors.append(failure) }
                add()
            }
        }
        errors += fillErrors.prefix(3)
        // The grant version orders them: the newest one is the last granted, whatever finished when.
        let newest = try alice.store.grantsGiven(photo).first { $0.receiver == "bob" }.map { Int($0.views) } ?? lastViews
        let queueSeconds = (ContinuousClock.now - fillStart).seconds
        var held: [String: Int] = [:]
        for server in config.servers {
            held["\(server.id)"] = try await MailboxClient.held(by: server, user: "bob", key: bobIdentity.signing, config: config, loop: .shared) ?? -1
        }

        // 3. A server killed and restarted with everything it holds: until it hands out its mailbox again.
        progress("restarting server 1 holding \(held["1"] ?? 0) messages")
        cloud.kill(1)
        try await Task.sleep(for: .milliseconds(100))
        try cloud.start(1)
        let restarted = ContinuousClock.now
        var serving: Double?
        while ContinuousClock.now - restarted < .seconds(30) {
            if let count = try? await MailboxClient.held(by: config.servers[0], user: "bob", key: bobIdentity.signing, config: config, loop: .shared),
               count >= (held["1"] ?? 0) {
                serving = (ContinuousClock.now - restarted).seconds * 1_000
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }

        // 4. bob comes back: until everything is applied and no server holds anything for him.
        progress("bob comes back")
        (bob, bobIdentity, bobRun) = try peer("bob")
        defer { bobRun.cancel() }
        let back = ContinuousClock.now
        var delivery: Double?
        var views: Int?
        var left: [String: Int] = [:]
        while ContinuousClock.now - back < .seconds(60) {
            views = (try? await bob.inbox())?.first { $0.photo == photo }.map { Int($0.rights.viewsLeft) }
            left = [:]
            for server in config.servers {
                left["\(server.id)"] = (try? await MailboxClient.held(by: server, user: "bob", key: bobIdentity.signing, config: config, loop: .shared)) ?? -1
            }
            if views == newest, left.values.allSatisfy({ $0 == 0 }) {
                delivery = (ContinuousClock.now - back).seconds
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await bob.leave()
        await alice.leave()
        return Result(grant_store_p50_ms: times.percentile(50) / 1_000, grant_store_p99_ms: times.percentile(99) / 1_000,
                      grants_timed: times.count, queued: grants + rest - fillErrors.count, queue_seconds: queueSeconds,
                      held_per_server: held, restart_serving_ms: serving, delivery_seconds: delivery, views_after_delivery: views,
                      views_expected: newest, left_on_servers: left, first_errors: Array(errors.prefix(5)))
    }

    private func waitOnline(_ names: [String], config: ClusterConfig, online: Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        for name in names {
            while (try await UserLookup.run(name: name, config: config)?.online ?? false) != online {
                guard ContinuousClock.now < deadline else { throw NodeError(.network, "\(name) did not come \(online ? "online" : "offline") within 20 s") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
