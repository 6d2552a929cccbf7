import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking UDP socket, for baselines: the benchmark compares the
/// async path against these syscalls on a dedicated thread. Not for use on
/// the async path (it blocks its thread).
public final class BlockingUDPSocket: Sendable {
    public let localAddress: SocketAddress
    private let fd: Int32

    /// Binds a blocking socket; `receiveTimeout` bounds every receive.
    public init(bind address: SocketAddress, receiveTimeout: Duration = .seconds(2)) throws {
        let family = address.family
        fd = try systemCallChecked("socket") { clinux_udp_socket(family, 1) }
        let fd = fd
        do {
            _ = try address.withSockAddr { pointer, length in
                try systemCallChecked("bind(\(address))") { Glibc.bind(fd, pointer, length) }
            }
            let milliseconds = Int32(clamping: receiveTimeout.components.seconds * 1_000 + receiveTimeout.components.attoseconds / 1_000_000_000_000_000)
            try systemCallChecked("setsockopt(SO_RCVTIMEO)") { clinux_set_receive_timeout(fd, milliseconds) }
            localAddress = try UDPSocket.boundAddress(fd)
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
    }

    public func send(_ bytes: [UInt8], to address: SocketAddress) throws {
        let fd = fd
        _ = try address.withSockAddr { pointer, length in
            try bytes.withUnsafeBytes { buffer in
                try systemCallChecked("sendto") { sendto(fd, buffer.baseAddress, buffer.count, 0, pointer, length) }
            }
        }
    }

    /// Receives into `buffer`; returns the byte count and sender. Throws on timeout.
    public func receive(into buffer: inout [UInt8]) throws -> (count: Int, from: SocketAddress) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = fd
        let count = try buffer.withUnsafeMutableBytes { raw in
            try withUnsafeMutablePointer(to: &storage) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    try systemCallChecked("recvfrom") { recvfrom(fd, raw.baseAddress, raw.count, 0, address, &length) }
                }
            }
        }
        guard let from = SocketAddress(storage: storage) else {
            throw UDPError(.invalidAddress, "datagram from an unknown address family")
        }
        return (count, from)
    }

    deinit { _ = Glibc.close(fd) }
}
