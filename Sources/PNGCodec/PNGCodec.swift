import CPNG
#if canImport(Glibc)
import Glibc
#endif

/// PNG <-> RGBA8 through libpng's simplified API (`png_image_*`), whose
/// errors come back as return values and `image.message`: no longjmp crosses
/// Swift frames. Any PNG libpng reads is accepted: gray, palette, 16-bit,
/// interlaced, with or without alpha.
public struct PNGCodec: Sendable {
    /// Images whose header claims more pixels than this are refused before any
    /// pixel buffer is allocated.
    public var maxPixels: Int
    /// How `encode` compresses (level, filter, threads).
    public var encoder: PNGEncoder

    public static let defaultMaxPixels = 100_000_000
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public init(maxPixels: Int = PNGCodec.defaultMaxPixels, encoder: PNGEncoder = PNGEncoder()) {
        self.maxPixels = maxPixels
        self.encoder = encoder
    }

    /// The width and height a PNG's header claims, without decoding pixels.
    public func dimensions(of data: [UInt8]) throws(PNGError) -> (width: Int, height: Int) {
        try withHeader(of: data) { image throws(PNGError) in try checkedSize(image) }
    }

    /// The width and height a PNG file's header claims, reading only the header.
    public func dimensions(ofFile path: String) throws(PNGError) -> (width: Int, height: Int) {
        try withHeader(ofFile: path) { image, _ throws(PNGError) in try checkedSize(image, name: path) }
    }

    /// Decodes a PNG held in memory into RGBA8.
    public func decode(_ data: [UInt8]) throws(PNGError) -> RGBAImage {
        try withHeader(of: data) { image throws(PNGError) in try finishDecoding(&image, header: data) }
    }

    /// Decodes a PNG file into RGBA8 (only its header is read before the size check).
    public func decode(file path: String) throws(PNGError) -> RGBAImage {
        try withHeader(ofFile: path) { image, head throws(PNGError) in try finishDecoding(&image, header: head, name: path) }
    }

    /// Checks the signature, reads the header (libpng's begin_read) and hands
    /// the image to `body`; frees libpng's state however `body` ends.
    private func withHeader<R>(of data: [UInt8], _ body: (inout png_image) throws(PNGError) -> R) throws(PNGError) -> R {
        try Self.checkSignature(data)
        var image = Self.newImage()
        defer { png_image_free(&image) }
        let began = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard began != 0 else { throw Self.failure(&image, reading: true) }
        return try body(&image)
    }

