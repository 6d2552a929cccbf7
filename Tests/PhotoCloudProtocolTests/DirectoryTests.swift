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
        #expect(directory.register(try record("alice", key: alice, sequence: 10), now: at(0)) == .bound)
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
            .registered(name: "alice", sequence: 5, digest: [UInt8](repeating: 1, count: 16), refusal: nil),
            .registered(name: "alice", sequence: 6, digest: [UInt8](repeating: 2, count: 16), refusal: .init("taken", permanent: true)),
            .registered(name: "alice", sequence: 7, digest: try record("alice", key: alice, sequence: 7).digest, refusal: .init("later", permanent: false)),
            .whoRequest(QueryHeader(nonce: 9), offset: 3),
            .whoRequest(QueryHeader(nonce: 9, cookie: [UInt8](repeating: 4, count: AddressCookies.size)), offset: 3),
            .whoReply(nonce: 9, total: 2, offset: 0, users: [.init(name: "alice", online: true), .init(name: "bob", online: false)]),
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

@Suite("Directory against strangers")
struct DirectoryLimitsTests {
    let at = { (ms: UInt64) in Instant(nanoseconds: ms * 1_000_000) }

    func record(_ name: String, key: Curve25519.Signing.PrivateKey, sequence: UInt64, endpoint: String = "127.0.0.1:9000") throws -> Directory.Record {
        try Directory.Record(name: name, signingKey: Array(key.publicKey.rawRepresentation),
                             agreementKey: Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation),
                             endpoint: endpoint, sequence: sequence).signed(with: key)
    }

    @Test func aReplayedHeartbeatDoesNotKeepAUserOnline() throws {
        let alice = Curve25519.Signing.PrivateKey()
        var directory = Directory(expiry: .seconds(3))
        let last = try record("alice", key: alice, sequence: 10)
        #expect(directory.register(last, now: at(0)) == .bound)
        // Her daemon dies; someone who captured its last heartbeat sends it again and again.
        for time in stride(from: UInt64(1_000), through: 6_000, by: 1_000) {
            #expect(directory.register(last, now: at(time)) == .stale)
        }
        #expect(!directory.isOnline("alice", now: at(6_000)))
    }

    @Test func aRecordFarFromTheServersClockIsNotTaken() throws {
        let alice = Curve25519.Signing.PrivateKey()
        var directory = Directory(expiry: .seconds(3))
        let clock: UInt64 = 1_800_000_000_000
        // Captured two minutes ago and replayed to a cloud that restarted (it remembers the binding, not the heartbeats).
        directory.restore(try record("alice", key: alice, sequence: clock - 600_000))
        guard case .deferred = directory.register(try record("alice", key: alice, sequence: clock - 120_000), now: at(0), wallClock: clock) else {
            Issue.record("an old heartbeat is not taken")
            return
        }
        guard case .deferred = directory.register(try record("alice", key: alice, sequence: clock + 120_000), now: at(0), wallClock: clock) else {
            Issue.record("nor one from a clock far ahead")
            return
        }
        #expect(!directory.isOnline("alice", now: at(1)))
        #expect(directory.register(try record("alice", key: alice, sequence: clock - 2_000), now: at(2), wallClock: clock).isTaken)
        #expect(directory.isOnline("alice", now: at(3)))
    }

    @Test func oneKeyHoldsAFewNamesAndTheDirectoryIsBounded() throws {
        let mallory = Curve25519.Signing.PrivateKey()
        var directory = Directory(capacity: 20, namesPerKey: 3)
        for index in 0..<3 { #expect(directory.register(try record("m\(index)", key: mallory, sequence: 1), now: at(0)) == .bound) }
        guard case .refused = directory.register(try record("m3", key: mallory, sequence: 1), now: at(0)) else {
            Issue.record("a fourth name for one key is refused")
            return
        }
        for index in 0..<17 { _ = directory.register(try record("u\(index)", key: Curve25519.Signing.PrivateKey(), sequence: 1), now: at(0)) }
        guard case .deferred = directory.register(try record("late", key: Curve25519.Signing.PrivateKey(), sequence: 1), now: at(0)) else {
            Issue.record("a full directory defers new names")
            return
        }
        #expect(directory.entries.count == 20)
    }

    @Test func pagesComeFromTheSortedIndex() throws {
        var directory = Directory()
        let names = (0..<1_200).map { String(format: "user%04d", ($0 * 7_919) % 1_200) }
        for name in names { _ = directory.register(try record(name, key: Curve25519.Signing.PrivateKey(), sequence: 1), now: at(0)) }
        #expect(directory.names == names.sorted())
        let page = directory.page(from: 500, limit: 500, now: at(1))
        #expect(page.map(\.name) == Array(names.sorted()[500..<1_000]) && page.allSatisfy(\.online))
        #expect(directory.page(from: 1_100, limit: 500, now: at(1)).count == 100)
        #expect(directory.page(from: 5_000, limit: 500, now: at(1)).isEmpty)
        // A binding that could not be saved is taken back, and the index with it.
        let key = try #require(directory.entries["user0001"]?.record.signingKey)
        directory.unbind("user0001", key: key)
        #expect(directory.names.count == 1_199 && !directory.names.contains("user0001"))
    }

    @Test func changesOfKeysOrEndpointAreWorthSavingHeartbeatsAreNot() throws {
        let alice = Curve25519.Signing.PrivateKey()
        var directory = Directory()
        var first = try record("alice", key: alice, sequence: 1)
        #expect(directory.register(first, now: at(0)) == .bound)
        first.sequence = 2
        first = try first.signed(with: alice)
        #expect(directory.register(first, now: at(1)) == .accepted)
        #expect(directory.register(try record("alice", key: alice, sequence: 3, endpoint: "127.0.0.1:9001"), now: at(2)) == .updated)
        var restored = Directory()
        restored.restore(first)
        #expect(restored.names == ["alice"] && !restored.isOnline("alice", now: at(0)))
    }
}
