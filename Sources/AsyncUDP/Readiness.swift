import Synchronization

/// The read and write readiness of one registered socket, and the tasks parked
/// until it changes.
///
/// Edge-triggered epoll reports a change once. An operation notes the current
/// generation, tries its system call, and parks only if the generation is still
/// the one it saw: readiness that arrives between the attempt and the parking
/// is never lost. Every parked waiter of a direction is resumed on a signal;
/// each tries its call again (a datagram goes to exactly one of them).
final class Readiness: Sendable {
    enum Direction: Sendable { case read, write }

    private struct Waiters: ~Copyable {
        var readGeneration: UInt64 = 0
        var writeGeneration: UInt64 = 0
        var read: [UInt64: UnsafeContinuation<Void, any Error>] = [:]
        var write: [UInt64: UnsafeContinuation<Void, any Error>] = [:]
        var nextID: UInt64 = 0
        var closed = false
    }

    let token: UInt64
    private let state = Mutex(Waiters())

    init(token: UInt64) { self.token = token }

    /// The generation to hand to `wait` after a system call that would block.
    func generation(_ direction: Direction) -> UInt64 {
        state.withLock { direction == .read ? $0.readGeneration : $0.writeGeneration }
    }

    /// Parks until readiness newer than `seen` arrives (at once if it already has),
    /// the socket closes (throws `UDPError.closed`) or the task is cancelled
    /// (throws `CancellationError`, leaving nothing behind).
    func wait(_ direction: Direction, after seen: UInt64) async throws {
        let id = state.withLock { waiters in
            waiters.nextID &+= 1
            return waiters.nextID
        }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                enum Outcome { case parked, ready, closed, cancelled }
                let outcome: Outcome = state.withLock { waiters in
                    if waiters.closed { return .closed }
                    let current = direction == .read ? waiters.readGeneration : waiters.writeGeneration
                    if current != seen { return .ready }
                    if Task.isCancelled { return .cancelled }
                    switch direction {
                    case .read: waiters.read[id] = continuation
                    case .write: waiters.write[id] = continuation
                    }
                    return .parked
                }
                switch outcome {
                case .parked: break
                case .ready: continuation.resume()
                case .closed: continuation.resume(throwing: UDPError.closed)
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let continuation = state.withLock { waiters in
                direction == .read ? waiters.read.removeValue(forKey: id) : waiters.write.removeValue(forKey: id)
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Called by the event loop when epoll reports a change.
    func signal(readable: Bool, writable: Bool) {
        let woken = state.withLock { waiters -> [UnsafeContinuation<Void, any Error>] in
            var woken: [UnsafeContinuation<Void, any Error>] = []
            if readable {
                waiters.readGeneration &+= 1
                woken.append(contentsOf: waiters.read.values)
                waiters.read.removeAll(keepingCapacity: true)
            }
            if writable {
                waiters.writeGeneration &+= 1
                woken.append(contentsOf: waiters.write.values)
                waiters.write.removeAll(keepingCapacity: true)
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Fails every parked waiter, now and later, with `UDPError.closed`.
    func close() {
        let woken = state.withLock { waiters -> [UnsafeContinuation<Void, any Error>] in
            waiters.closed = true
            let woken = Array(waiters.read.values) + Array(waiters.write.values)
            waiters.read.removeAll()
            waiters.write.removeAll()
            return woken
        }
        for continuation in woken { continuation.resume(throwing: UDPError.closed) }
    }
}
