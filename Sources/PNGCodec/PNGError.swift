/// The one error type of PNGCodec (PNG and JPEG alike): what is wrong with an
/// image, in words a user can act on.
public struct PNGError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The bytes do not start with the PNG signature (or there are none).
        case notPNG
        /// The bytes are neither a PNG nor a JPEG (or there are none): not a photo.
        case notImage
        /// The image is truncated, damaged, forged or unsupported (found by the
        /// chunk walk, by libpng or by libjpeg).
        case corrupt
        /// A valid image this codec does not turn into RGBA: a JPEG of more than
        /// 8 bits a sample, or of colour components in an unknown colour space.
        case unsupported
        /// The header claims more pixels than the configured limit, or a side
        /// longer than libpng accepts; or a JPEG needs more memory or scans
        /// than its decode allows.
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