    private func withHeader<R>(ofFile path: String, _ body: (inout png_image, [UInt8]) throws(PNGError) -> R) throws(PNGError) -> R {
        let head = try FileBytes.prefix(of: path, count: Self.headerBytes)
        try Self.checkSignature(head, name: path)
        var image = Self.newImage()
        defer { png_image_free(&image) }
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw Self.failure(&image, reading: true, name: path)
        }
        return try body(&image, head)
    }

    /// Encodes RGBA8 pixels with the parallel encoder: as an RGB PNG when every
    /// pixel is opaque (a quarter smaller, decodes to the same RGBA), else RGBA.
    public func encode(_ picture: RGBAImage) throws(PNGError) -> [UInt8] {
        try checkLimit(width: picture.width, height: picture.height)
        if picture.isOpaque {
            return try encoder.encode(picture.rgbPixels(), width: picture.width, height: picture.height, channels: 3)
        }
        return try encoder.encode(picture.pixels, width: picture.width, height: picture.height, channels: 4)
    }

    /// Encodes RGB8 pixels (3 bytes a pixel, no padding) as an RGB PNG.
    public func encodeRGB(_ pixels: [UInt8], width: Int, height: Int) throws(PNGError) -> [UInt8] {
        try checkLimit(width: width, height: height)
        return try encoder.encode(pixels, width: width, height: height, channels: 3)
    }

    /// Encodes RGBA8 through libpng's own simplified writer (one core, libpng's
    /// defaults): the baseline the benchmarks compare against.
    public func encodeWithLibpng(_ picture: RGBAImage, fast: Bool = false) throws(PNGError) -> [UInt8] {
        try encodeWithLibpng(pixels: picture.pixels, width: picture.width, height: picture.height, fast: fast)
    }

    /// Encodes RGBA8 and writes the file atomically (a temporary file, then rename).
    public func write(_ picture: RGBAImage, to path: String) throws(PNGError) {
        let bytes = try encode(picture)
        try FileBytes.writeAtomically(bytes, to: path)
    }

    // MARK: Internals

    private func checkLimit(width: Int, height: Int) throws(PNGError) {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else {
            throw PNGError(.tooLarge, "cannot encode \(width)x\(height): more than the limit of \(maxPixels) pixels")
        }
    }

    private func encodeWithLibpng(pixels: [UInt8], width: Int, height: Int, fast: Bool) throws(PNGError) -> [UInt8] {
        let channels = 4
        guard width > 0, height > 0, width <= Int(Int32.max / 4), height <= Int(Int32.max) else {
            throw PNGError(.invalidImage, "cannot encode a \(width)x\(height) image")
        }
        try checkLimit(width: width, height: height)
        guard pixels.count == width * height * channels else {
            throw PNGError(.invalidImage, "\(width)x\(height) with \(channels) channels needs \(width * height * channels) bytes, got \(pixels.count)")
        }
        var image = Self.newImage()
        defer { png_image_free(&image) }
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = cpng_format_rgba
        if fast { image.flags |= cpng_flag_fast }
        var capacity = cpng_png_size_max(&image)
        var output = [UInt8](repeating: 0, count: capacity)
        let stride = Int32(width * channels)
        let ok = output.withUnsafeMutableBytes { out in
            pixels.withUnsafeBytes { source in
                png_image_write_to_memory(&image, out.baseAddress, &capacity, 0, source.baseAddress, stride, nil)
            }
        }
        guard ok != 0 else { throw Self.failure(&image, reading: false) }
        output.removeSubrange(capacity...)
        return output
    }

    /// The header's width and height, refused above the pixel limit.
    private func checkedSize(_ image: png_image, name: String? = nil) throws(PNGError) -> (width: Int, height: Int) {
        let width = Int(image.width), height = Int(image.height)
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else {
            let what = name.map { "\($0): " } ?? ""
            throw PNGError(.tooLarge, "\(what)image is \(width)x\(height) pixels, more than the limit of \(maxPixels)")
        }
        return (width, height)
    }

    private func finishDecoding(_ image: inout png_image, header: [UInt8], name: String? = nil) throws(PNGError) -> RGBAImage {
        let (width, height) = try checkedSize(image, name: name)
        if Self.isInterlaced16Bit(header) {
            return try LinearDecoding.finish(&image, name: name)
        }
        image.format = cpng_format_rgba
        let size = cpng_image_size(&image)
        var failed = false
        let buffer = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            failed = png_image_finish_read(&image, nil, buffer.baseAddress, 0, nil) == 0
            initialized = failed ? 0 : size
        }
        guard !failed else { throw Self.failure(&image, reading: true, name: name) }
        return try RGBAImage(width: width, height: height, pixels: buffer)
    }

    /// The signature and the IHDR chunk: what `isInterlaced16Bit` reads.
    static let headerBytes = 33

    /// libpng 1.6 (issue pnggroup/libpng#853) scrambles Adam7-interlaced 16-bit
    /// images read straight to 8-bit through the simplified API; those are read
    /// as 16-bit linear and converted here instead.
    static func isInterlaced16Bit(_ header: [UInt8]) -> Bool {
        guard header.count >= headerBytes, header[12...15].elementsEqual("IHDR".utf8) else { return false }
        return header[24] == 16 && header[28] == 1
    }

    static func newImage() -> png_image {
        var image = png_image()
        image.version = cpng_image_version
        return image
    }

    private static func checkSignature(_ data: [UInt8], name: String? = nil) throws(PNGError) {
        let what = name.map { "\($0): " } ?? ""
        guard !data.isEmpty else { throw PNGError(.notPNG, "\(what)empty input, not a PNG image") }
        guard data.count >= signature.count else {
            throw PNGError(.notPNG, "\(what)only \(data.count) bytes, too short for a PNG image")
        }
        guard data.prefix(signature.count).elementsEqual(signature) else {
            throw PNGError(.notPNG, "\(what)not a PNG image (the PNG signature is missing)")
        }
    }

    static func failure(_ image: inout png_image, reading: Bool, name: String? = nil) -> PNGError {
        let detail = String(cString: cpng_message(&image))
        let what = name.map { "\($0): " } ?? ""
        if reading {
            return PNGError(.corrupt, "\(what)damaged or truncated PNG (libpng: \(detail.isEmpty ? "unknown error" : detail))")
        }
        return PNGError(.invalidImage, "\(what)cannot encode PNG (libpng: \(detail.isEmpty ? "unknown error" : detail))")
    }
}
