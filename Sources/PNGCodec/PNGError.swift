/// The one error type of PNGCodec: what is wrong with an image, in words a user can act on.
public struct PNGError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The bytes do not start with the PNG signature (or there are none).
        case notPNG
        /// The image is truncated, damaged, forged or unsupported (found by the
        /// chunk walk or by libpng).
        case corrupt
        /// The header claims more pixels than the configured limit, or a side
        /// longer than libpng accepts.
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

    /// "path: " when there is a file name, for the start of a message.
    static func prefix(_ name: String?) -> String { name.map { "\($0): " } ?? "" }
}
