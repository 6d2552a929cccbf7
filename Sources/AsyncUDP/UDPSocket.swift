import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// One received or to-be-sent datagram and the address it came from or goes to.
public struct Datagram: Sendable, Equatable {
    public var bytes: [UInt8]
    public var address: SocketAddress
    /// The datagram was larger than the buffer and was cut.
    public var truncated: Bool

    public init(bytes: [UInt8], address: SocketAddress, truncated: Bool = false) {
        self.bytes = bytes
        self.address = address
        self.truncated = truncated
    }
}

/// A nonblocking UDP socket with an async API over the process's epoll loop.
///
/// Every operation first tries its system call; only when the kernel says it
/// would block does the task park until epoll reports readiness. Any number of
/// tasks may send and receive at once. `close()` fails the parked ones with
/// `UDPError.closed`; a cancelled receive leaves no trace and takes no datagram.
public final class UDPSocket: Sendable {
    public struct Options: Sendable {
        /// SO_RCVBUF / SO_SNDBUF in bytes; nil keeps the kernel's default.
        public var receiveBufferSize: Int?
        public var sendBufferSize: Int?
        /// Faults to apply to outgoing datagrams (off when nil).
        public var faults: FaultProfile?

        public init(receiveBufferSize: Int? = nil, sendBufferSize: Int? = nil, faults: FaultProfile? = nil) {
            self.receiveBufferSize = receiveBufferSize
            self.sendBufferSize = sendBufferSize
            self.faults = faults
        }
    }

    /// The largest payload a UDP datagram can carry over IPv4.
    public static let maxDatagramSize = 65_507

    public let localAddress: SocketAddress
    /// The fault layer, when the socket has one.
    public let faults: FaultInjector?
    private let handle: SocketHandle
    private let readiness: Readiness
    private let delayLine: DelayLine?

    /// Opens a socket bound to `address` (port 0 picks a free port; see `localAddress`).
    public init(bind address: SocketAddress, options: Options = Options(), loop: EventLoop = .shared) throws {
        let family = address.family
        let fd = try systemCallChecked("socket") { clinux_udp_socket(family, 0) }
        let bound: SocketAddress
        let readiness: Readiness
        do {
            _ = try address.withSockAddr { pointer, length in
                try systemCallChecked("bind(\(address))") { Glibc.bind(fd, pointer, length) }
            }
            if let size = options.receiveBufferSize { try Self.setOption(fd, SO_RCVBUF, size) }
            if let size = options.sendBufferSize { try Self.setOption(fd, SO_SNDBUF, size) }
            bound = try Self.boundAddress(fd)
            readiness = try loop.register(fd: fd)
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        let handle = SocketHandle(fd: fd) { fd in loop.deregister(fd: fd, readiness: readiness) }
        self.localAddress = bound
        self.readiness = readiness
        self.handle = handle
        if let profile = options.faults, !profile.isClean {
            faults = FaultInjector(profile)
            delayLine = DelayLine { bytes, address in
                try await Self.sendUnfaulted(bytes, to: address, handle: handle, readiness: readiness)
            }
        } else {
            faults = nil
            delayLine = nil
        }
    }

    // MARK: Sending

    /// Sends one datagram, waiting while the socket's send buffer is full.
    public func send(_ bytes: [UInt8], to address: SocketAddress) async throws {
        guard let faults, let delayLine else {
            return try await Self.sendUnfaulted(bytes, to: address, handle: handle, readiness: readiness)
        }
        for delay in faults.plan() {
            let copy = faults.corrupted(bytes)
            if delay == .zero {
                try await Self.sendUnfaulted(copy, to: address, handle: handle, readiness: readiness)
            } else {
                await delayLine.schedule(copy, to: address, at: ContinuousClock.now + delay)
            }
        }
    }

    /// Sends one datagram now if the kernel takes it: true if sent, false if the
    /// send buffer is full (nothing is queued). Applies the fault layer, which
    /// counts as sent.
    public func trySend(_ bytes: [UInt8], to address: SocketAddress) throws -> Bool {
        if let faults, let delayLine {
            for delay in faults.plan() {
                let copy = faults.corrupted(bytes)
                if delay == .zero, try !Self.sendNow(copy, to: address, handle: handle) {
                    return false
                } else if delay > .zero {
                    let due = ContinuousClock.now + delay
                    Task { await delayLine.schedule(copy, to: address, at: due) }
                }
            }
            return true
        }
        return try Self.sendNow(bytes, to: address, handle: handle)
    }

    /// Sends one datagram made of `head` then `tail` now if the kernel takes it
    /// (one sendmsg gathering both: `tail`, a chunk's data, is not copied into
    /// a buffer first). As `trySend(_:to:)` otherwise.
    public func trySend(_ head: [UInt8], _ tail: ArraySlice<UInt8>, to address: SocketAddress) throws -> Bool {
        if tail.isEmpty { return try trySend(head, to: address) }
        if faults != nil { return try trySend(head + tail, to: address) }
        guard head.count + tail.count <= Self.maxDatagramSize else {
            throw UDPError(.datagramTooLarge, "a datagram of \(head.count + tail.count) bytes is larger than UDP allows (\(Self.maxDatagramSize))")
        }
        let result = try handle.withDescriptor { fd in
            try address.withSockAddr { pointer, length in
                try head.withUnsafeBytes { first in
                    try tail.withUnsafeBytes { second in
                        var pieces = [iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
                                      iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count)]
                        return try pieces.withUnsafeMutableBufferPointer { vector in
                            var message = msghdr()
                            message.msg_name = UnsafeMutableRawPointer(mutating: pointer)
                            message.msg_namelen = length
                            message.msg_iov = vector.baseAddress
                            message.msg_iovlen = vector.count
                            return try systemCall("sendmsg(\(address))") { sendmsg(fd, &message, Int32(MSG_DONTWAIT)) }
                        }
                    }
                }
            }
        }
        if case .done = result { return true }
        return false
    }

