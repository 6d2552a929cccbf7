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
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let queue = Mutex(Queue())
    private let registrations = Mutex<[UInt64: Readiness]>([:])
    private let nextToken = Atomic<UInt64>(1)
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
        let executor = asUnownedTaskExecutor()
        let serial = asUnownedSerialExecutor()
        var events = [clinux_epoll_event](repeating: clinux_epoll_event(), count: 128)
        while true {
            let jobs = queue.withLock { queue in
                let jobs = queue.jobs
                queue.jobs.removeAll(keepingCapacity: true)
                return jobs
            }
            for job in jobs { job.runSynchronously(isolatedTo: serial, taskExecutor: executor) }

            let timeout: Int32 = queue.withLock { queue in
                if queue.jobs.isEmpty {
                    queue.sleeping = true
                    return -1
                }
                return 0
            }
            let count = events.withUnsafeMutableBufferPointer { buffer in
                clinux_epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeout)
            }
            if timeout != 0 { queue.withLock { $0.sleeping = false } }
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
