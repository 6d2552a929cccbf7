import AsyncUDP
import Crypto
import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

/// Two `PeerActor`s and a three-server cloud in this process, over real
/// loopback sockets: the story of the peer features, without the CLI.
@Suite("Peers sharing photos through a three-server cloud", .serialized)
struct PeerStoryTests {
    /// A three-server cloud on ports of its own, and alice's and bob's
    /// daemons, both online (as the servers say) before `body` runs, in a
    /// temporary folder (the servers' data folders are in it).
    func withAliceAndBob(_ body: (_ folder: String, CloudServiceTests.Cloud, PeerActor, PeerActor) async throws -> Void) async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await CloudServiceTests.Cloud(folder: folder, base: CloudServiceTests.base())
            let home = folder + "/home"
            let alice = try PeerActor(identity: try PeerIdentity.loadOrCreate(user: "alice", home: home), config: cloud.config, home: home)
            let bob = try PeerActor(identity: try PeerIdentity.loadOrCreate(user: "bob", home: home), config: cloud.config, home: home)
            let runs = [alice, bob].map { peer in Task { try? await peer.run() } }
            defer {
                for run in runs { run.cancel() }
                Task { await alice.leave(); await bob.leave(); await cloud.stop() }
            }
            for name in ["alice", "bob"] {
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline, try await UserLookup.run(name: name, config: cloud.config)?.online != true {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await body(folder, cloud, alice, bob)
        }
    }

    @Test func shareBrowseRequestApproveViewGrantAndSend() async throws {
        try await withAliceAndBob { folder, cloud, alice, bob in
            let beach = PNGFixture.make(.init(width: 300, height: 200, colorType: .rgb, seed: 7)).png
            let (photo, added) = try await alice.share(file: beach, title: "beach")
            #expect(added)
            #expect(try await alice.album().map(\.photo) == [photo])

            let previews = try await bob.browse("alice")
            #expect(previews.map(\.photo) == [photo])
            #expect(previews.map(\.title) == ["beach"])

            let request = try await bob.request(photo, from: "alice", views: 2).id
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
            let sent = try await alice.send(file: sunset, title: "sunset", to: "bob", views: 1).photo
            #expect(try await bob.view(sent).file == sunset)
            // Phones make JPEG: its bytes travel unchanged, and its preview is drawn from it.
            let jpeg = try JPEGEncoder(quality: 85).encode(try SyntheticPhotoImage.make(width: 900, height: 600))
            let sentJPEG = try await alice.send(file: jpeg, title: "phone", to: "bob", views: 1).photo
            #expect(try await bob.view(sentJPEG).file == jpeg)
            let listed = try await bob.browse("alice")
            let jpegPreview = try #require(listed.first { $0.photo == sentJPEG })
            #expect(try PNGCodec().dimensions(of: jpegPreview.png) == (256, 171) || (try PNGCodec().dimensions(of: jpegPreview.png)) == (256, 170))
            // Nothing a server keeps holds either photo's bytes.
            for file in try FileManager.default.subpathsOfDirectory(atPath: folder) where file.hasPrefix("s") {
                guard let data = FileManager.default.contents(atPath: folder + "/" + file) else { continue }
                #expect(data.range(of: Data(beach.suffix(64))) == nil && data.range(of: Data(sunset.suffix(64))) == nil, "\(file)")
            }
        }
    }
}

extension PeerStoryTests {
    /// Mallory knows alice's endpoints (they are in her directory record) and
    /// writes to them: forged envelopes under bob's name, thousands of
    /// made-up senders, garbage. Nothing changes alice's state, her lookups
    /// at the servers stay bounded, and bob is served as before.
    @Test func strangersNeitherForgeNorFloodAPeer() async throws {
        try await withAliceAndBob { _, cloud, alice, bob in
            let (photo, _) = try await alice.share(file: PNGFixture.make(.init(width: 64, height: 64, colorType: .rgb)).png, title: "p")
            let mallory = Curve25519.Signing.PrivateKey()
            let socket = try UDPSocket(bind: .ipv4Loopback(port: 0))
            defer { socket.close() }
            var origin = WireOrigin(sender: 0)
            func post(_ envelope: PeerEnvelope) throws {
                var bytes: [UInt8] = []
                try Wire.encode(into: &bytes, header: origin.next(.peerMessage), keys: WireKeys(),
                                writePayload: { $0.append(contentsOf: try! envelope.signed(with: mallory).encoded()) })
                _ = try socket.trySend(bytes, to: alice.endpoints.control)
            }
            let now = UInt64(Date().timeIntervalSince1970 * 1_000)
            let before = await alice.lookups
            for index in 0..<3_000 {
                // bob's name, mallory's key: a request that would be recorded if believed.
                try post(PeerEnvelope(from: "bob", to: "alice", sentAt: now, nonce: UInt64(index + 1),
                                      message: .request(id: .random(), photo: photo, views: 9)))
                // Made-up senders, each a lookup if nothing bounded them.
                try post(PeerEnvelope(from: "stranger\(index)", to: "alice", sentAt: now, nonce: 1, message: .browse(transfer: 1)))
                _ = try socket.trySend([UInt8](repeating: UInt8(index & 0xFF), count: 100), to: alice.endpoints.control)
                if index % 200 == 0 { try await Task.sleep(for: .milliseconds(20)) }
            }
            try await Task.sleep(for: .seconds(1))
            #expect(try await alice.requests(.incoming).isEmpty, "a forged request was recorded")
            // At most 30 at once and 10 a second (the flood takes a few seconds on a loaded machine).
            let lookups = await alice.lookups - before
            #expect(lookups < 200, "\(lookups) lookups for 3,000 made-up senders")
            // bob is served as before.
            #expect(try await bob.browse("alice").map(\.photo) == [photo])
            _ = try await bob.request(photo, from: "alice", views: 1)
            #expect(try await alice.requests(.incoming).count == 1)
        }
    }
}

/// A photograph-like test image (soft gradients and grain), as JPEG encoders meet them.
enum SyntheticPhotoImage {
    static func make(width: Int, height: Int) throws -> RGBAImage {
        try PNGCodec().decode(try SyntheticPhoto.png(seed: 11, width: width, height: height))
    }
}
