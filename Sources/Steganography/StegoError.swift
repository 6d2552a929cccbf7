/// The one error type of the steganography engine: why a payload could not be
/// hidden or recovered, in words a user can act on.
public struct StegoError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The payload does not fit the cover at the requested bits per channel.
        case coverTooSmall
        /// No payload was found with this key: a wrong key, or no payload at all.
        case noPayload
        /// A payload was found but fails authentication: the image was altered.
        case damaged
        /// Bits per channel outside 1...3, a malformed key, a bad buffer.
        case invalidArgument
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
