/// Small pictures of photos, for lists, peers' albums and the terminal.
///
/// A preview keeps the photo's aspect ratio with its longest side
/// `longestSide` (the other side rounded to the nearest pixel, at least 1); a
/// photo already that small keeps its size, nothing is enlarged. A JPEG much
/// larger than the preview is decoded with libjpeg's DCT scaling (1/2, 1/4 or
/// 1/8: the smallest that still leaves at least `longestSide` pixels), so a
/// 12-megapixel photo is never decoded whole; a PNG is decoded whole. The
/// rest of the way is area averaging (`RGBAImage.downsized`). Alpha is kept,
/// averaged; colour under transparency does not bleed. The decode limits are
/// those of `ImageFile.decode`.
public enum Preview {
    public static let defaultLongestSide = 256

    /// The preview size of a `width` x `height` image: its longest side
    /// `longestSide`, the other scaled and rounded to the nearest pixel (half
    /// up, at least 1), or the image's own size when it is no larger.
    public static func size(width: Int, height: Int, longestSide: Int) -> (width: Int, height: Int) {
        let longest = max(width, height)
        guard longest > longestSide else { return (width, height) }
        let scaled = { (side: Int) in max(1, (side * longestSide * 2 + longest) / (longest * 2)) }
        return width >= height ? (longestSide, scaled(height)) : (scaled(width), longestSide)
    }

    /// The DCT scaling a JPEG of `width` x `height` decodes at for a preview:
    /// the largest of 8, 4, 2 that still leaves the longest side at least
    /// `longestSide`, else 1.
    public static func jpegScale(width: Int, height: Int, longestSide: Int) -> Int {
        let longest = max(width, height)
        return [8, 4, 2].first { (longest + $0 - 1) / $0 >= longestSide } ?? 1
    }

    /// A preview of a PNG or JPEG: see the type's description.
    public static func make(from bytes: [UInt8], longestSide: Int = defaultLongestSide,
                            maxPixels: Int = PNGCodec.defaultMaxDecodePixels) throws(PNGError) -> RGBAImage {
        guard longestSide >= 1 else { throw PNGError(.invalidImage, "a preview needs a longest side of at least 1 pixel, not \(longestSide)") }
        let decoded: RGBAImage
        let target: (width: Int, height: Int)
        switch try ImageFile.requireFormat(of: bytes) {
        case .png:
            decoded = try ImageFile.pngCodec(maxPixels: maxPixels).decode(bytes)
            target = size(width: decoded.width, height: decoded.height, longestSide: longestSide)
        case .jpeg:
            let codec = JPEGCodec(maxDecodePixels: maxPixels)
            let header = try codec.header(of: bytes)
            target = size(width: header.width, height: header.height, longestSide: longestSide)
            decoded = try codec.decode(bytes, scale: jpegScale(width: header.width, height: header.height, longestSide: longestSide))
        }
        // The size comes from the full image, so the DCT scale's rounding up never shows.
        return try decoded.downsized(width: min(target.width, decoded.width), height: min(target.height, decoded.height))
    }

    /// `make`, encoded as a PNG (RGB when every pixel is opaque, else RGBA).
    public static func previewPNG(from bytes: [UInt8], longestSide: Int = defaultLongestSide,
                                  maxPixels: Int = PNGCodec.defaultMaxDecodePixels) throws(PNGError) -> [UInt8] {
        try PNGCodec().encode(make(from: bytes, longestSide: longestSide, maxPixels: maxPixels))
    }
}
