#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A file descriptor that closes safely while other threads may be using it.
///
/// Each system call borrows the descriptor; `close()` marks it closed at once
/// (new borrows fail with `UDPError.closed`) and the descriptor itself is
/// closed when the last borrow returns, so a number the kernel reuses is never
/// touched by a call meant for the old socket.
final class SocketHandle: Sendable {
    private struct State: ~Copyable {
        var borrows = 0
        var closing = false
        var released = false
    }

    private let fd: Int32
    private let state = Mutex(State())
    private let onRelease: @Sendable (Int32) -> Void

    init(fd: Int32, onRelease: @escaping @Sendable (Int32) -> Void) {
        self.fd = fd
        self.onRelease = onRelease
    }

    var isClosed: Bool { state.withLock { $0.closing } }

    func withDescriptor<R>(_ body: (Int32) throws -> R) throws -> R {
        let open = state.withLock { state in
            if state.closing { return false }
            state.borrows += 1
            return true
        }
        guard open else { throw UDPError.closed }
        defer { finishBorrow() }
        return try body(fd)
    }

    private func finishBorrow() {
        let release = state.withLock { state in
            state.borrows -= 1
            return takeRelease(&state)
        }
        if release { releaseDescriptor() }
    }

    /// Marks the handle closed; returns false if it already was.
    @discardableResult
    func close() -> Bool {
        let (first, release) = state.withLock { state in
            let first = !state.closing
            state.closing = true
            return (first, takeRelease(&state))
        }
        if release { releaseDescriptor() }
        return first
    }

    private func takeRelease(_ state: inout State) -> Bool {
        guard state.closing, state.borrows == 0, !state.released else { return false }
        state.released = true
        return true
    }

    private func releaseDescriptor() {
        onRelease(fd)
        _ = Glibc.close(fd)
    }

    deinit {
        // A socket dropped without close(): release its descriptor now.
        close()
    }
}
