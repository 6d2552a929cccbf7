import Crypto
import PhotoCloudProtocol
import Testing

@Suite("Peers: the receiver's side of a photo on its way (PhotoOffers)")
struct PhotoOffersTests {
    let alice = Curve25519.Signing.PrivateKey(), mallory = Curve25519.Signing.PrivateKey()
    let photo = PhotoID.of(owner: "alice", file: [7, 7, 7])
    var keys: (signingKey: [UInt8], agreementKey: [UInt8]) { (Array(alice.publicKey.rawRepresentation), [UInt8](repeating: 9, count: 32)) }

    func offer(id: UInt64 = 1, views: UInt32 = 2, version: UInt64 = 10, to receiver: String = "bob", bytes: UInt64 = 5_000,
               signer: Curve25519.Signing.PrivateKey? = nil) throws -> PeerMessage.Offer {
        let grant = try Grant(photo: photo, owner: "alice", receiver: receiver, views: views, version: version).signed(with: signer ?? alice)
        return .init(id: id, photo: photo, stegoBytes: bytes, grant: grant)
    }

    @Test func anOfferBecomesATransferToPullThenStoredAndTheSenderHearsIt() throws {
        var offers = PhotoOffers()
        let outcome = offers.offered(try offer(), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 77 }, now: .zero)
        #expect(outcome == .pull(transfer: 77, maxBytes: 5_000, within: .seconds(120)))
        #expect(offers.status(1, from: "alice") == .pending)
        // The same offer again (the reply was lost): the same transfer, no new entry.
        #expect(offers.offered(try offer(), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 88 }, now: .zero)
                == .pull(transfer: 77, maxBytes: 5_000, within: .seconds(120)))
        #expect(offers.arrived(transfer: 99) == nil)
        #expect(offers.arrived(transfer: 77)?.id == 1)
        #expect(offers.arrived(transfer: 77) == nil, "a second arrival is not opened again")
        #expect(offers.status(1, from: "alice") == .pending)
        #expect(offers.status(1, from: "mallory") == .refused("no offer 1 from mallory here"))
        offers.opened(1, failure: nil)
        #expect(offers.status(1, from: "alice") == .ok)
    }

    @Test func aPhotoThatDoesNotOpenIsReportedAsRefused() throws {
        var offers = PhotoOffers()
        _ = offers.offered(try offer(), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 5 }, now: .zero)
        _ = offers.arrived(transfer: 5)
        offers.opened(1, failure: "the photo inside is not the one named")
        #expect(offers.status(1, from: "alice") == .refused("the photo inside is not the one named"))
    }

    @Test func offersThatDoNotFitAreRefused() throws {
        var offers = PhotoOffers(capacity: 2, maxBytes: 10_000)
        func outcome(_ offer: PeerMessage.Offer, by user: String = "alice") -> PhotoOffers.Outcome {
            offers.offered(offer, by: user, to: "bob", keys: keys, held: nil, newTransfer: { 1 }, now: .zero)
        }
        #expect(outcome(try offer(to: "carol")) == .refused("the grant does not fit the offer"))
        #expect(outcome(try offer(), by: "mallory") == .refused("the grant does not fit the offer"))
        #expect(outcome(try offer(signer: mallory)) == .refused("the grant is not signed by alice"))
        #expect(outcome(try offer(bytes: 10_001)) == .refused("a photo of 10001 bytes is too large"))
        #expect(outcome(try offer(bytes: 0)) == .refused("a photo of 0 bytes is too large"))
        _ = outcome(try offer(id: 1))
        _ = outcome(try offer(id: 2))
        #expect(outcome(try offer(id: 3)) == .refused("bob is taking in too many photos now; try again"))
        #expect(offers.entries.count == 2)
    }

    @Test func photosTakenInDoNotCountAgainstTheOpenOffers() throws {
        var offers = PhotoOffers(capacity: 2, memory: 3)
        // Forty photos one after the other: each is taken in before the next; none is refused.
        for id in UInt64(1)...40 {
            let outcome = offers.offered(try offer(id: id), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { id * 10 }, now: .zero)
            #expect(outcome == .pull(transfer: id * 10, maxBytes: 5_000, within: .seconds(120)), "offer \(id)")
            _ = offers.arrived(transfer: id * 10)
            offers.opened(id, failure: nil)
        }
        #expect(offers.openCount == 0)
        // The latest decided ones are remembered for the sender's status calls, a bounded number of them.
        #expect(offers.status(40, from: "alice") == .ok)
        #expect(offers.entries.count <= 4)
        // Open ones are what the capacity bounds.
        _ = offers.offered(try offer(id: 100), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 1_000 }, now: .zero)
        _ = offers.offered(try offer(id: 101), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 1_010 }, now: .zero)
        #expect(offers.offered(try offer(id: 102), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 1_020 }, now: .zero)
                == .refused("bob is taking in too many photos now; try again"))
    }

    @Test func aPhotoHeldAlreadyTakesOnlyANewerGrant() throws {
        var offers = PhotoOffers()
        let held = (owner: "alice", rights: ViewRights(viewsLeft: 0, version: 10))
        #expect(offers.offered(try offer(views: 3, version: 11), by: "alice", to: "bob", keys: keys, held: held, newTransfer: { 1 }, now: .zero)
                == .held(rights: ViewRights(viewsLeft: 3, version: 11)))
        #expect(offers.offered(try offer(views: 3, version: 10), by: "alice", to: "bob", keys: keys, held: held, newTransfer: { 1 }, now: .zero)
                == .held(rights: nil))
        #expect(offers.offered(try offer(views: 3, version: 12, signer: mallory), by: "alice", to: "bob", keys: keys, held: held,
                               newTransfer: { 1 }, now: .zero) == .refused("the grant is not signed by alice"))
        #expect(offers.entries.isEmpty, "nothing to pull for a photo held")
    }

    @Test func offersExpireButNotWhileOpening() throws {
        var offers = PhotoOffers(lifetime: .seconds(10))
        _ = offers.offered(try offer(id: 1), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 1 }, now: .zero)
        _ = offers.offered(try offer(id: 2), by: "alice", to: "bob", keys: keys, held: nil, newTransfer: { 2 }, now: .zero)
        _ = offers.arrived(transfer: 2)
        offers.expire(now: .zero + .seconds(11))
        #expect(offers.entries.keys.sorted() == [2])
        offers.opened(2, failure: nil)
        offers.expire(now: .zero + .seconds(12))
        #expect(offers.entries.isEmpty)
    }
}
