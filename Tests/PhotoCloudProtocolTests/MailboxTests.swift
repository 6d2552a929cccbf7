import Crypto
import PhotoCloudProtocol
import Testing

@Suite("Mailbox: items, messages, a server's mailbox")
struct MailboxTests {
    static func item(_ text: String, to recipient: String = "bob", object: [UInt8]? = nil) -> MailItem {
        MailItem(recipient: recipient, sender: "alice", envelope: Array(text.utf8), objectBytes: UInt64(object?.count ?? 0),
                 objectDigest: object.map { Array(SHA256.hash(data: $0)) } ?? [], signature: [UInt8](repeating: 0, count: 64))
    }

    // MARK: Items and messages

    @Test func anItemIsNamedByWhatItCarries() throws {
        let a = Self.item("grant 5"), b = Self.item("grant 5"), c = Self.item("grant 6")
        #expect(a.id == b.id && a.id != c.id && a.isWellFormed)
        #expect(Self.item("photo", object: [1, 2, 3]).id != Self.item("photo", object: [1, 2, 4]).id, "the object's digest is part of the name")
        // Other content under an item's id does not decode.
        var bytes: [UInt8] = []
        a.append(to: &bytes)
        bytes[bytes.count - 64 - 1 - 8 - 3] ^= 1   // in the envelope (before the object's size, digest length and signature)
        #expect(throws: WireError.self) {
            var reader = ByteReader(bytes[...])
            _ = try MailItem.read(&reader)
        }
        var lying = a
        lying.objectBytes = 10   // an object announced without its digest
        #expect(!lying.isWellFormed)
    }

    @Test func messagesRoundTripAndEveryTruncationIsATypedError() throws {
        let item = Self.item("offer", object: [UInt8](repeating: 7, count: 100))
        let query = QueryHeader(nonce: 77, cookie: [UInt8](repeating: 3, count: AddressCookies.size))
        let proof = MailProof(user: "bob", time: 1_700_000_000_000, signature: [UInt8](repeating: 9, count: 64))
        let messages: [MailMessage] = [
            .store(query, item), .store(QueryHeader(nonce: 1), Self.item("grant")),
            .status(nonce: 77, id: item.id, state: .stored), .status(nonce: 77, id: item.id, state: .pending),
            .status(nonce: 77, id: item.id, state: .sendObject(transfer: 5)), .status(nonce: 77, id: item.id, state: .refused("full")),
            .fetch(query, proof, offset: 3), .list(nonce: 77, total: 9, offset: 3, items: [item, Self.item("grant")]),
            .fetchObject(query, proof, id: item.id, transfer: 11, cookie: [UInt8](repeating: 4, count: AddressCookies.size)),
            .fetchObject(query, proof, id: item.id, transfer: 11, cookie: []), .acknowledge(query, proof, ids: [item.id, Self.item("x").id]),
            .acknowledged(nonce: 77, count: 2), .syncRequest(offset: 1_000),
            .syncList(total: 1_001, offset: 1_000, held: [item.id], tombstones: []), .syncFetch(ids: [item.id]),
            .syncItems([item]), .syncObject(id: item.id, transfer: 12),
        ]
        for message in messages {
            let body = message.encoded()
            #expect(try MailMessage.decode(type: message.type, body: body[...]) == message, "\(message.type)")
            for cut in 0..<body.count {
                #expect(throws: WireError.self) { try MailMessage.decode(type: message.type, body: body[0..<cut]) }
            }
            #expect(throws: WireError.self) { try MailMessage.decode(type: message.type, body: (body + [0])[...]) }
        }
        // More ids than one message may carry.
        var tooMany: [UInt8] = []
        tooMany.appendBigEndian(UInt16(MailMessage.idsPerMessage + 1))
        tooMany += [UInt8](repeating: 1, count: (MailMessage.idsPerMessage + 1) * MailID.size)
        #expect(throws: WireError.self) { try MailMessage.decode(type: .mailSyncFetch, body: tooMany[...]) }
    }

    @Test func aProofIsTheUsersSignatureOnThisVeryRequestNearNow() throws {
        let bob = Curve25519.Signing.PrivateKey(), mallory = Curve25519.Signing.PrivateKey()
        let now: UInt64 = 1_700_000_000_000
        let unsigned = MailMessage.fetch(QueryHeader(nonce: 5), MailProof(user: "bob", time: 0), offset: 0)
        let signed = try MailProof.sign(unsigned, user: "bob", time: now, key: bob)
        guard case .fetch(let query, let proof, _) = signed else { Issue.record("not a fetch"); return }
        let key = Array(bob.publicKey.rawRepresentation)
        #expect(proof.isValid(for: signed, key: key, now: now + 1_000))
        #expect(!proof.isValid(for: signed, key: Array(mallory.publicKey.rawRepresentation), now: now), "another key")
        #expect(!proof.isValid(for: signed, key: key, now: now + MailProof.window + 1), "too old")
        #expect(!proof.isValid(for: .fetch(query, proof, offset: 1), key: key, now: now), "another offset")
        #expect(!proof.isValid(for: .fetch(QueryHeader(nonce: 6), proof, offset: 0), key: key, now: now), "another nonce")
        let ack = try MailProof.sign(.acknowledge(QueryHeader(nonce: 5), MailProof(user: "bob", time: 0), ids: [Self.item("a").id]),
                                     user: "bob", time: now, key: bob)
        guard case .acknowledge(_, let ackProof, _) = ack else { return }
        #expect(!ackProof.isValid(for: .acknowledge(QueryHeader(nonce: 5), ackProof, ids: [Self.item("b").id]), key: key, now: now),
                "other ids")
    }

    // MARK: The machine

    @Test func anItemCountsAsStoredOnlyOnceWritten() {
        var box = Mailbox()
        let grant = Self.item("grant")
        #expect(box.store(grant, now: 1) == .commit)
        #expect(box.store(grant, now: 2) == .committing, "being written: the sender hears once it is")
        #expect(box.held(for: "bob").isEmpty)
        box.committed(grant.id)
        #expect(box.store(grant, now: 3) == .stored)
        #expect(box.held(for: "bob") == [grant.id] && box.heldCount == 1)
        // A failed write frees its room and is not stored.
        let other = Self.item("grant 2")
        #expect(box.store(other, now: 4) == .commit)
        box.commitFailed(other.id)
        #expect(box.store(other, now: 5) == .commit)
    }

    @Test func aPhotoWaitsForItsObjectAndThenIsWritten() {
        var box = Mailbox()
        let photo = Self.item("offer", object: [UInt8](repeating: 1, count: 5_000))
        #expect(box.store(photo, now: 1) == .awaitObject(bytes: 5_000))
        #expect(box.store(photo, now: 2) == .awaitObject(bytes: 5_000))
        #expect(box.objectArrived(photo.id) == .commit)
        box.committed(photo.id)
        #expect(box.store(photo, now: 3) == .stored)
        // One whose object never comes gives its room back.
        var other = Mailbox(limits: .init(perUserItems: 1))
        #expect(other.store(photo, now: 0) == .awaitObject(bytes: 5_000))
        #expect(other.store(Self.item("grant"), now: 1) != .commit, "the waiting photo holds its room")
        let expiry = other.expire(now: 120_000)
        #expect(expiry.abandoned == [photo.id] && expiry.expired.isEmpty)
        #expect(other.store(Self.item("grant"), now: 120_001) == .commit)
    }

    @Test func quotasRefuseWithAReason() {
        var box = Mailbox(limits: .init(perUserItems: 2, perUserBytes: 10_000, totalBytes: 20_000))
        for text in ["a", "b"] {
            #expect(box.store(Self.item(text), now: 1) == .commit)
        }
        guard case .refused(let why) = box.store(Self.item("c"), now: 1) else { Issue.record("not refused"); return }
        #expect(why.contains("bob's mailbox is full"))
        #expect(box.store(Self.item("c", to: "carol"), now: 1) == .commit, "another user's room")
        if case .refused = box.store(Self.item("big", to: "dave", object: [UInt8](repeating: 0, count: 10_001)), now: 1) {} else {
            Issue.record("a photo over a user's bytes")
        }
    }

    @Test func anAcknowledgementDeletesOnlyTheRecipientsItemsAndLeavesATombstone() {
        var box = Mailbox()
        let grant = Self.item("grant")
        _ = box.store(grant, now: 1)
        box.committed(grant.id)
        #expect(box.acknowledged([grant.id], by: "mallory", now: 2).isEmpty, "only the recipient acknowledges")
        #expect(box.acknowledged([grant.id], by: "bob", now: 3) == [grant.id])
        #expect(box.held(for: "bob").isEmpty && box.isTombstoned(grant.id))
        // A late copy (a sender's retry, another server's catch-up) is not taken again.
        #expect(box.store(grant, now: 4) == .stored)
        #expect(box.held(for: "bob").isEmpty)
        #expect(box.usage(of: "bob").items == 0)
    }

    @Test func aTombstoneFromAnotherServerBuriesTheItemAndItemsExpire() {
        var box = Mailbox(limits: .init(timeToLive: 1_000))
        let a = Self.item("a"), b = Self.item("b")
        for item in [a, b] {
            _ = box.store(item, now: 10)
            box.committed(item.id)
        }
        let wasHeld = box.buried(a.id, at: 20)
        #expect(wasHeld)
        #expect(box.held(for: "bob") == [b.id] && box.tombstoneIDs == [a.id])
        #expect(box.expire(now: 1_009).expired.isEmpty)
        #expect(box.expire(now: 1_010).expired == [b.id])
        #expect(box.heldCount == 0 && box.totalBytes == 0)
    }

    @Test func anItemIsSignedByItsSenderAndAnotherObjectIsAnotherUnsignedItem() throws {
        let alice = Curve25519.Signing.PrivateKey()
        let signed = try Self.item("offer", object: [1, 2, 3]).signed(with: alice)
        let key = Array(alice.publicKey.rawRepresentation)
        #expect(signed.isSigned(by: key))
        #expect(!signed.isSigned(by: Array(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation)))
        // A captured item with another object's digest is another id, which the signature does not cover.
        var swapped = MailItem(recipient: "bob", sender: "alice", envelope: signed.envelope, objectBytes: 3,
                               objectDigest: Array(SHA256.hash(data: [9, 9, 9])))
        swapped.signature = signed.signature
        #expect(!swapped.isSigned(by: key))
        var bytes: [UInt8] = []
        signed.append(to: &bytes)
        var reader = ByteReader(bytes[...])
        #expect(try MailItem.read(&reader) == signed)
    }

    @Test func claimsOfHugeObjectsAreRefusedWithoutATrapAndASendersRoomForObjectsIsSmall() {
        var box = Mailbox()
        let huge = MailItem(recipient: "bob", sender: "mallory", envelope: Array("offer".utf8), objectBytes: .max,
                            objectDigest: [UInt8](repeating: 1, count: 32))
        #expect(!huge.isWellFormed)
        if case .refused = box.store(huge, now: 1) {} else { Issue.record("an object of 2^64 - 1 bytes was taken") }
        let large = MailItem(recipient: "bob", sender: "mallory", envelope: Array("offer 2".utf8), objectBytes: MailItem.maxObjectBytes,
                             objectDigest: [UInt8](repeating: 2, count: 32))
        #expect(box.store(large, now: 1) == .awaitObject(bytes: MailItem.maxObjectBytes))
        // A sender holds at most 256 MiB (and 8 items) of room for objects that have not come, for all recipients.
        let more = MailItem(recipient: "carol", sender: "mallory", envelope: Array("offer 3".utf8), objectBytes: 100 << 20,
                            objectDigest: [UInt8](repeating: 3, count: 32))
        guard case .refused(let why) = box.store(more, now: 2) else { Issue.record("room beyond the sender's share"); return }
        #expect(why.contains("mallory has too many photos on their way"))
        // Another sender is not held up; once the object came, the room is the recipient's like any item's.
        let honest = Self.item("offer", object: [UInt8](repeating: 4, count: 1_000))
        #expect(box.store(honest, now: 3) == .awaitObject(bytes: 1_000))
        #expect(box.objectArrived(large.id) == .commit)
        box.committed(large.id)
        #expect(box.store(more, now: 4) == .awaitObject(bytes: 100 << 20))
        #expect(box.heldCount == 1 && box.heldBytes == large.heldBytes)
    }

    @Test func anItemAcknowledgedWhileBeingWrittenStaysBuriedAndExpiredItemsAreBuried() {
        var box = Mailbox(limits: .init(timeToLive: 1_000))
        let grant = Self.item("grant")
        #expect(box.store(grant, now: 1) == .commit)
        #expect(box.acknowledged([grant.id], by: "bob", now: 2) == [grant.id], "delivered by another server while this one writes it")
        let counted = box.committed(grant.id)
        #expect(!counted, "the write that finishes afterwards is undone")
        #expect(box.heldCount == 0 && box.isTombstoned(grant.id))
        // Restarted with the row that commit left behind: still buried.
        var restarted = Mailbox()
        restarted.load([(grant.id, .init(recipient: "bob", bytes: grant.heldBytes, storedAt: 1, state: .held))], tombstones: [(grant.id, 2)])
        #expect(restarted.held(for: "bob").isEmpty && restarted.buriedAmong([grant.id]) == [grant.id])
        // An unknown id is not buried on anyone's word: it could be someone else's item still on its way.
        let unknown = Self.item("someone else's")
        #expect(box.acknowledged([unknown.id], by: "bob", now: 3).isEmpty && !box.isTombstoned(unknown.id))
        // Expired: dropped and buried, so that another server's copy is not taken again.
        let old = Self.item("old")
        _ = box.store(old, now: 10)
        box.committed(old.id)
        #expect(box.expire(now: 1_010).expired == [old.id])
        #expect(box.store(old, now: 1_011) == .stored && box.heldCount == 0)
    }

    @Test func whatWasWrittenComesBackAfterARestart() {
        var box = Mailbox()
        let items = (0..<5).map { Self.item("grant \($0)") }
        for (index, item) in items.enumerated() {
            _ = box.store(item, now: UInt64(100 - index))
            box.committed(item.id)
        }
        _ = box.acknowledged([items[0].id], by: "bob", now: 200)
        var restarted = Mailbox()
        restarted.load(box.entries.map { ($0.key, $0.value) }, tombstones: [(items[0].id, 200)])
        #expect(restarted.held(for: "bob") == box.held(for: "bob"), "oldest first, as before")
        #expect(restarted.held(for: "bob") == items.dropFirst().reversed().map(\.id))
        #expect(restarted.store(items[0], now: 300) == .stored)
        #expect(restarted.usage(of: "bob").items == 4)
    }
}
