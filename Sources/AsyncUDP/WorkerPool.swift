import CLinuxShim
import Foundation
import Synchronization

/// Dedicated threads for CPU-heavy work (embedding, encoding, checking), in
/// submission order, optionally at a lower scheduling priority (`nice`).
///
/// Servers embed at normal priority: niced embedding measured far worse under
/// overload (2,000 clients x 5 requests: 41% failed at nice 5, none at nice 0),
/// because embedding is the bottleneck and starving it only lengthens every
/// queue. The bench checks answers at nice 10, so that its own work yields to
/// the servers it measures.
public final class WorkerPool: Sendable {
    private struct State: ~Copyable {
        var queue: [@Sendable () -> Void] = []
        var head = 0
    }

    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    public let threads: Int

    /// `nice` is added to the threads' priority (0-19; higher yields more).
    public init(name: String, threads: Int, nice: Int32 = 0) {
        self.threads = max(1, threads)
        for index in 0..<self.threads {
            let thread = Thread { [self] in
                _ = clinux_set_current_thread_nice(nice)   // best effort: without it they run at normal priority
                while true {
                    available.wait()
                    let work = state.withLock { state -> (@Sendable () -> Void)? in
                        guard state.head < state.queue.count else { return nil }
                        let work = state.queue[state.head]
                        state.head += 1
                        if state.head > 1_024, state.head * 2 > state.queue.count {
                            state.queue.removeFirst(state.head)
                            state.head = 0
                        }
                        return work
                    }
                    work?()
                }
            }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    /// Runs `work` on one of the pool's threads, in submission order.
    public func run<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: work()) }
        }
    }

    private func submit(_ work: @escaping @Sendable () -> Void) {
        state.withLock { $0.queue.append(work) }
        available.signal()
    }
}
