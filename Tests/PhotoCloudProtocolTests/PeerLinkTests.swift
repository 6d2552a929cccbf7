import Crypto
import PhotoCloudProtocol
import Testing

@Suite("Peers: the conversation (PeerLink)")
struct PeerLinkTests {
    typealias Link = PeerLink<Int>
    let clock: UInt64 = 1_800_000_000_000

    func envelope(from: String = "bob", to: String = "alice", at: UInt64? = nil, nonce: UInt64 = 1, replyTo: UInt64 = 0,
                  _ message: PeerMessage = .browse(transfer: 1)) -> PeerEnvelope {
        PeerEnvelope(from: from, to: to, sentAt: at ?? clock, nonce: nonce, replyTo: replyTo, message: message)
    }

    @Test func aCallIsRetriedWithBackoffUntilAnsweredThenNeverAgain() throws {
        var link = Link(me: "alice")
        var now = Instant.zero
        #expect(try link.call(nonce: 7, peer: "bob", bytes: [1], to: 5, now: now) == [.send([1], to: 5)])
        var sends: [Instant] = []
        for _ in 0..<30 {
            now = now + .milliseconds(50)
            for directive in link.tick(now: now) where directive == .send([1], to: 5) { sends.append(now) }
        }
        // 250 ms, then 500 ms later, then 1 s later (the cap).
        #expect(sends.map { $0.nanoseconds / 1_000_000 } == [250, 750])
        let reply = envelope(from: "bob", to: "alice", nonce: 99, replyTo: 7, .ok)
        #expect(link.precheck(reply, wallClock: clock) == nil)
        #expect(link.accept(reply, from: 5, now: now) == .reply([.answered(nonce: 7, reply)]))
        #expect(link.openCalls == 0)
        for _ in 0..<100 {
            now = now + .milliseconds(50)
            #expect(link.tick(now: now).isEmpty)
        }
        // The same reply again: no call is open any more.
        #expect(link.precheck(reply, wallClock: clock) != nil)
    }

    @Test func aCallNobodyAnswersFailsAtItsDeadline() throws {
        var configuration = Link.Configuration()
        configuration.callTimeout = .seconds(2)
        var link = Link(me: "alice", configuration: configuration)
        _ = try link.call(nonce: 3, peer: "bob", bytes: [1], to: 5, now: .zero)
        var failed: Instant?
        var now = Instant.zero
        while failed == nil, now < Instant.zero + .seconds(5) {
            now = now + .milliseconds(10)
            if link.tick(now: now).contains(.failed(nonce: 3, "bob did not answer")) { failed = now }
        }
        #expect(failed == Instant.zero + .seconds(2))
        #expect(link.openCalls == 0)
    }

    @Test func prechecksRefuseOtherReceiversOldOrFutureClocksAndRepliesToNothing() throws {
        var link = Link(me: "alice")
        #expect(link.precheck(envelope(), wallClock: clock) == nil)
        #expect(link.precheck(envelope(to: "carol"), wallClock: clock) != nil)
        #expect(link.precheck(envelope(at: clock - 61_000), wallClock: clock) != nil)
        #expect(link.precheck(envelope(at: clock + 61_000), wallClock: clock) != nil)
        #expect(link.precheck(envelope(at: clock - 59_000), wallClock: clock) == nil)
        #expect(link.precheck(envelope(replyTo: 12, .ok), wallClock: clock) != nil)
        _ = try link.call(nonce: 12, peer: "bob", bytes: [], to: 1, now: .zero)
        // A reply to bob's call that does not come from bob.
        #expect(link.precheck(envelope(from: "carol", replyTo: 12, .ok), wallClock: clock) != nil)
        #expect(link.precheck(envelope(from: "bob", replyTo: 12, .ok), wallClock: clock) == nil)
    }

    @Test func aRepeatedCallGetsTheSameReplyAndIsHandledOnce() {
        var link = Link(me: "alice")
        let call = envelope(nonce: 5)
        guard case .call = link.accept(call, from: 9, now: .zero) else { Issue.record("a new call was not handed over"); return }
        // While it is being handled: nothing to send again.
        #expect(link.accept(call, from: 9, now: .zero) == .repeated([]))
        #expect(link.reply([1, 2], toCall: call, at: 9) == [.send([1, 2], to: 9)])
        #expect(link.accept(call, from: 10, now: .zero) == .repeated([.send([1, 2], to: 10)]))
        // Another sender's call under the same nonce is its own.
        guard case .call = link.accept(envelope(from: "carol", nonce: 5), from: 11, now: .zero) else { Issue.record("carol's call was taken for bob's"); return }
    }

    @Test func tablesAreBounded() throws {
        var configuration = Link.Configuration()
        configuration.maxCalls = 4
        configuration.memory = 100
        var link = Link(me: "alice", configuration: configuration)
        for nonce in 1...4 { _ = try link.call(nonce: UInt64(nonce), peer: "bob", bytes: [], to: 1, now: .zero) }
        #expect(throws: PeerError.self) { try link.call(nonce: 5, peer: "bob", bytes: [], to: 1, now: .zero) }
        for nonce in 1...10_000 {
            guard case .call = link.accept(envelope(nonce: UInt64(nonce)), from: 1, now: .zero) else { Issue.record("call \(nonce)"); return }
        }
        // The oldest calls were forgotten (a late repeat is handled again: handlers are idempotent), the newest remembered.
        guard case .call = link.accept(envelope(nonce: 1), from: 1, now: .zero) else { Issue.record("memory grew past its bound"); return }
        #expect(link.accept(envelope(nonce: 10_000), from: 1, now: .zero) == .repeated([]))
    }
}
