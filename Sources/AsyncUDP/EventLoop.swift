import CLinuxShim
import Foundation
import Synchronization

/// One epoll thread per process: it waits for socket readiness, resumes the
/// tasks parked on it, and is also a `TaskExecutor`, so tasks started with
/// `Task(executorPreference: loop)` run on this thread and are resumed here
/// without a hop to another thread (the way SwiftNIO runs everything on its
/// event loop). An eventfd wakes the thread when work arrives from elsewhere.
/// It is a `SerialExecutor` too (one thread runs its jobs in order), so an
/// actor can live on it: CPU-heavy work on Swift's cooperative pool then
/// cannot starve the actor's network handling.
public final class EventLoop: TaskExecutor, SerialExecutor {
    /// The process's event loop, started on first use.
    public static let shared: EventLoop = {
        do {
            return try EventLoop(name: "photocloud-epoll")
        } catch {
            // Without epoll and eventfd there is no I/O at all; nothing to fall back to.
            preconditionFailure("cannot start the event loop: \(error)")
        }
    }()

    private struct Queue: ~Copyable {
        var jobs: [UnownedJob] = []
        /// The loop thread is (about to be) blocked in epoll_wait and needs the eventfd.
        var sleeping = false
        /// Timers, unordered: a loop has a few (one per actor that asks), so the
        /// earliest is found by a scan.
        var timers: [UInt64: (deadline: ContinuousClock.Instant, action: @Sendable () -> Void)] = [:]
        /// The deadline the sleeping thread's epoll_wait will wake at (nil: none).
        var sleepingUntil: ContinuousClock.Instant?
    }

    /// A timer of this loop, to cancel it.
    public struct Timer: Sendable, Hashable {
        let id: UInt64
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let queue = Mutex(Queue())
    private let registrations = Mutex<[UInt64: Readiness]>([:])
    private let nextToken = Atomic<UInt64>(1)
    /// The loop thread's pthread id (0 before it starts).
    private let threadID = Atomic<UInt>(0)
    private static let wakeToken: UInt64 = 0

    /// A loop of its own, on a new thread (most code wants `shared`). With
    /// `cpu`, the thread is pinned to the `cpu`th CPU the process may use
    /// (benchmarks do, so that two loops that wake each other are not packed
    /// onto one core by the scheduler).
    /// The loops' scheduling priority (nice value; lower runs first).
    public static let nice: Int32 = -5

    public init(name: String, cpu: Int? = nil) throws {
        epollFD = try systemCallChecked("epoll_create1") { clinux_epoll_create() }
        wakeFD = try systemCallChecked("eventfd") { clinux_eventfd() }
        let epoll = epollFD, wake = wakeFD
        try systemCallChecked("epoll_ctl") {
            clinux_epoll_ctl(epoll, clinux_EPOLL_CTL_ADD, wake, clinux_EPOLLIN | clinux_EPOLLET, Self.wakeToken)
        }
        let thread = Thread { [self] in
            if let cpu { _ = clinux_pin_current_thread(Int32(cpu)) }   // best effort: a refusal leaves it unpinned
            // Above the CPU-bound threads (embedding, checking), so that a loop
            // woken by a datagram or a timer runs at once: on a loaded machine a
            // heartbeat 150 ms late reads as a death. Best effort: raising a
            // priority needs CAP_SYS_NICE; without it the loop stays at 0.
            _ = clinux_set_current_thread_nice(Self.nice)
            self.run()
        }
        thread.name = name
        thread.start()
    }

    /// CPUs this process may run on.
    public static var availableCPUs: Int { Int(clinux_available_cpus()) }

