import AsyncUDP
import Synchronization
import Testing

@Suite("Event loop timers")
struct EventLoopTimerTests {
    @Test func aTimerRunsOnTheLoopThreadNotBeforeItsDeadline() async throws {
        let loop = try EventLoop(name: "timer-test")
        let deadline = ContinuousClock.now + .milliseconds(30)
        let fired = await withCheckedContinuation { (done: CheckedContinuation<(onLoop: Bool, at: ContinuousClock.Instant), Never>) in
            _ = loop.schedule(at: deadline) { done.resume(returning: (loop.isLoopThread, ContinuousClock.now)) }
        }
        #expect(fired.onLoop)
        #expect(fired.at >= deadline)
        #expect(!loop.isLoopThread)
    }

    @Test func aCancelledTimerNeverRunsAndAnEarlierOneWakesASleepingLoop() async throws {
        let loop = try EventLoop(name: "timer-test")
        let ran = Mutex<[String]>([])
        // The loop sleeps towards a far deadline; a nearer one scheduled from another thread must wake it.
        let far = loop.schedule(at: .now + .seconds(60)) { ran.withLock { $0.append("far") } }
        try await Task.sleep(for: .milliseconds(20))
        let cancelled = loop.schedule(at: .now + .milliseconds(10)) { ran.withLock { $0.append("cancelled") } }
        loop.cancel(cancelled)
        let start = ContinuousClock.now
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            _ = loop.schedule(at: .now + .milliseconds(20)) {
                ran.withLock { $0.append("near") }
                done.resume()
            }
        }
        #expect(ContinuousClock.now - start < .seconds(5), "woken for the nearer deadline, not the far one")
        try await Task.sleep(for: .milliseconds(30))
        loop.cancel(far)
        #expect(ran.withLock { $0 } == ["near"])
    }
}
