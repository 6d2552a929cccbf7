import CJPEGReader

/// RGBA8 (or gray, or CMYK) -> JPEG through libjpeg-turbo, for tests,
/// fixtures and benchmarks: photocloud makes photos no one took, and sends
/// PNGs. Alpha is dropped (a JPEG has none).
public struct JPEGEncoder: Sendable {
    /// How colour is stored.
    public enum Storage: Sendable {
        /// Y, Cb, Cr: what cameras and phones write.
        case ycbcr
        /// R, G, B as they are (with an Adobe marker saying so).
        case rgb
    }

    /// libjpeg's quality scale, 1 to 100.
    public var quality: Int
    /// Several scans, coarse to fine, as many web images are.
    public var progressive: Bool
    /// With `progressive`: every AC coefficient of every component in its own
    /// scan, in three passes (568 scans for colour, where libjpeg's usual
    /// script has 10). Legal, and the costliest progression to decode: for
    /// hostile-input tests and benchmarks.
    public var everyCoefficientScans: Bool = false
    /// Chroma at half resolution both ways (4:2:0, as phones write) rather than full (4:4:4).
    public var subsampled: Bool
    public var storage: Storage

    public init(quality: Int = 90, progressive: Bool = false, subsampled: Bool = true, storage: Storage = .ycbcr) {
        self.quality = quality
        self.progressive = progressive
        self.subsampled = subsampled
        self.storage = storage
    }

    /// Encodes an image's colour (its alpha is ignored).
    public func encode(_ image: RGBAImage) throws(PNGError) -> [UInt8] {
        try encode(image.pixels, width: image.width, height: image.height, input: cjpeg_input_rgba,
                   stored: storage == .rgb ? cjpeg_color_rgb : cjpeg_color_ycbcr, bytesPerPixel: 4)
    }

    /// Encodes gray pixels, 1 byte each, as a one-component JPEG.
    public func encodeGray(_ pixels: [UInt8], width: Int, height: Int) throws(PNGError) -> [UInt8] {
        try encode(pixels, width: width, height: height, input: cjpeg_input_gray, stored: cjpeg_color_gray, bytesPerPixel: 1)
    }

    /// Encodes CMYK pixels, 4 bytes each, as Adobe stores them (255 is no
    /// ink), as a CMYK or YCCK JPEG with an Adobe marker: the files print
    /// workflows produce.
    public func encodeCMYK(_ pixels: [UInt8], width: Int, height: Int, asYCCK: Bool = false) throws(PNGError) -> [UInt8] {
        try encode(pixels, width: width, height: height, input: cjpeg_input_cmyk,
                   stored: asYCCK ? cjpeg_color_ycck : cjpeg_color_cmyk, bytesPerPixel: 4)
    }

    private func encode(_ pixels: [UInt8], width: Int, height: Int, input: cjpeg_input, stored: cjpeg_color,
                        bytesPerPixel: Int) throws(PNGError) -> [UInt8] {
        guard (1...65_500).contains(width), (1...65_500).contains(height) else {
            throw PNGError(.invalidImage, "a JPEG is 1 to 65500 pixels a side, not \(width)x\(height)")
        }
        guard pixels.count == width * height * bytesPerPixel else {
            throw PNGError(.invalidImage, "\(width)x\(height) at \(bytesPerPixel) bytes a pixel needs \(width * height * bytesPerPixel) bytes, got \(pixels.count)")
        }
        guard (1...100).contains(quality) else { throw PNGError(.invalidImage, "JPEG quality is 1 to 100, not \(quality)") }
        var encoding = cjpeg_encoding(input: input, stored: stored, quality: Int32(quality), progressive: progressive ? 1 : 0,
                                      every_coefficient: everyCoefficientScans ? 1 : 0, subsample: subsampled ? 1 : 0)
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        let (status, message) = JPEGCodec.call { text, textSize in
            pixels.withUnsafeBufferPointer { cjpeg_encode($0.baseAddress, UInt32(width), UInt32(height), &encoding, &output, &size, text, textSize) }
        }
        defer { cjpeg_free(output) }
        guard status == cjpeg_ok, let output else {
            throw PNGError(.invalidImage, "cannot encode JPEG (libjpeg: \(message.isEmpty ? "unknown error" : message))")
        }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