    // MARK: TaskExecutor

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wake = queue.withLock { queue in
            queue.jobs.append(job)
            let wasSleeping = queue.sleeping
            queue.sleeping = false
            return wasSleeping
        }
        if wake { _ = clinux_eventfd_signal(wakeFD) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// On the loop thread, everything runs in this executor's order: a timer
    /// action there may `assumeIsolated` an actor of this loop.
    public func checkIsolated() {
        precondition(isLoopThread, "expected to run on the event loop's thread")
    }

    /// Whether the caller runs on this loop's thread.
    public var isLoopThread: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    // MARK: Timers

    /// Runs `action` on the loop thread at `deadline` (within a millisecond
    /// after it), unless cancelled first. No task, no other thread: the
    /// thread's own epoll_wait times out for it, so an idle process that only
    /// waits for deadlines sleeps in the kernel between them.
    public func schedule(at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Timer {
        let id = nextToken.add(1, ordering: .relaxed).newValue
        let wake = queue.withLock { queue in
            queue.timers[id] = (deadline, action)
            // A thread asleep until later (or with no timeout) must recompute its timeout.
            guard queue.sleeping, queue.sleepingUntil.map({ deadline < $0 }) ?? true else { return false }
            queue.sleeping = false
            return true
        }
        if wake { _ = clinux_eventfd_signal(wakeFD) }
        return Timer(id: id)
    }

    /// The timer will not run (a no-op if it ran already).
    public func cancel(_ timer: Timer) {
        _ = queue.withLock { $0.timers.removeValue(forKey: timer.id) }
    }

    /// Takes the timers due at `now` off the queue.
    private static func takeDue(_ queue: inout Queue, now: ContinuousClock.Instant) -> [@Sendable () -> Void] {
        // Most turns of the loop have nothing due: found without building anything.
        guard queue.timers.values.contains(where: { $0.deadline <= now }) else { return [] }
        let due = queue.timers.filter { $0.value.deadline <= now }
        for id in due.keys { queue.timers[id] = nil }
        return due.values.sorted { $0.deadline < $1.deadline }.map(\.action)
    }

    // MARK: Registration

    /// Registers `fd` for edge-triggered read and write readiness.
    func register(fd: Int32) throws -> Readiness {
        let token = nextToken.add(1, ordering: .relaxed).newValue
        let readiness = Readiness(token: token)
        registrations.withLock { $0[token] = readiness }
        let epoll = epollFD
        do {
            try systemCallChecked("epoll_ctl") {
                clinux_epoll_ctl(epoll, clinux_EPOLL_CTL_ADD, fd, clinux_EPOLLIN | clinux_EPOLLOUT | clinux_EPOLLET, token)
            }
        } catch {
            _ = registrations.withLock { $0.removeValue(forKey: token) }
            throw error
        }
        return readiness
    }

    /// Stops watching `fd` (before it is closed).
    func deregister(fd: Int32, readiness: Readiness) {
        _ = clinux_epoll_ctl(epollFD, clinux_EPOLL_CTL_DEL, fd, 0, 0)
        _ = registrations.withLock { $0.removeValue(forKey: readiness.token) }
    }

    // MARK: The loop

    private func run() {
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        let executor = asUnownedTaskExecutor()
        let serial = asUnownedSerialExecutor()
        var events = [clinux_epoll_event](repeating: clinux_epoll_event(), count: 128)
        // Turns of the loop that found more jobs queued and ran them without asking epoll first.
        var unpolled = 0
        while true {
            let (jobs, due) = queue.withLock { queue in
                let jobs = queue.jobs
                queue.jobs.removeAll(keepingCapacity: true)
                return (jobs, queue.timers.isEmpty ? [] : Self.takeDue(&queue, now: .now))
            }
            for action in due { action() }
            for job in jobs { job.runSynchronously(isolatedTo: serial, taskExecutor: executor) }

            let timeout: Int32? = queue.withLock { queue in
                // More jobs queued (a resumed task's next step): run them first. Each such turn cost an
                // epoll_wait that found nothing (five a wake-up at idle); every 16th turn still polls.
                guard queue.jobs.isEmpty else { return nil }
                let earliest = queue.timers.values.lazy.map(\.deadline).min()
                var timeout: Int32 = -1
                if let earliest {
                    let wait = earliest - .now
                    guard wait > .zero else { return 0 }
                    // Rounded up to the millisecond epoll_wait counts in: never early.
                    let (seconds, attoseconds) = wait.components
                    timeout = Int32(clamping: seconds * 1_000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
                }
                queue.sleeping = true
                queue.sleepingUntil = earliest
                return timeout
            }
            if timeout == nil {
                unpolled += 1
                if unpolled < 16 { continue }
            }
            unpolled = 0
            let count = events.withUnsafeMutableBufferPointer { buffer in
                clinux_epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeout ?? 0)
            }
            if let timeout, timeout != 0 { queue.withLock { $0.sleeping = false; $0.sleepingUntil = nil } }
            guard count > 0 else { continue }   // EINTR or timeout: go round again
            for index in 0..<Int(count) {
                let event = events[index]
                if event.data == Self.wakeToken {
                    _ = clinux_eventfd_drain(wakeFD)
                    continue
                }
                let readiness = registrations.withLock { $0[event.data] }
                let failed = event.events & (clinux_EPOLLERR | clinux_EPOLLHUP) != 0
                readiness?.signal(
                    readable: failed || event.events & clinux_EPOLLIN != 0,
                    writable: failed || event.events & clinux_EPOLLOUT != 0
                )
            }
        }
    }
}
