import PhotoCloudProtocol
import Testing

@Suite("Offline token (fault injection)")
struct OfflineTokenTests {
    let at = { (ms: UInt64) in Instant(nanoseconds: ms * 1_000_000) }
    let configuration = OfflineToken.Configuration(offlineFor: .milliseconds(400), passRetry: .milliseconds(50), startDelay: .milliseconds(500))

    @Test func theLowestServerStartsItAndItGoesRoundTheRing() {
        var one = OfflineToken(id: 1, members: [1, 2, 3], configuration: configuration, now: at(0))
        var two = OfflineToken(id: 2, members: [1, 2, 3], configuration: configuration, now: at(0))
        #expect(one.onTimer(now: at(100)) == [])
        #expect(two.onTimer(now: at(5_000)) == [], "only the lowest server makes a token")
        #expect(one.onTimer(now: at(500)) == [.sleep(until: at(900))])
        #expect(one.onWake(now: at(900)) == [.send(to: 2, .token(round: 2))])
        #expect(two.on(.token(round: 2), from: 1, now: at(901)) == [.send(to: 1, .ack(round: 2)), .sleep(until: at(1_301))])
        #expect(two.on(.token(round: 2), from: 1, now: at(950)) == [.send(to: 1, .ack(round: 2))], "a resend is acknowledged, not slept again")
        #expect(one.on(.ack(round: 2), from: 2, now: at(902)) == [])
        #expect(one.onTimer(now: at(1_000)) == [], "acknowledged: no resend")
        #expect(two.onWake(now: at(1_301)) == [.send(to: 3, .token(round: 3))])
        #expect(two.outages == 1)
    }

    @Test func anUnansweredPassGoesToTheServerAfterAndStaleTokensDie() {
        var three = OfflineToken(id: 3, members: [1, 2, 3], configuration: configuration, now: at(0))
        _ = three.on(.token(round: 5), from: 2, now: at(0))
        #expect(three.onWake(now: at(400)) == [.send(to: 1, .token(round: 6))])
        #expect(three.onTimer(now: at(450)) == [.send(to: 1, .token(round: 6))])
        #expect(three.onTimer(now: at(500)) == [.send(to: 2, .token(round: 6))], "server 1 is silent: on to server 2")
        // An older token (a server restarted with one) is acknowledged and dropped.
        #expect(three.on(.token(round: 4), from: 1, now: at(600)) == [.send(to: 1, .ack(round: 4))])
    }

    @Test func messagesRoundTrip() throws {
        for message in [OfflineToken.Message.token(round: 9), .ack(round: 1 << 40)] {
            #expect(try OfflineToken.Message.decode(type: message.type, body: message.encoded()[...]) == message)
            #expect(throws: WireError.self) { try OfflineToken.Message.decode(type: message.type, body: message.encoded().dropLast()) }
        }
    }
}
