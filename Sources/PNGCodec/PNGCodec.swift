import CPNG
#if canImport(Glibc)
import Glibc
#endif

/// PNG <-> RGBA8. Decoding treats every PNG as coming from a stranger: a
/// chunk walk in Swift (`PNGChunkWalk`) checks the file's structure and keeps
/// only the chunks that change the pixels, a plan (`PNGDecodePlan`) refuses
/// what breaks the limits before any pixel buffer exists, and libpng's full API
/// (CPNGReader, its longjmps kept in C) reads the kept ranges straight into the
/// RGBA8 result; plain 8-bit RGB and RGBA files are read without libpng, to
/// the same pixels (`PNGPlainReading`). Any PNG libpng reads is accepted:
/// gray, palette, 16-bit, interlaced, with or without alpha. See
/// docs/security.md, "Untrusted PNGs".
public struct PNGCodec: Sendable {
    /// Images with more pixels than this are refused: encoding above it, and
    /// decoding above the smaller of this and `maxDecodePixels`.
    public var maxPixels: Int
    /// Decoding refuses images with more pixels than this (and than `maxPixels`)
    /// before any pixel buffer is allocated; a 16-bit image's pixels count
    /// twice. The default keeps every PNG under 1 MB decoding in under a second
    /// on the project's 2-core machines (docs/security.md, "Untrusted PNGs"); raise it only
    /// for files you trust.
    public var maxDecodePixels: Int
    /// How `encode` compresses (level, filter, threads).
    public var encoder: PNGEncoder
    /// Whether plain 8-bit RGB and RGBA files are read without libpng
    /// (`PNGPlainReading`: the same pixels, faster); off, libpng reads every
    /// file, as a reference to compare with.
    public var plainReader = true

    public static let defaultMaxPixels = 100_000_000
    /// The default decode limit for files from anywhere: 50 megapixels (25 at
    /// 16 bits), the largest photos people share, decoded within a second (a
    /// 100-megapixel image takes 1.2 s to 4 s here, from files under 1 MB).
    public static let defaultMaxDecodePixels = 50_000_000
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public init(maxPixels: Int = PNGCodec.defaultMaxPixels, encoder: PNGEncoder = PNGEncoder()) {
        self.maxPixels = maxPixels
        self.maxDecodePixels = PNGCodec.defaultMaxDecodePixels
        self.encoder = encoder
    }

    /// The pixel limit decoding applies.
    public var decodeLimit: Int { min(maxPixels, maxDecodePixels) }

    /// The width and height of a PNG, after the same checks as decoding (its
    /// chunks walked, its limits applied), without decoding pixels.
    public func dimensions(of data: [UInt8]) throws(PNGError) -> (width: Int, height: Int) {
        let plan = try decodePlan(of: data)
        return (plan.width, plan.height)
    }

    /// The width and height of a PNG file, after the same checks as decoding;
    /// reads the chunk headers, not the image data.
    public func dimensions(ofFile path: String) throws(PNGError) -> (width: Int, height: Int) {
        try withFile(path) { source throws(PNGError) in
            let plan = try plan(source, name: path)
            return (plan.width, plan.height)
        }
    }

    /// Decodes a PNG held in memory into RGBA8.
    public func decode(_ data: [UInt8]) throws(PNGError) -> RGBAImage {
        try decodeReporting(data).image
    }

    /// Decodes a PNG file into RGBA8, reading it in place (never a whole copy).
    public func decode(file path: String) throws(PNGError) -> RGBAImage {
        try withFile(path) { source throws(PNGError) in
            try PNGReading.decode(source, plan: plan(source, name: path), name: path, plain: plainReader).0
        }
    }

    /// What decoding `data` would allocate, or why it is refused; allocates no pixels.
    public func decodePlan(of data: [UInt8]) throws(PNGError) -> PNGDecodePlan {
        try data.withUnsafeBytes { bytes in Result { () throws(PNGError) in try plan(.memory(bytes), name: nil) } }.get()
    }

    /// Decodes, and reports the plan followed and what libpng allocated.
    public func decodeReporting(_ data: [UInt8]) throws(PNGError) -> (image: RGBAImage, report: PNGDecodeReport) {
        try data.withUnsafeBytes { bytes in
            Result { () throws(PNGError) in
                let source = PNGByteSource.memory(bytes)
                return try PNGReading.decode(source, plan: plan(source, name: nil), name: nil, plain: plainReader)
            }
        }.get()
    }

    private func plan(_ source: PNGByteSource, name: String?) throws(PNGError) -> PNGDecodePlan {
        var window = PNGByteWindow(source, name: name)
        let head = try window.bytes(at: 0, count: min(Self.signature.count, source.size))
        try Self.checkSignature(Array(head), name: name)
        let layout = try PNGChunkWalk.walk(&window)
        return try PNGDecodePlan(layout: layout, maxPixels: decodeLimit, name: name)
    }

    /// Opens `path` for reading in place; refuses folders and other non-files.
    private func withFile<R>(_ path: String, _ body: (PNGByteSource) throws(PNGError) -> R) throws(PNGError) -> R {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw PNGError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw PNGError(.io, "cannot stat \(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw PNGError(.io, "\(path) is not a regular file") }
        return try body(.file(descriptor: descriptor, size: Int(info.st_size)))
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
        guard ok != 0 else { throw Self.failure(&image) }
        output.removeSubrange(capacity...)
        return output
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

    /// libpng's simplified writer failed: its message, for the user.
    static func failure(_ image: inout png_image) -> PNGError {
        let detail = String(cString: cpng_message(&image))
        return PNGError(.invalidImage, "cannot encode PNG (libpng: \(detail.isEmpty ? "unknown error" : detail))")
    }
}
