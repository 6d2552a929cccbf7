import Crypto
import PhotoCloudProtocol
import Testing

@Suite("Peers: photo ids, sealing, grants and views")
struct PeerSealingTests {
    let alice = Curve25519.KeyAgreement.PrivateKey(), bob = Curve25519.KeyAgreement.PrivateKey(), eve = Curve25519.KeyAgreement.PrivateKey()
    var parties: PeerSeal.Parties { .init(sender: "alice", receiver: "bob") }
    let photo = PhotoID.of(owner: "alice", file: Array("a photo".utf8))

    @Test func photoIDsNameOwnerAndBytes() {
        let file = Array("same bytes".utf8)
        #expect(PhotoID.of(owner: "alice", file: file) == PhotoID.of(owner: "alice", file: file))
        #expect(PhotoID.of(owner: "alice", file: file) != PhotoID.of(owner: "bob", file: file))
        #expect(PhotoID.of(owner: "alice", file: file) != PhotoID.of(owner: "alice", file: file + [0]))
        let id = PhotoID.of(owner: "alice", file: file)
        #expect(PhotoID(id.description) == id)
        #expect(PhotoID("xyz") == nil)
        #expect(PhotoID(String(repeating: "g", count: 32)) == nil)
    }

    @Test func onlyTheReceiverOpensAndItKnowsTheSender() throws {
        let plaintext = PhotoContents(title: "beach", file: Array(repeating: 7, count: 1_000)).encoded()
        let sealed = try PeerSeal.seal(plaintext, purpose: .photo, parties: parties, context: photo.bytes, own: alice,
                                       other: Array(bob.publicKey.rawRepresentation))
        #expect(!sealed.contains(subsequence: Array(repeating: 7, count: 16)))
        let opened = try PeerSeal.open(sealed, purpose: .photo, parties: parties, context: photo.bytes, own: bob,
                                       other: Array(alice.publicKey.rawRepresentation))
        #expect(try PhotoContents.decode(opened) == PhotoContents(title: "beach", file: Array(repeating: 7, count: 1_000)))
        // Eve (a third user, or a server) cannot open it, nor pass it off as hers.
        #expect(throws: PeerError.self) {
            try PeerSeal.open(sealed, purpose: .photo, parties: parties, context: photo.bytes, own: eve, other: Array(alice.publicKey.rawRepresentation))
        }
        #expect(throws: PeerError.self) {
            try PeerSeal.open(sealed, purpose: .photo, parties: .init(sender: "eve", receiver: "bob"), context: photo.bytes, own: bob,
                              other: Array(eve.publicKey.rawRepresentation))
        }
        // Another photo id, another purpose: refused.
        #expect(throws: PeerError.self) {
            try PeerSeal.open(sealed, purpose: .photo, parties: parties, context: Array(repeating: 0, count: 16), own: bob,
                              other: Array(alice.publicKey.rawRepresentation))
        }
        #expect(throws: PeerError.self) {
            try PeerSeal.open(sealed, purpose: .previews, parties: parties, context: photo.bytes, own: bob, other: Array(alice.publicKey.rawRepresentation))
        }
    }

    @Test(arguments: [0, 1, 13, 40, 500, 1_028])
    func anyChangedByteIsRefused(position: Int) throws {
        var sealed = try PeerSeal.seal(Array(repeating: 1, count: 1_000), purpose: .photo, parties: parties, context: photo.bytes, own: alice,
                                       other: Array(bob.publicKey.rawRepresentation))
        sealed[min(position, sealed.count - 1)] ^= 0x10
        #expect(throws: PeerError.self) {
            try PeerSeal.open(sealed, purpose: .photo, parties: parties, context: photo.bytes, own: bob, other: Array(alice.publicKey.rawRepresentation))
        }
    }

    @Test func bothEndsDeriveTheSameEmbeddingKeyAndNobodyElse() throws {
        let sender = try PeerSeal.embeddingKey(parties: parties, photo: photo, own: alice, other: Array(bob.publicKey.rawRepresentation))
        let receiver = try PeerSeal.embeddingKey(parties: parties, photo: photo, own: bob, other: Array(alice.publicKey.rawRepresentation))
        let stranger = try PeerSeal.embeddingKey(parties: parties, photo: photo, own: eve, other: Array(alice.publicKey.rawRepresentation))
        #expect(sender == receiver && sender.count == 32)
        #expect(stranger != sender)
        let other = try PeerSeal.embeddingKey(parties: parties, photo: PhotoID.of(owner: "alice", file: [1]), own: alice,
                                              other: Array(bob.publicKey.rawRepresentation))
        #expect(other != sender)
    }

    @Test func grantsApplyOnlyNewerAndOnlyTheOwners() throws {
        let owner = Curve25519.Signing.PrivateKey(), mallory = Curve25519.Signing.PrivateKey()
        let ownerKey = Array(owner.publicKey.rawRepresentation)
        func grant(_ views: UInt32, _ version: UInt64, by key: Curve25519.Signing.PrivateKey) throws -> Grant {
            try Grant(photo: photo, owner: "alice", receiver: "bob", views: views, version: version).signed(with: key)
        }
        func apply(_ grant: Grant, _ rights: ViewRights?) -> ViewRights.GrantOutcome {
            ViewRights.apply(grant, to: rights, photo: photo, owner: "alice", receiver: "bob", ownerKey: ownerKey)
        }
        var rights = ViewRights(viewsLeft: 2, version: 10)
        #expect(apply(try grant(5, 11, by: owner), rights) == .applied(ViewRights(viewsLeft: 5, version: 11)))
        #expect(apply(try grant(5, 10, by: owner), rights) == .stale)
        #expect(apply(try grant(5, 9, by: owner), rights) == .stale)
        guard case .refused = apply(try grant(9, 12, by: mallory), rights) else { Issue.record("a forged grant was taken"); return }
        var tampered = try grant(1, 12, by: owner)
        tampered.views = 1_000
        guard case .refused = apply(tampered, rights) else { Issue.record("a changed grant was taken"); return }
        var forCarol = try grant(1, 12, by: owner)
        forCarol.receiver = "carol"
        guard case .refused = apply(forCarol, rights) else { Issue.record("carol's grant was taken by bob"); return }
        // Views count down and stop at zero; a revocation (0) leaves none.
        rights = try rights.viewed(photo: photo, owner: "alice")
        rights = try rights.viewed(photo: photo, owner: "alice")
        #expect(rights.viewsLeft == 0)
        #expect(throws: PeerError(.noViewsLeft, "no views left for \(photo) (ask alice for more)")) { try rights.viewed(photo: photo, owner: "alice") }
        #expect(apply(try grant(0, 13, by: owner), ViewRights(viewsLeft: 4, version: 12)) == .applied(ViewRights(viewsLeft: 0, version: 13)))
    }
}

