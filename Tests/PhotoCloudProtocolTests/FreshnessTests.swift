import PhotoCloudProtocol
import Testing

@Suite("Replay protection, address validation, rate limits")
struct FreshnessTests {
    @Test func aCounterIsTakenOnceAndOldOnesAreNot() {
        var guardOf2 = ReplayGuard(ownBoot: 50, members: [1])
        func check(sender: UInt64, boot: UInt64, counter: UInt64, echo: UInt64) -> ReplayGuard.Verdict {
            guardOf2.check(sender: sender, boot: boot, counter: counter, echo: echo)
        }
        #expect(check(sender: 1, boot: 10, counter: 1, echo: 50) == .fresh)
        #expect(check(sender: 1, boot: 10, counter: 1, echo: 50) == .replay)
        #expect(check(sender: 1, boot: 10, counter: 5, echo: 50) == .fresh)
        #expect(check(sender: 1, boot: 10, counter: 3, echo: 50) == .fresh, "reordered within the window")
        #expect(check(sender: 1, boot: 10, counter: 3, echo: 50) == .replay)
        #expect(check(sender: 1, boot: 10, counter: 5_000, echo: 50) == .fresh)
        #expect(check(sender: 1, boot: 10, counter: 5_000 - ReplayGuard.windowSize, echo: 50) == .replay, "older than the window")
        #expect(check(sender: 1, boot: 10, counter: 5_000 - ReplayGuard.windowSize + 1, echo: 50) == .fresh)
        #expect(check(sender: 1, boot: 10, counter: 0, echo: 50) == .replay)
        #expect(check(sender: 9, boot: 10, counter: 1, echo: 50) == .unknownSender)
    }

    @Test("the window remembers every counter it still covers", arguments: [UInt64(1), 7, 63, 64, 65, 300, 1_023])
    func windowShifts(step: UInt64) {
        var guardOf2 = ReplayGuard(ownBoot: 1, members: [1])
        func check(sender: UInt64, boot: UInt64, counter: UInt64, echo: UInt64) -> ReplayGuard.Verdict {
            guardOf2.check(sender: sender, boot: boot, counter: counter, echo: echo)
        }
        var sent: [UInt64] = []
        var counter: UInt64 = 0
        for _ in 0..<200 {
            counter += step
            #expect(check(sender: 1, boot: 1, counter: counter, echo: 1) == .fresh)
            sent.append(counter)
        }
        for old in sent {
            let verdict = check(sender: 1, boot: 1, counter: old, echo: 1)
            #expect(verdict == .replay, "counter \(old) of \(counter)")
        }
    }

    @Test func aKilledServersMessagesCannotBeReplayedAfterItRestarts() {
        var receiver = ReplayGuard(ownBoot: 50, members: [1])
        func check(sender: UInt64, boot: UInt64, counter: UInt64, echo: UInt64) -> ReplayGuard.Verdict {
            receiver.check(sender: sender, boot: boot, counter: counter, echo: echo)
        }
        #expect(check(sender: 1, boot: 10, counter: 7, echo: 50) == .fresh)
        // Server 1 restarts with a higher boot; its old heartbeats are stale from then on.
        #expect(check(sender: 1, boot: 11, counter: 1, echo: 50) == .fresh)
        #expect(check(sender: 1, boot: 10, counter: 8, echo: 50) == .staleBoot)
        #expect(receiver.echo(for: 1) == 11)
    }

    @Test func aRestartedReceiverIsNotFedThePast() {
        // Captured while the receiver ran as boot 50; it restarts as boot 51 and knows nothing.
        var restarted = ReplayGuard(ownBoot: 51, members: [1])
        func check(sender: UInt64, boot: UInt64, counter: UInt64, echo: UInt64) -> ReplayGuard.Verdict {
            restarted.check(sender: sender, boot: boot, counter: counter, echo: echo)
        }
        #expect(check(sender: 1, boot: 10, counter: 7, echo: 50) == .wrongEcho)
        #expect(check(sender: 1, boot: 10, counter: 9, echo: 50) == .wrongEcho)
        // Once server 1 has heard boot 51 it names it, and is heard.
        #expect(check(sender: 1, boot: 10, counter: 10, echo: 51) == .fresh)
    }

