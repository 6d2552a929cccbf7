/// What decoding a PNG will cost, worked out from its chunk walk before any
/// pixel buffer exists. A file whose plan breaks a limit is refused here:
/// more pixels than the codec's decode limit (a 16-bit pixel counting as two),
/// a side longer than libpng
/// accepts, or less image data than the declared size could possibly inflate
/// from (deflate cannot compress better than 1032:1, so such a file is
/// truncated or forged and would only make the decoder allocate for nothing).
///
/// The plan also states the bytes decoding allocates, so the memory promise
/// (at most twice the decoded pixels plus 64 MiB) can be checked:
/// the RGBA8 result, one row of scratch for interlaced images, and libpng's
/// own allocations, which its source bounds by row buffers of at most 8 bytes a
/// pixel (libpng keeps the current and previous row, and a row for transforms)
/// plus fixed state: zlib's inflate window, gamma tables, a kept ICC profile
/// (libpng inflates one to at most its chunk limit, `maxChunkBytes`).
public struct PNGDecodePlan: Sendable {
    public let width: Int
    public let height: Int
    public let bitDepth: Int
    public let interlaced: Bool
    /// The IDAT chunks' data bytes, all together.
    public let imageDataBytes: Int
    /// Chunks that libpng is not given (text, metadata, unknown, after the image data).
    public let droppedChunks: Int
    let layout: PNGLayout

    /// Deflate's best possible compression: 258 bytes for a 2-bit code.
    public static let maxDeflateRatio = 1032
    /// libpng's default limit on either side (PNG_USER_WIDTH_MAX), checked here first.
    public static let maxSide = 1_000_000
    /// libpng's limit on one ancillary chunk's (inflated) data, which bounds an ICC profile.
    public static let maxChunkBytes = 8 << 20
    /// libpng's state other than row buffers: the inflate window and state,
    /// gamma tables, a kept ICC profile (`maxChunkBytes`), its read buffer for the
    /// largest kept chunk (`PNGChunkWalk.maxAncillaryBytes`), palette and structs.
    static let libpngFixedBytes = maxChunkBytes + PNGChunkWalk.maxAncillaryBytes + (2 << 20)

    init(layout: PNGLayout, maxPixels: Int, name: String?) throws(PNGError) {
        let what = PNGError.prefix(name)
        let header = layout.header
        let pixels = header.width * header.height   // both below 2^31: no overflow
        let weight = Self.pixelWeight(bitDepth: header.bitDepth)
        guard pixels <= maxPixels / weight else {
            let limit = weight == 1 ? "\(maxPixels)" : "\(maxPixels / weight) for a 16-bit image (which costs twice an 8-bit one to decode)"
            throw PNGError(.tooLarge, "\(what)image is \(header.width)x\(header.height) pixels, more than the limit of \(limit)")
        }
        guard header.width <= Self.maxSide, header.height <= Self.maxSide else {
            throw PNGError(.tooLarge, "\(what)image is \(header.width)x\(header.height) pixels: a side longer than \(Self.maxSide) is not accepted")
        }
        let needed = header.inflatedBytes
        guard layout.imageDataBytes >= (needed + Self.maxDeflateRatio - 1) / Self.maxDeflateRatio else {
            throw PNGError(.corrupt, "\(what)truncated or forged PNG: \(header.width)x\(header.height) needs \(needed) bytes of image data, which cannot come from only \(layout.imageDataBytes) compressed bytes")
        }
        width = header.width
        height = header.height
        bitDepth = header.bitDepth
        interlaced = header.interlaced
        imageDataBytes = layout.imageDataBytes
        droppedChunks = layout.droppedChunks
        self.layout = layout
        guard peakBytes <= Self.memoryBound(width: width, height: height) else {
            throw PNGError(.tooLarge, "\(what)decoding \(width)x\(height) would need \(peakBytes) bytes, more than the bound of \(Self.memoryBound(width: width, height: height))")
        }
    }

    /// How many pixels of the limit one pixel counts for: two for 16-bit
    /// images, whose rows inflate to twice the bytes and take libpng's slower
    /// 16-bit transforms (measured: about twice the time per pixel).
    public static func pixelWeight(bitDepth: Int) -> Int { bitDepth == 16 ? 2 : 1 }

    /// The RGBA8 result.
    public var outputBytes: Int { width * height * 4 }
    /// Interlaced images are read pass by pass into one row, then scattered into the result.
    public var scratchBytes: Int { interlaced ? width * 4 : 0 }
    /// An upper bound on libpng's allocations while decoding this image.
    public var libpngBytes: Int { 3 * 8 * (width + 8) + Self.libpngFixedBytes }
    /// The chunk walk's window over a file.
    public var walkBytes: Int { PNGByteWindow.windowBytes }
    /// The most bytes decoding holds at once.
    public var peakBytes: Int { outputBytes + scratchBytes + libpngBytes + walkBytes }

    /// The promise for any PNG from outside: twice its decoded pixels plus 64 MiB.
    public static func memoryBound(width: Int, height: Int) -> Int { 2 * width * height * 4 + (64 << 20) }
}
