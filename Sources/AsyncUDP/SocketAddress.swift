#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address and port, as the kernel wants it.
///
/// Parsed from `"127.0.0.1:7101"`, `"[::1]:7101"` or `"localhost:7101"`; host
/// names other than `localhost` are refused: photocloud never resolves names
/// (no DNS on the hot path, no hidden blocking).
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(host: UInt32, port: UInt16)          // host in network byte order
    case v6(host: IPv6Bytes, port: UInt16, scope: UInt32)

    /// The 16 bytes of an IPv6 address, hashable and sendable.
    public struct IPv6Bytes: Sendable, Hashable {
        public var bytes: [UInt8]
        public init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    public static func ipv4Loopback(port: UInt16) -> SocketAddress {
        .v4(host: UInt32(0x7f00_0001).bigEndian, port: port)
    }

    public static func ipv6Loopback(port: UInt16) -> SocketAddress {
        .v6(host: IPv6Bytes(Array(repeating: 0, count: 15) + [1]), port: port, scope: 0)
    }

    /// Parses `host:port` where host is an IPv4 literal, `[IPv6 literal]` or `localhost`.
    public init(parsing text: String) throws {
        func bad(_ why: String) -> UDPError {
            UDPError(.invalidAddress, "bad address \"\(text)\": \(why)")
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad("missing ']'") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw bad("expected [host]:port") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad("expected host:port") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else { throw bad("an IPv6 address needs brackets: [host]:port") }
        }
        guard let port = UInt16(portText) else { throw bad("port must be a number from 0 to 65535") }
        try self.init(host: String(host), port: port)
    }

    /// An address from a numeric host (IPv4 or IPv6 literal, or `localhost`) and a port.
    public init(host: String, port: UInt16) throws {
        if host == "localhost" {
            self = .ipv4Loopback(port: port)
            return
        }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            self = .v4(host: v4.s_addr, port: port)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            self = .v6(host: IPv6Bytes(bytes), port: port, scope: 0)
            return
        }
        throw UDPError(.invalidAddress, "bad address \"\(host)\": not an IPv4 or IPv6 literal (names are not resolved)")
    }

    public var port: UInt16 {
        switch self {
        case .v4(_, let port), .v6(_, let port, _): return port
        }
    }

    public var family: Int32 {
        switch self {
        case .v4: return AF_INET
        case .v6: return AF_INET6
        }
    }

    /// The address as bytes (family, host, port): what a cookie or a MAC binds to.
    public var identityBytes: [UInt8] {
        switch self {
        case .v4(let host, let port):
            return [4] + withUnsafeBytes(of: host) { Array($0) } + [UInt8(port >> 8), UInt8(port & 0xFF)]
        case .v6(let host, let port, _):
            return [6] + host.bytes + [UInt8(port >> 8), UInt8(port & 0xFF)]
        }
    }

    /// The same host with another port.
    public func with(port: UInt16) -> SocketAddress {
        switch self {
        case .v4(let host, _): return .v4(host: host, port: port)
        case .v6(let host, _, let scope): return .v6(host: host, port: port, scope: scope)
        }
    }

    public var hostString: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch self {
        case .v4(let host, _):
            var address = in_addr(s_addr: host)
            inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
        case .v6(let host, _, _):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: host.bytes) }
            inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String {
        switch self {
        case .v4: return "\(hostString):\(port)"
        case .v6: return "[\(hostString)]:\(port)"
        }
    }

    /// Calls `body` with this address as a `sockaddr` and its length.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        var storage = sockaddr_storage()
        let length = write(to: &storage)
        return try withUnsafePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                try body(address, length)
            }
        }
    }

    /// Writes this address into `storage`; returns the length the kernel needs.
    func write(to storage: inout sockaddr_storage) -> socklen_t {
        switch self {
        case .v4(let host, let port):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr = in_addr(s_addr: host)
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: &address) { raw.copyMemory(from: $0) }
            }
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let host, let port, let scope):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_scope_id = scope
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: host.bytes) }
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: &address) { raw.copyMemory(from: $0) }
            }
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }

    /// Reads an address the kernel wrote; nil for families photocloud does not speak.
    init?(storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &storage) { $0.loadUnaligned(as: sockaddr_in.self) }
            self = .v4(host: address.sin_addr.s_addr, port: UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let address = withUnsafeBytes(of: &storage) { $0.loadUnaligned(as: sockaddr_in6.self) }
            var raw = address.sin6_addr
            let bytes = withUnsafeBytes(of: &raw) { Array($0) }
            self = .v6(host: IPv6Bytes(bytes), port: UInt16(bigEndian: address.sin6_port), scope: address.sin6_scope_id)
        default:
            return nil
        }
    }
}

extension SocketAddress {
    /// The local address this machine's routing table would send from to
    /// reach `remote` (a UDP socket connected to it, no datagram sent), port 0:
    /// the address a peer on this machine is reached at by `remote`'s network.
    public static func localAddress(toward remote: SocketAddress) throws -> SocketAddress {
        let fd = try systemCallChecked("socket") { socket(remote.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { Glibc.close(fd) }
        try remote.withSockAddr { address, length in
            _ = try systemCallChecked("connect(\(remote))") { connect(fd, address, length) }
        }
        return try UDPSocket.boundAddress(fd).with(port: 0)
    }
}
