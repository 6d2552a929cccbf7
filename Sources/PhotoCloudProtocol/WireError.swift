/// The one error type of PhotoCloudProtocol's wire layer: why a datagram or a
/// message body was refused. Decoding never traps; every refusal is one of these.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case truncated
        case badMagic
        case unsupportedVersion
        case unknownType
        case lengthMismatch
        case reservedBitsSet
        case unknownAuthScheme
        case missingKey
        case badTag
        case tooLarge
        case malformedBody
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
