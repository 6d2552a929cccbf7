/// Why a peer-to-peer exchange, a sealed object or an access-rights change
/// was refused: one message a user can act on.
public struct PeerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case malformed
        case tooLarge
        case crypto
        case sealBroken
        case badSignature
        case stale
        case noViewsLeft
        case notYours
        case unknown
        case keyChanged
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