@Suite("Peers: messages on the wire")
struct PeerMessageTests {
    static let signer = Curve25519.Signing.PrivateKey()
    static let photo = PhotoID.of(owner: "alice", file: [1, 2, 3])
    static var grant: Grant { try! Grant(photo: photo, owner: "alice", receiver: "bob", views: 3, version: 77).signed(with: signer) }
    static let messages: [PeerMessage] = [
        .browse(transfer: 42), .request(id: RequestKey(bytes: [1, 2, 3, 4, 5, 6, 7, 8])!, photo: photo, views: 3),
        .deny(id: RequestKey(bytes: [8, 7, 6, 5, 4, 3, 2, 1])!),
        .offer(.init(id: 9, photo: photo, stegoBytes: 123_456, grant: grant, request: RequestKey(bytes: [1, 1, 1, 1, 1, 1, 1, 1])!)),
        .offer(.init(id: 10, photo: photo, stegoBytes: 1, grant: grant)),
        .status(offer: 9), .grant(grant), .ok, .refused("no such photo"), .pull(transfer: 5), .pending,
    ]

    @Test(arguments: messages)
    func roundTripsSignedAndRefusesAnyChange(message: PeerMessage) throws {
        let envelope = try PeerEnvelope(from: "alice", to: "bob", sentAt: 1_700_000_000_000, nonce: 99, replyTo: message.isReply ? 5 : 0,
                                        message: message).signed(with: Self.signer)
        let bytes = envelope.encoded()
        let decoded = try PeerEnvelope.decode(bytes[...])
        #expect(decoded == envelope)
        #expect(decoded.isSigned(by: Array(Self.signer.publicKey.rawRepresentation)))
        #expect(!decoded.isSigned(by: Array(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation)))
        // Truncated anywhere: an error, never a trap. A flipped bit: an error or a signature that fails.
        for length in 0..<bytes.count {
            #expect(throws: WireError.self) { try PeerEnvelope.decode(bytes[0..<length]) }
        }
        for index in stride(from: 0, to: bytes.count - 64, by: 3) {
            var changed = bytes
            changed[index] ^= 0x01
            if let other = try? PeerEnvelope.decode(changed[...]) {
                #expect(!other.isSigned(by: Array(Self.signer.publicKey.rawRepresentation)))
            }
        }
    }

    @Test func previewBundlesRoundTripAndStayWithinTheirLimits() throws {
        let items = (0..<3).map { PreviewBundle.Item(photo: PhotoID.of(owner: "a", file: [UInt8($0)]), title: "t\($0)", png: [UInt8](repeating: UInt8($0), count: 100)) }
        let bytes = PreviewBundle(items: items).encoded()
        #expect(try PreviewBundle.decode(bytes).items == items)
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: PeerError.self) { try PreviewBundle.decode(Array(bytes[0..<length])) }
        }
        // A count that the bytes cannot hold is refused, not allocated.
        var forged = Array("PCV1".utf8)
        forged += [0xFF, 0xFF]
        #expect(throws: PeerError.self) { try PreviewBundle.decode(forged) }
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { self[$0..<($0 + subsequence.count)].elementsEqual(subsequence) }
    }
}
