#if canImport(Glibc)
import Glibc
#endif

/// A connected Unix-domain stream socket: the local control channel between
/// a user's daemon and the one-shot commands, on one machine.
///
/// Blocking I/O on dedicated threads, not the epoll loop: commands are rare
/// (a person typing), a daemon serves at most a handful at once, and a
/// thread that waits in `poll` with a deadline reads plainly (partial frames,
/// end of stream, timeouts) where a nonblocking stream on the loop would need
/// a state machine. It also keeps local traffic off the loop that runs the
/// daemon's UDP heartbeat. Every wait has a deadline (or is ended by
/// `shutdown()` from another thread), and every read and write first waits in
/// `poll`, then does a nonblocking call, so a deadline holds even for a large
/// write to a reader that stopped reading.
public final class LocalStreamSocket: Sendable {
    private let handle: SocketHandle

    init(fd: Int32) {
        handle = SocketHandle(fd: fd, onRelease: { _ in })
    }

    /// Connects to the listener at `path`. Fails with errno ENOENT when there
    /// is no socket file and ECONNREFUSED when no one listens on it any more.
    public static func connect(path: String) throws -> LocalStreamSocket {
        let fd = try makeSocket(nonblocking: false)
        do {
            try UnixAddress.with(path) { address, length in
                _ = try systemCallChecked("connect(\(path))") { Glibc.connect(fd, address, length) }
            }
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        return LocalStreamSocket(fd: fd)
    }

    static func makeSocket(nonblocking: Bool) throws -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonblocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return try systemCallChecked("socket(AF_UNIX)") { socket(AF_UNIX, type, 0) }
    }

    /// Exactly `count` bytes, waiting until `deadline` (nil: as long as it
    /// takes); nil if the other end closed the connection before the first
    /// byte. Throws `.endOfStream` if it closes after some of them, `.timedOut` at the deadline.
    public func read(exactly count: Int, deadline: ContinuousClock.Instant?) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            try waitFor(Int16(POLLIN), deadline: deadline, doing: "reading")
            let result = try bytes.withUnsafeMutableBytes { buffer in
                try handle.withDescriptor { fd in
                    try systemCall("recv") { recv(fd, buffer.baseAddress! + filled, count - filled, Int32(MSG_DONTWAIT)) }
                }
            }
            switch result {
            case .wouldBlock: continue
            case .done(0):
                if filled == 0 { return nil }
                throw UDPError(.endOfStream, "the other end closed the connection after \(filled) of \(count) bytes")
            case .done(let received): filled += received
            }
        }
        return bytes
    }

    /// Writes all of `bytes` before `deadline`; never raises SIGPIPE (a
    /// closed reader is an error with errno EPIPE).
    public func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) throws {
        var sent = 0
        while sent < bytes.count {
            try waitFor(Int16(POLLOUT), deadline: deadline, doing: "writing")
            let result = try bytes.withUnsafeBytes { buffer in
                try handle.withDescriptor { fd in
                    try systemCall("send") {
                        send(fd, buffer.baseAddress! + sent, bytes.count - sent, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                    }
                }
            }
            if case .done(let count) = result { sent += count }
        }
    }

    /// True when the other end has closed (or reset) the connection. Only
    /// meaningful while the other end is not expected to send anything: a
    /// byte waiting to be read also answers false.
    public func otherEndClosed() -> Bool {
        var byte: UInt8 = 0
        let result = try? handle.withDescriptor { fd in
            try systemCall("recv") { recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) }
        }
        switch result {
        case .done(0)?, nil: return true
        case .done?, .wouldBlock?: return false
        }
    }

    /// Ends the connection both ways: a thread waiting in a read or write
    /// returns (reads see the end of the stream). The descriptor stays open until `close()`.
    public func shutdown() {
        _ = try? handle.withDescriptor { fd in Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    public func close() {
        handle.close()
    }

    /// Waits until `events` are possible on the socket or `deadline` passes.
    private func waitFor(_ events: Int16, deadline: ContinuousClock.Instant?, doing what: String) throws {
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let left = deadline - .now
                if left <= .zero { throw UDPError(.timedOut, "timed out \(what) on a local socket") }
                let (seconds, attoseconds) = left.components
                timeout = Int32(clamping: seconds * 1_000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            }
            var entry = pollfd(fd: 0, events: events, revents: 0)
            let ready = try handle.withDescriptor { fd in
                entry.fd = fd
                return try systemCall("poll") { poll(&entry, 1, timeout) }
            }
            // POLLHUP and POLLERR count as ready: the call that follows reports them.
            if case .done(let count) = ready, count > 0 { return }
        }
    }
}

/// A filesystem path as a `sockaddr_un`, refused with a clear error when it
/// does not fit `sun_path` (108 bytes on Linux, its final NUL included).
enum UnixAddress {
    static var capacity: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) }

    static func with<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, !bytes.contains(0) else {
            throw UDPError(.invalidAddress, "\"\(path)\" is not a usable path for a local socket")
        }
        guard bytes.count < capacity else {
            throw UDPError(.invalidAddress, "the local socket path \(path) is \(bytes.count) bytes; a Unix socket path holds at most \(capacity - 1), so choose a shorter folder")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        return try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
