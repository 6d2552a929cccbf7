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
        let farDeadline = ContinuousClock.now + .seconds(60)
        let far = loop.schedule(at: farDeadline) { ran.withLock { $0.append("far") } }
        try await Task.sleep(for: .milliseconds(20))
        // Its deadline is later than the near one's, and is waited past below. Cancelled in time unless this task
        // stalls 200 ms between the two calls (a whole suite on two cores has stalled it for a minute; then the
        // timer rightly runs at its deadline, and only what was cancelled in time is checked).
        let cancelledDeadline = ContinuousClock.now + .milliseconds(200)
        let cancelled = loop.schedule(at: cancelledDeadline) { ran.withLock { $0.append("cancelled") } }
        loop.cancel(cancelled)
        let cancelledInTime = ContinuousClock.now < cancelledDeadline
        // How late the near timer ran is measured on the loop, not when this task resumes.
        let near = ContinuousClock.now + .milliseconds(20)
        let ranAt = await withCheckedContinuation { (done: CheckedContinuation<ContinuousClock.Instant, Never>) in
            _ = loop.schedule(at: near) {
                ran.withLock { $0.append("near") }
                done.resume(returning: .now)
            }
        }
        #expect(ranAt - near < .seconds(5), "woken for the nearer deadline, not the far one")
        try await Task.sleep(for: .milliseconds(30))
        loop.cancel(far)
        // Cancelled before its deadline, the far timer never runs. (A whole suite on two cores has stalled this task
        // for over a minute: then the far timer ran at its time, rightly, and only the cancelled one is checked.)
        let farCancelledInTime = ContinuousClock.now < farDeadline
        // Past the cancelled timer's deadline, where it would have run.
        try await Task.sleep(until: cancelledDeadline + .milliseconds(50))
        let order = ran.withLock { $0 }
        #expect(order.contains("near"))
        if cancelledInTime { #expect(!order.contains("cancelled")) }
        if farCancelledInTime { #expect(!order.contains("far")) }
    }

    @Test func aLoopThatAlwaysHasJobsQueuedStillReadsItsSockets() async throws {
        // A task that yields again and again keeps a job queued on every turn: the loop runs queued jobs before
        // asking epoll, but must still ask now and then, or a datagram for a socket of this loop is never read.
        // The spinning stops when the datagram is read, or after 3 s (then the loop polls again, too late).
        let loop = try EventLoop(name: "busy-loop-test")
        let receiver = try UDPSocket(bind: .ipv4Loopback(port: 0), loop: loop)
        let sender = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { receiver.close(); sender.close() }
        final class State: Sendable {
            let flags = Mutex<(read: Bool, readWhileSpinning: Bool, spinningOnLoop: Bool, gaveUp: Bool)>((false, false, true, false))
            func withLock<T: Sendable>(_ body: (inout (read: Bool, readWhileSpinning: Bool, spinningOnLoop: Bool, gaveUp: Bool)) -> T) -> T { flags.withLock { body(&$0) } }
        }
        let state = State()
        let reader = Task(executorPreference: loop) {
            let bytes = try? await receiver.receive().bytes
            state.withLock { $0.read = true; $0.readWhileSpinning = !$0.gaveUp && bytes == [1, 2, 3] }
        }
        // All on the loop thread (the shared pool may be slow under a whole suite): the reader tries its socket and
        // parks first, then the spinner sends the datagram itself and goes on yielding; only epoll can wake the reader.
        let spinner = Task(executorPreference: loop) {
            for _ in 0..<1_000 { await Task.yield() }
            _ = try? sender.trySend([1, 2, 3], to: receiver.localAddress)
            let until = ContinuousClock.now + .seconds(3)
            while !state.withLock({ $0.read }), ContinuousClock.now < until {
                if !loop.isLoopThread { state.withLock { $0.spinningOnLoop = false } }
                await Task.yield()
            }
            state.withLock { if !$0.read { $0.gaveUp = true } }
        }
        await spinner.value
        try await Task.sleep(for: .milliseconds(100))   // a late read lands now
        reader.cancel()
        let final = state.withLock { $0 }
        #expect(final.spinningOnLoop)
        #expect(final.readWhileSpinning, "the datagram was not read while the loop had jobs queued")
    }
}
