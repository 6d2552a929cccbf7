import Crypto
import PhotoCloudProtocol
import Testing

@Suite("Directory: signed records, presence, sync")
struct DirectoryTests {
    let at = { (ms: UInt64) in Instant(nanoseconds: ms * 1_000_000) }
    let alice = Curve25519.Signing.PrivateKey()
    let mallory = Curve25519.Signing.PrivateKey()

    func record(_ name: String, key: Curve25519.Signing.PrivateKey, sequence: UInt64, leaving: Bool = false) throws -> Directory.Record {
        try Directory.Record(name: name, signingKey: Array(key.publicKey.rawRepresentation),
                             agreementKey: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation),
                             endpoint: leaving ? "" : "127.0.0.1:9000", sequence: sequence, leaving: leaving).signed(with: key)
    }

    @Test func aNameIsBoundToItsFirstKeyAndOnlyNewerSignedRecordsCount() throws {
        var directory = Directory(expiry: .seconds(3))
        #expect(directory.register(try record("alice", key: alice, sequence: 10), now: at(0)) == .accepted)
        #expect(directory.register(try record("alice", key: alice, sequence: 10), now: at(5)) == .stale, "a replay")
        #expect(directory.register(try record("alice", key: alice, sequence: 9), now: at(5)) == .stale)
        guard case .refused = directory.register(try record("alice", key: mallory, sequence: 99), now: at(5)) else {
            Issue.record("another key cannot take the name")
            return
        }
        var forged = try record("alice", key: alice, sequence: 11)
        forged.endpoint = "10.0.0.66:1"   // changed after signing
        guard case .refused = directory.register(forged, now: at(5)) else {
            Issue.record("a record altered after signing is refused")
            return
        }
        guard case .refused = directory.register(try record("Alice!", key: mallory, sequence: 1), now: at(5)) else {
            Issue.record("invalid names are refused")
            return
        }
        #expect(directory.entries["alice"]?.record.endpoint == "127.0.0.1:9000")
    }

    @Test func presenceExpiresWithoutHeartbeatsAndEndsWhenLeaving() throws {
        var directory = Directory(expiry: .seconds(3))
        _ = directory.register(try record("alice", key: alice, sequence: 1), now: at(0))
        _ = directory.register(try record("bob", key: mallory, sequence: 1), now: at(0))
        #expect(directory.who(now: at(1_000)).online == ["alice", "bob"])
        _ = directory.register(try record("alice", key: alice, sequence: 2), now: at(2_500))
        #expect(directory.who(now: at(3_000)) == (online: ["alice"], offline: ["bob"]))
        _ = directory.register(try record("alice", key: alice, sequence: 3, leaving: true), now: at(3_100))
        #expect(directory.who(now: at(3_200)) == (online: [], offline: ["alice", "bob"]))
        _ = directory.register(try record("alice", key: alice, sequence: 4), now: at(4_000))
        #expect(directory.isOnline("alice", now: at(4_001)))
    }

    @Test func aRestartedServerLearnsTheDirectoryFromTheOthers() throws {
        var old = Directory(expiry: .seconds(3))
        _ = old.register(try record("alice", key: alice, sequence: 5), now: at(10_000))
        _ = old.register(try record("bob", key: mallory, sequence: 5), now: at(6_000))
        var fresh = Directory(expiry: .seconds(3))
        for entry in old.entries.values {
            fresh.merge(entry.record, age: at(10_500).since(try #require(entry.lastHeard)), now: at(500))
        }
        #expect(fresh.who(now: at(500)) == (online: ["alice"], offline: ["bob"]))
        // Merged records are checked like any other: a forged one is not taken.
        var forged = try record("carol", key: alice, sequence: 1)
        forged.signature[0] ^= 1
        guard case .refused = fresh.merge(forged, age: .zero, now: at(600)) else {
            Issue.record("a forged record in a sync is refused")
            return
        }
    }

    @Test func messagesRoundTripAndTruncationsAreTypedErrors() throws {
        let messages: [DirectoryMessage] = [
            .register(try record("alice", key: alice, sequence: 1)),
            .registered(name: "alice", refusal: nil),
            .registered(name: "alice", refusal: "taken"),
            .whoRequest(offset: 3),
            .whoReply(total: 2, offset: 0, users: [.init(name: "alice", online: true), .init(name: "bob", online: false)]),
            .syncRequest,
            .sync([.init(record: try record("bob", key: mallory, sequence: 2), ageMilliseconds: 700)]),
        ]
        for message in messages {
            let body = message.encoded()
            #expect(try DirectoryMessage.decode(type: message.type, body: body[...]) == message)
            for cut in 0..<body.count {
                #expect(throws: WireError.self) { try DirectoryMessage.decode(type: message.type, body: body[0..<cut]) }
            }
        }
    }
}