    @Test func twoRestartedServersAgreeWithinOneExchange() {
        var a = ReplayGuard(ownBoot: 100, members: [2]), b = ReplayGuard(ownBoot: 200, members: [1])
        var counterA: UInt64 = 0, counterB: UInt64 = 0
        func fromA() -> ReplayGuard.Verdict { counterA += 1; return b.check(sender: 1, boot: 100, counter: counterA, echo: a.echo(for: 2)) }
        func fromB() -> ReplayGuard.Verdict { counterB += 1; return a.check(sender: 2, boot: 200, counter: counterB, echo: b.echo(for: 1)) }
        #expect(fromA() == .wrongEcho)   // a knows nothing of b yet
        #expect(fromB() == .fresh)       // b learnt a's boot from it
        #expect(fromA() == .fresh)
        #expect(fromB() == .fresh)
    }

    @Test func bootsGrowAcrossRestartsWhateverTheClock() {
        #expect(WireOrigin.nextBoot(after: nil, wallClockMicroseconds: 1_000) == 1_000)
        #expect(WireOrigin.nextBoot(after: 5_000, wallClockMicroseconds: 1_000) == 5_001, "the clock went back")
        #expect(WireOrigin.nextBoot(after: 5_000, wallClockMicroseconds: 9_000) == 9_000)
        var origin = WireOrigin(sender: 3, boot: 9)
        let first = origin.next(.ping), second = origin.next(.ping)
        #expect(first.counter == 1 && second.counter == 2 && second.boot == 9)
    }

    // MARK: Address validation

    @Test func cookiesAreBoundToTheAddressAndExpire() {
        let cookies = AddressCookies(key: [UInt8](repeating: 1, count: 32))
        let alice: [UInt8] = [4, 127, 0, 0, 1, 0x1F, 0x90], mallory: [UInt8] = [4, 10, 0, 0, 9, 0x1F, 0x90]
        let now = Instant(nanoseconds: 1_000_000_000_000)
        let cookie = cookies.make(for: alice, now: now)
        #expect(cookie.count == AddressCookies.size)
        #expect(cookies.isValid(cookie, for: alice, now: now))
        #expect(cookies.isValid(cookie, for: alice, now: now + AddressCookies.bucket))
        #expect(!cookies.isValid(cookie, for: alice, now: now + AddressCookies.bucket * 2))
        #expect(!cookies.isValid(cookie, for: mallory, now: now))
        #expect(!AddressCookies(key: [UInt8](repeating: 2, count: 32)).isValid(cookie, for: alice, now: now), "another server's")
        var tampered = cookie
        tampered[0] ^= 1
        #expect(!cookies.isValid(tampered, for: alice, now: now))
        #expect(!cookies.isValid([], for: alice, now: now))
        #expect(AddressCookies.allows(reply: 300, request: 100, validated: false))
        #expect(!AddressCookies.allows(reply: 301, request: 100, validated: false))
        #expect(AddressCookies.allows(reply: 60_000, request: 100, validated: true))
    }

    // MARK: Rate limits

    @Test func eachSourceHasItsShareAndAllOfThemTheTotal() {
        let limits = RateLimiter<Int>.Limits(perSource: .init(rate: 100, burst: 50), total: .init(rate: 250, burst: 120), maxSources: 4)
        var limiter = RateLimiter<Int>(limits: limits)
        func allow(_ source: Int, cost: Double, now: Instant) -> Bool { limiter.allow(source, cost: cost, now: now) }
        let t0 = Instant.zero
        let burst = (0..<50).map { _ in allow(1, cost: 1, now: t0) }
        #expect(burst.allSatisfy { $0 })
        #expect(!allow(1, cost: 1, now: t0), "the burst is spent")
        #expect(allow(2, cost: 50, now: t0), "another source has its own")
        #expect(!allow(3, cost: 30, now: t0), "but all together have 120")
        #expect(allow(1, cost: 10, now: t0 + .milliseconds(100)), "10 units refill in 100 ms")
        #expect(!allow(1, cost: 5, now: t0 + .milliseconds(100)))
        #expect(limiter.refused == 3)
    }

    @Test func theTableOfSourcesIsBounded() {
        var limiter = RateLimiter<Int>(limits: .init(perSource: .init(rate: 1, burst: 2), total: .init(rate: 1e9, burst: 1e9), maxSources: 8))
        for source in 0..<10_000 { _ = limiter.allow(source, cost: 1, now: .zero) }
        #expect(limiter.trackedSources <= 8)
        // New sources beyond the table share one bucket: a flood of them gets two units, not thousands.
        var taken = 0
        for source in 10_000..<20_000 where limiter.allow(source, cost: 1, now: .zero) { taken += 1 }
        #expect(taken <= 2)
        // Idle sources are forgotten and newcomers tracked again.
        _ = limiter.allow(50_000, cost: 1, now: .zero + .seconds(10))
        #expect(limiter.trackedSources == 1)
    }
}
