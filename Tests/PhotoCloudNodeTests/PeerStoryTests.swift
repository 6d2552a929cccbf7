import AsyncUDP
import Foundation
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

/// Two `PeerActor`s and a three-server cloud in this process, over real
/// loopback sockets: the story of the peer features, without the CLI.
@Suite("Peers sharing photos through a three-server cloud", .serialized)
struct PeerStoryTests {
    @Test func shareBrowseRequestApproveViewGrantAndSend() async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await CloudServiceTests.Cloud(folder: folder, base: CloudServiceTests.base(120))
            let home = folder + "/home"
            let alice = try PeerActor(identity: try PeerIdentity.loadOrCreate(user: "alice", home: home), config: cloud.config, home: home)
            let bob = try PeerActor(identity: try PeerIdentity.loadOrCreate(user: "bob", home: home), config: cloud.config, home: home)
            let runs = [alice, bob].map { peer in Task { try? await peer.run() } }
            defer {
                for run in runs { run.cancel() }
                Task { await alice.leave(); await bob.leave(); await cloud.stop() }
            }
            // Until both are online.
            for name in ["alice", "bob"] {
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline, try await UserLookup.run(name: name, config: cloud.config)?.online != true {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let beach = PNGFixture.make(.init(width: 300, height: 200, colorType: .rgb, seed: 7)).png
            let (photo, added) = try await alice.share(file: beach, title: "beach")
            #expect(added)
            #expect(try await alice.album().map(\.photo) == [photo])

            let previews = try await bob.browse("alice")
            #expect(previews.map(\.photo) == [photo])
            #expect(previews.map(\.title) == ["beach"])

            let request = try await bob.request(photo, from: "alice", views: 2)
            #expect(try await alice.requests(.incoming, state: .pending).map(\.id) == [request])
            _ = try await alice.approve(request, views: nil)
            #expect(try await bob.inbox().map(\.rights.viewsLeft) == [2])
            #expect(try await bob.requests(.outgoing).map(\.state) == [.approved])

            #expect(try await bob.view(photo).file == beach)
            let second = try await bob.view(photo)
            #expect(second.file == beach && second.viewsLeft == 0)
            await #expect(throws: NodeError.self) { try await bob.view(photo) }

            _ = try await alice.grant(photo, to: "bob", views: 1)
            #expect(try await bob.view(photo).viewsLeft == 0)
            await #expect(throws: NodeError.self) { try await bob.view(photo) }

            let sunset = PNGFixture.make(.init(width: 128, height: 96, colorType: .rgba, seed: 9)).png
            let sent = try await alice.send(file: sunset, title: "sunset", to: "bob", views: 1)
            #expect(try await bob.view(sent).file == sunset)
            // Nothing a server keeps holds either photo's bytes.
            for file in try FileManager.default.subpathsOfDirectory(atPath: folder) where file.hasPrefix("s") {
                guard let data = FileManager.default.contents(atPath: folder + "/" + file) else { continue }
                #expect(data.range(of: Data(beach.suffix(64))) == nil && data.range(of: Data(sunset.suffix(64))) == nil, "\(file)")
            }
        }
    }
}