    /// Sends many datagrams with as few system calls as possible (sendmmsg).
    public func send(batch datagrams: [Datagram]) async throws {
        if faults != nil {
            for datagram in datagrams { try await send(datagram.bytes, to: datagram.address) }
            return
        }
        var sent = 0
        while sent < datagrams.count {
            let seen = readiness.generation(.write)
            let count = try handle.withDescriptor { fd in
                try BatchIO.send(fd: fd, datagrams[sent...])
            }
            if let count {
                sent += count
            } else {
                try await readiness.wait(.write, after: seen)
            }
        }
    }

    private static func sendUnfaulted(
        _ bytes: [UInt8], to address: SocketAddress, handle: SocketHandle, readiness: Readiness
    ) async throws {
        while true {
            let seen = readiness.generation(.write)
            if try sendNow(bytes, to: address, handle: handle) { return }
            try await readiness.wait(.write, after: seen)
        }
    }

    /// One nonblocking sendto: false if it would block.
    private static func sendNow(_ bytes: [UInt8], to address: SocketAddress, handle: SocketHandle) throws -> Bool {
        guard bytes.count <= maxDatagramSize else {
            throw UDPError(.datagramTooLarge, "a datagram of \(bytes.count) bytes is larger than UDP allows (\(maxDatagramSize))")
        }
        let result = try handle.withDescriptor { fd in
            try address.withSockAddr { pointer, length in
                try bytes.withUnsafeBytes { buffer in
                    try systemCall("sendto(\(address))") {
                        sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT), pointer, length)
                    }
                }
            }
        }
        if case .done = result { return true }
        return false
    }

    // MARK: Receiving

    /// Waits for the next datagram (of at most `maxSize` bytes; a longer one is
    /// cut and marked `truncated`).
    public func receive(maxSize: Int = UDPSocket.maxDatagramSize) async throws -> Datagram {
        while true {
            let seen = readiness.generation(.read)
            if let datagram = try receiveNow(maxSize: maxSize) { return datagram }
            try await readiness.wait(.read, after: seen)
        }
    }

    /// Waits for at least one datagram and returns up to `count` of them (recvmmsg).
    public func receive(batchOf count: Int, maxSize: Int = 2_048) async throws -> [Datagram] {
        precondition(count > 0 && maxSize > 0, "receive(batchOf:) needs a positive count and size")
        while true {
            let seen = readiness.generation(.read)
            let datagrams = try handle.withDescriptor { fd in
                try BatchIO.receive(fd: fd, count: count, maxSize: maxSize)
            }
            if !datagrams.isEmpty { return datagrams }
            try await readiness.wait(.read, after: seen)
        }
    }

    /// One datagram if one is queued now, nil if the call would block.
    public func receiveNow(maxSize: Int = UDPSocket.maxDatagramSize) throws -> Datagram? {
        var received: Received?
        var failure: (any Error)?
        let bytes = [UInt8](unsafeUninitializedCapacity: maxSize) { buffer, initialized in
            do { received = try receiveNow(into: UnsafeMutableRawBufferPointer(buffer)) } catch { failure = error }
            initialized = received?.count ?? 0
        }
        if let failure { throw failure }
        return received.map { Datagram(bytes: bytes, address: $0.address, truncated: $0.truncated) }
    }

    /// Where a datagram landed in a caller's buffer.
    public struct Received: Sendable {
        public var count: Int
        public var address: SocketAddress
        public var truncated: Bool
    }

    /// One queued datagram written into the front of `buffer` (whose whole
    /// length is available), or nil if the call would block. For hot receive
    /// loops that reuse one buffer instead of allocating per datagram.
    public func receiveNow(into buffer: inout [UInt8]) throws -> Received? {
        try buffer.withUnsafeMutableBytes { try receiveNow(into: $0) }
    }

    /// What a drain of the socket came to.
    public enum Drained: Sendable, Equatable {
        /// Nothing more is queued: wait until the socket is readable again.
        case empty
        /// The batch is done and more may be queued: let others run, then drain again.
        case more
        /// The socket failed (it was closed) or the handler asked to stop.
        case stopped
    }

    /// The datagrams queued now, each written into the front of `buffer` (one
    /// buffer for all) and handed to `body` with its sender; a truncated one
    /// is skipped. `body` returns false to stop. After `budget` of work (the
    /// clock is read every 64 datagrams) it stops with `.more`: a flood on one
    /// socket must not hold its event loop, whose other sockets and timers
    /// (heartbeats) then run before the rest is read. A batch limit of a few
    /// hundred datagrams cost a tenth of a loaded cloud's throughput in
    /// yields; a time budget yields only under a flood.
    public func receiveEach(into buffer: inout [UInt8], budget: Duration = .milliseconds(5),
                            _ body: (ArraySlice<UInt8>, SocketAddress) -> Bool) -> Drained {
        let deadline = ContinuousClock.now + budget
        var count = 0
        while true {
            let received: Received?
            do { received = try receiveNow(into: &buffer) } catch { return .stopped }
            guard let received else { return .empty }
            count += 1
            if received.truncated { continue }
            if !body(buffer[0..<received.count], received.address) { return .stopped }
            if count % 64 == 0, ContinuousClock.now >= deadline { return .more }
        }
    }

    /// The one recvfrom of the socket: nonblocking, MSG_TRUNC so that a cut
    /// datagram reports its real size.
    private func receiveNow(into buffer: UnsafeMutableRawBufferPointer) throws -> Received? {
        try handle.withDescriptor { fd throws -> Received? in
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let capacity = buffer.count
            let outcome = try withUnsafeMutablePointer(to: &storage) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    try systemCall("recvfrom") {
                        recvfrom(fd, buffer.baseAddress, capacity, Int32(MSG_DONTWAIT | MSG_TRUNC), address, &length)
                    }
                }
            }
            guard case .done(let size) = outcome, let address = SocketAddress(storage: storage) else { return nil }
            return Received(count: min(size, capacity), address: address, truncated: size > capacity)
        }
    }

    /// A mark in the socket's history of becoming readable, taken before
    /// draining it with `receiveNow`; see `waitUntilReadable(after:)`.
    public func readableMark() -> UInt64 { readiness.generation(.read) }

    /// Parks until the socket has become readable since `mark` (at once if it
    /// already has): no readiness between the mark and the wait is lost.
    public func waitUntilReadable(after mark: UInt64) async throws {
        try await readiness.wait(.read, after: mark)
    }

    /// A receive loop for servers that reuse one buffer: calls `drain` (a
    /// batch of `receiveEach`) whenever the socket has become readable, and
    /// again after letting the loop's other work run while more is queued,
    /// until `drain` says `.stopped`, the task is cancelled or the socket is
    /// closed.
    public func drainWhenReadable(_ drain: () async -> Drained) async {
        while !Task.isCancelled {
            let mark = readableMark()
            switch await drain() {
            case .stopped:
                return
            case .more:
                // Others on this loop first (another socket's datagrams, timers), then the rest of this one's.
                await Task.yield()
            case .empty:
                do { try await waitUntilReadable(after: mark) } catch { return }
            }
        }
    }

    // MARK: Options and closing

    public var receiveBufferSize: Int { get throws { try option(SO_RCVBUF) } }
    public var sendBufferSize: Int { get throws { try option(SO_SNDBUF) } }

    /// Sets SO_RCVBUF (the kernel doubles the value and caps it at net.core.rmem_max).
    public func setReceiveBufferSize(_ bytes: Int) throws {
        try handle.withDescriptor { fd throws in try Self.setOption(fd, SO_RCVBUF, bytes) }
    }

    public func setSendBufferSize(_ bytes: Int) throws {
        try handle.withDescriptor { fd throws in try Self.setOption(fd, SO_SNDBUF, bytes) }
    }

    public var isClosed: Bool { handle.isClosed }

    /// Closes the socket: parked and later operations fail with `UDPError.closed`.
    public func close() {
        if handle.close() { readiness.close() }
    }

    private func option(_ name: Int32) throws -> Int {
        try handle.withDescriptor { fd in
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            try systemCallChecked("getsockopt") { getsockopt(fd, SOL_SOCKET, name, &value, &length) }
            return Int(value)
        }
    }

    static func setOption(_ fd: Int32, _ name: Int32, _ value: Int) throws {
        var value = Int32(clamping: value)
        try systemCallChecked("setsockopt") {
            setsockopt(fd, SOL_SOCKET, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    static func boundAddress(_ fd: Int32) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                try systemCallChecked("getsockname") { getsockname(fd, address, &length) }
            }
        }
        guard let address = SocketAddress(storage: storage) else {
            throw UDPError(.invalidAddress, "getsockname returned an unknown address family")
        }
        return address
    }

    deinit { close() }
}
