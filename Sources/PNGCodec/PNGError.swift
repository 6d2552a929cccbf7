/// The one error type of PNGCodec: what is wrong with an image, in words a user can act on.
public struct PNGError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The bytes do not start with the PNG signature (or there are none).
        case notPNG
        /// libpng could not read the image: truncated, damaged or unsupported.
        case corrupt
        /// The header claims more pixels than the configured limit.
        case tooLarge
        /// A buffer handed to the encoder does not match its width and height.
        case invalidImage
        /// Reading or writing a file failed.
        case io
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
