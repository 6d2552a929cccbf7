/// The image formats photocloud reads: PNG (what it sends) and JPEG (what phones take).
public enum ImageFormat: String, Sendable, CaseIterable {
    case png
    case jpeg
}

/// Photos as people have them: PNG or JPEG, told apart by their first bytes
/// (never by a file name), decoded under the same limits. Anything else is
/// refused with `PNGError.Code.notImage`.
public enum ImageFile {
    /// The format `bytes` start like, or nil: PNG's 8-byte signature, or
    /// JPEG's start-of-image marker followed by the next marker's FF.
    public static func format(of bytes: [UInt8]) -> ImageFormat? {
        if bytes.starts(with: PNGCodec.signature) { return .png }
        if bytes.starts(with: JPEGCodec.signature) { return .jpeg }
        return nil
    }

    /// The format of `bytes`, or a clear error saying they are not a photo.
    public static func requireFormat(of bytes: [UInt8]) throws(PNGError) -> ImageFormat {
        if let format = format(of: bytes) { return format }
        guard !bytes.isEmpty else { throw PNGError(.notImage, "empty input, not an image") }
        let start = bytes.prefix(4).map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }
        throw PNGError(.notImage, "not a photo: neither PNG nor JPEG (the data starts \(start.joined(separator: " ")))")
    }

    /// The width and height of a PNG or JPEG, after the checks decoding makes
    /// first (its header read, its limits applied), without decoding pixels.
    public static func dimensions(of bytes: [UInt8], maxPixels: Int = PNGCodec.defaultMaxDecodePixels) throws(PNGError) -> (width: Int, height: Int) {
        switch try requireFormat(of: bytes) {
        case .png: try pngCodec(maxPixels: maxPixels).dimensions(of: bytes)
        case .jpeg: try JPEGCodec(maxDecodePixels: maxPixels).dimensions(of: bytes)
        }
    }

    /// Decodes a PNG or JPEG into RGBA8. Images with more than `maxPixels`
    /// pixels are refused from their header, before any pixel buffer exists.
    public static func decode(_ bytes: [UInt8], maxPixels: Int = PNGCodec.defaultMaxDecodePixels) throws(PNGError) -> RGBAImage {
        switch try requireFormat(of: bytes) {
        case .png: try pngCodec(maxPixels: maxPixels).decode(bytes)
        case .jpeg: try JPEGCodec(maxDecodePixels: maxPixels).decode(bytes)
        }
    }

    /// Reads a file (at most `limit` bytes) and decodes it as `decode` does,
    /// naming the file in any error.
    public static func decode(file path: String, maxPixels: Int = PNGCodec.defaultMaxDecodePixels, limit: Int = 1 << 30) throws(PNGError) -> RGBAImage {
        let bytes = try FileBytes.read(path, limit: limit)
        do {
            return try decode(bytes, maxPixels: maxPixels)
        } catch {
            throw PNGError(error.code, "\(path): \(error.message)")
        }
    }

    /// PNGCodec with its decode limit at `maxPixels`.
    static func pngCodec(maxPixels: Int) -> PNGCodec {
        var codec = PNGCodec()
        codec.maxDecodePixels = maxPixels
        return codec
    }
}
