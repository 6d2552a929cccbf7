#if canImport(Glibc)
import Glibc
#endif

/// The one error type of AsyncUDP (UDP sockets and the local stream sockets): what failed, in words a user can act on,
/// with the errno of the system call when there was one.
public struct UDPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A system call failed; `errno` says why.
        case system
        /// The socket was closed (before or while the operation waited).
        case closed
        /// An address could not be parsed or is of the wrong family.
        case invalidAddress
        /// A datagram is larger than a UDP datagram can be.
        case datagramTooLarge
        /// A local socket path is taken by a process that still listens on it.
        case addressInUse
        /// A local stream operation passed its deadline.
        case timedOut
        /// The other end of a local stream closed it before all bytes arrived.
        case endOfStream
    }

    public let code: Code
    public let message: String
    public let errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    static func system(_ call: String, errno value: Int32) -> UDPError {
        let reason = String(cString: strerror(value))
        return UDPError(.system, "\(call) failed: \(reason) (errno \(value))", errno: value)
    }

    static let closed = UDPError(.closed, "the socket is closed")

    public var description: String { message }
}
