import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A listening Unix-domain stream socket at a path, readable and writable by
/// its owner only. See `LocalStreamSocket` for why its I/O blocks on threads.
public final class LocalStreamListener: Sendable {
    public let path: String
    private let handle: SocketHandle
    /// Signalled by `close()` to end a thread waiting in `accept()`.
    private let wakeFD: Int32
    /// The socket file this listener made (device, inode): `close()` removes
    /// only that file, never one a newer listener put at the same path.
    private let file: (device: UInt64, inode: UInt64)

    /// The umask is per process: two listeners starting at once must not
    /// restore each other's. Other code of ours does not touch it; files made
    /// elsewhere during the swap are at worst made owner-only.
    private static let umaskLock = Mutex(())

    /// Listens at `path`. A socket file left by a process that died is
    /// replaced; one that a live process still answers on is not (the error
    /// has code `.addressInUse` and says "already running"). The file is
    /// created under a umask of 077 (never visible with looser rights) and
    /// set to 0600 right after `bind`.
    public init(path: String, backlog: Int32 = 64) throws {
        self.path = path
        let fd = try LocalStreamSocket.makeSocket(nonblocking: false)
        var bound = false
        do {
            try Self.bind(fd, to: path)
            bound = true
            guard chmod(path, 0o600) == 0 else { throw UDPError.system("chmod(\(path))", errno: errno) }
            try systemCallChecked("listen(\(path))") { listen(fd, backlog) }
            var info = stat()
            guard lstat(path, &info) == 0 else { throw UDPError.system("stat(\(path))", errno: errno) }
            file = (UInt64(info.st_dev), UInt64(info.st_ino))
            wakeFD = try systemCallChecked("eventfd") { clinux_eventfd() }
        } catch {
            if bound { _ = unlink(path) }   // a file no one will listen on would read as a dead daemon's
            _ = Glibc.close(fd)
            throw error
        }
        handle = SocketHandle(fd: fd, onRelease: { _ in })
    }

    private static func bind(_ fd: Int32, to path: String) throws {
        for _ in 0..<3 {
            let failure: Int32? = try UnixAddress.with(path) { address, length in
                umaskLock.withLock { _ in
                    let saved = umask(0o077)
                    defer { umask(saved) }
                    return Glibc.bind(fd, address, length) == 0 ? nil : errno
                }
            }
            guard let failure else { return }
            guard failure == EADDRINUSE else { throw UDPError.system("bind(\(path))", errno: failure) }
            try removeIfStale(path)
        }
        throw UDPError(.addressInUse, "\(path) keeps reappearing while it is being replaced; is another daemon starting?")
    }

    /// Removes the socket file at `path` if no one listens on it; throws if someone does.
    private static func removeIfStale(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }   // gone meanwhile: bind again
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw UDPError(.addressInUse, "\(path) exists and is not a socket; move it away")
        }
        // A nonblocking probe: a live listener with a full backlog answers EAGAIN, not a wait.
        let probe = try LocalStreamSocket.makeSocket(nonblocking: true)
        defer { _ = Glibc.close(probe) }
        let answer: Int32 = try UnixAddress.with(path) { address, length in
            Glibc.connect(probe, address, length) == 0 ? 0 : errno
        }
        switch answer {
        case 0, EAGAIN, EINPROGRESS:
            throw UDPError(.addressInUse, "a process is already running and listening on \(path)")
        case ECONNREFUSED:
            guard unlink(path) == 0 || errno == ENOENT else { throw UDPError.system("unlink(\(path))", errno: errno) }
        case ENOENT:
            return
        default:
            throw UDPError.system("connect(\(path))", errno: answer)
        }
    }

    /// The next connection. Blocks until one arrives or `close()` is called
    /// (then throws `UDPError.closed`).
    public func accept() throws -> LocalStreamSocket {
        while true {
            var entries = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            _ = try handle.withDescriptor { fd in
                entries[0].fd = fd
                return try systemCall("poll") { poll(&entries, 2, -1) }
            }
            if entries[1].revents != 0 || handle.isClosed { throw UDPError.closed }
            guard entries[0].revents != 0 else { continue }
            let result = try handle.withDescriptor { fd in
                try systemCall("accept(\(path))") { clinux_accept_cloexec(fd) }
            }
            switch result {
            case .done(let fd): return LocalStreamSocket(fd: fd)
            case .wouldBlock: continue
            }
        }
    }

    /// Stops listening: removes the socket file (if it is still this
    /// listener's), wakes a thread waiting in `accept()`, closes the socket.
    public func close() {
        guard handle.close() else { return }
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_dev) == file.device, UInt64(info.st_ino) == file.inode {
            _ = unlink(path)
        }
        _ = clinux_eventfd_signal(wakeFD)
    }

    deinit {
        close()
        _ = Glibc.close(wakeFD)
    }
}
