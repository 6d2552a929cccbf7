import CJPEGReader

/// What a JPEG's markers up to its first scan say, read without decoding pixels.
public struct JPEGHeader: Sendable, Equatable {
    public enum ColorSpace: String, Sendable {
        case gray, rgb, ycbcr, cmyk, ycck, unknown
    }

    public let width: Int
    public let height: Int
    public let components: Int
    public let colorSpace: ColorSpace
    public let progressive: Bool
    /// An Adobe APP14 marker was present (Adobe's CMYK is stored inverted).
    public let adobe: Bool

    public var pixelCount: Int { width * height }
}

/// How a JPEG decode went besides its pixels.
public struct JPEGDecodeReport: Sendable {
    public let header: JPEGHeader
    /// The DCT scaling used: the image came out at 1/`scale` of its size.
    public let scale: Int
    /// Corrupt-data warnings libjpeg decoded past (at most the codec's `maxWarnings`).
    public let warnings: Int
    /// The first of them, in libjpeg's words.
    public let firstWarning: String?
    /// Scans (SOS markers) read: 1 for a baseline photo, about 10 for a progressive one.
    public let scans: Int
}

/// JPEG -> RGBA8 through libjpeg-turbo (CJPEGReader, its longjmps kept in C).
/// Every JPEG is treated as coming from a stranger: its header is read first
/// and a file that breaks a limit is refused before any pixel buffer exists;
/// libjpeg's own memory is capped (`libjpegMemoryLimit`), as are its scans,
/// its decoding work and the corrupt-data warnings it decodes past. A truncated file is an
/// error, not a picture with a grey lower part. See docs/images.md.
public struct JPEGCodec: Sendable {
    /// Decoding refuses images with more pixels than this (from the header,
    /// whatever the DCT scaling), before anything is allocated for them.
    public var maxDecodePixels: Int
    /// More corrupt-data warnings than this fail the decode.
    public var maxWarnings: Int
    /// More scans than this fail the decode.
    public var maxScans: Int
    /// More decoding work than this many passes over the image fails the
    /// decode: each scan counts the blocks it covers, a baseline file comes to
    /// 1 pass and libjpeg's own progression to about 5.
    public var maxPasses: Int

    /// Past this many corrupt-data warnings the picture is mostly libjpeg's
    /// guesses. A photo with a damaged byte or two (one warning each,
    /// typically) still decodes, and says so in its report.
    public static let defaultMaxWarnings = 100
    /// libjpeg-turbo's TurboJPEG uses the same bound: each scan of a
    /// progressive file is a pass over its whole coefficient buffer, and a
    /// real one has about 10.
    public static let defaultMaxScans = 500
    /// Three times what libjpeg's progression needs; measured, 500 scans over
    /// 49 megapixels took 2.2 s from a 180 KB file; refused at 16 passes, 0.3 s.
    public static let defaultMaxPasses = 16
    /// The DCT scalings libjpeg offers that keep whole pixels: 1/1, 1/2, 1/4, 1/8.
    public static let scales = [1, 2, 4, 8]
    /// A JPEG's SOI marker and the first byte of the next marker.
    static let signature: [UInt8] = [0xFF, 0xD8, 0xFF]

    public init(maxDecodePixels: Int = PNGCodec.defaultMaxDecodePixels, maxWarnings: Int = JPEGCodec.defaultMaxWarnings,
                maxScans: Int = JPEGCodec.defaultMaxScans, maxPasses: Int = JPEGCodec.defaultMaxPasses) {
        self.maxDecodePixels = maxDecodePixels
        self.maxWarnings = maxWarnings
        self.maxScans = maxScans
        self.maxPasses = maxPasses
    }

    /// What libjpeg may allocate for an image of `width` x `height` (its
    /// `max_memory_to_use`): 4 bytes a pixel and 64 MiB. With the RGBA8 result
    /// that keeps a JPEG within PNGCodec's promise of twice the decoded pixels
    /// plus 64 MiB. libjpeg-turbo enforces it on the whole-image coefficient
    /// buffers that progressive and multi-scan files need (2 bytes a pixel a
    /// full-resolution component); baseline files use a few rows of memory.
    public static func libjpegMemoryLimit(width: Int, height: Int) -> Int { 4 * width * height + (64 << 20) }

    /// The size of the image decoded at 1/`scale`: each side divided, rounded up, as libjpeg does.
    public static func scaledSize(width: Int, height: Int, scale: Int) -> (width: Int, height: Int) {
        ((width + scale - 1) / scale, (height + scale - 1) / scale)
    }

    /// The header of a JPEG, after the checks decoding makes first: a known
    /// colour space, 8-bit samples, no more pixels than the limit.
    public func header(of bytes: [UInt8]) throws(PNGError) -> JPEGHeader {
        try Self.checkSignature(bytes)
        var raw = cjpeg_header()
        var limits = self.limits(memory: 64 << 20)
        let (status, message) = Self.call { message, size in
            bytes.withUnsafeBufferPointer { cjpeg_read_header($0.baseAddress, $0.count, &limits, &raw, message, size) }
        }
        try Self.check(status, message)
        let header = JPEGHeader(raw)
        guard header.width > 0, header.height > 0 else { throw PNGError(.corrupt, "damaged JPEG: its header claims no pixels") }
        guard header.colorSpace != .unknown else {
            throw PNGError(.unsupported, "unsupported JPEG: \(header.components) colour components in an unknown colour space")
        }
        guard header.width <= maxDecodePixels / header.height else {
            throw PNGError(.tooLarge, "image is \(header.width)x\(header.height) pixels, more than the limit of \(maxDecodePixels)")
        }
        return header
    }

    /// The width and height of a JPEG, after the same checks as decoding.
    public func dimensions(of bytes: [UInt8]) throws(PNGError) -> (width: Int, height: Int) {
        let header = try header(of: bytes)
        return (header.width, header.height)
    }

    /// Decodes a JPEG into RGBA8 (alpha 255), at 1/`scale` of its size
    /// (1, 2, 4 or 8: libjpeg computes only the smaller image).
    public func decode(_ bytes: [UInt8], scale: Int = 1) throws(PNGError) -> RGBAImage {
        try decodeReporting(bytes, scale: scale).image
    }

    /// Decodes, and reports the header, the warnings and the scans.
    public func decodeReporting(_ bytes: [UInt8], scale: Int = 1) throws(PNGError) -> (image: RGBAImage, report: JPEGDecodeReport) {
        guard Self.scales.contains(scale) else {
            throw PNGError(.invalidImage, "a JPEG decodes at 1/1, 1/2, 1/4 or 1/8 of its size, not 1/\(scale)")
        }
        let header = try header(of: bytes)
        let (width, height) = Self.scaledSize(width: header.width, height: header.height, scale: scale)
        let size = width * height * 4
        var limits = self.limits(memory: Self.libjpegMemoryLimit(width: header.width, height: header.height))
        var report = cjpeg_report()
        var status = cjpeg_ok
        var message = ""
        let pixels = [UInt8](unsafeUninitializedCapacity: size) { output, initialized in
            (status, message) = Self.call { text, textSize in
                bytes.withUnsafeBufferPointer { input in
                    cjpeg_decode_rgba(input.baseAddress, input.count, Int32(scale), output.baseAddress, UInt32(width), UInt32(height),
                                      &limits, &report, text, textSize)
                }
            }
            initialized = status == cjpeg_ok ? size : 0
        }
        try Self.check(status, message)
        let warning = withUnsafeBytes(of: report.first_warning) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let summary = JPEGDecodeReport(header: header, scale: scale, warnings: report.warnings, firstWarning: warning.isEmpty ? nil : warning,
                                       scans: Int(report.scans))
        return (try RGBAImage(width: width, height: height, pixels: pixels), summary)
    }

    // MARK: Internals

    func limits(memory: Int) -> cjpeg_limits {
        cjpeg_limits(max_memory: UInt64(memory), max_scans: Int32(clamping: max(maxScans, 0)),
                     max_passes: Int32(clamping: max(maxPasses, 1)), max_warnings: Int32(clamping: max(maxWarnings, 0)))
    }

    static func checkSignature(_ bytes: [UInt8]) throws(PNGError) {
        guard !bytes.isEmpty else { throw PNGError(.notImage, "empty input, not a JPEG image") }
        guard !signature.starts(with: bytes) else { throw PNGError(.corrupt, "truncated JPEG: only \(bytes.count) bytes") }
        guard bytes.starts(with: signature) else { throw PNGError(.notImage, "not a JPEG image (it does not start with FF D8 FF)") }
    }

    /// Runs a C call with a message buffer; returns its status and message.
    static func call(_ body: (UnsafeMutablePointer<CChar>?, Int) -> cjpeg_status) -> (cjpeg_status, String) {
        var text = [CChar](repeating: 0, count: 256)
        let status = text.withUnsafeMutableBufferPointer { body($0.baseAddress, $0.count) }
        return (status, String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// The PNGError for a C call's status.
    static func check(_ status: cjpeg_status, _ message: String) throws(PNGError) {
        let detail = message.isEmpty ? "unknown error" : message
        switch status {
        case cjpeg_ok: return
        case cjpeg_truncated: throw PNGError(.corrupt, "truncated JPEG: \(detail)")
        case cjpeg_too_large: throw PNGError(.tooLarge, "JPEG too costly to decode: \(detail)")
        case cjpeg_unsupported: throw PNGError(.unsupported, "unsupported JPEG (libjpeg: \(detail))")
        case cjpeg_invalid_argument: throw PNGError(.invalidImage, "cannot decode JPEG as asked: \(detail)")
        default: throw PNGError(.corrupt, "damaged JPEG (libjpeg: \(detail))")
        }
    }
}

extension JPEGHeader {
    init(_ raw: cjpeg_header) {
        width = Int(raw.width)
        height = Int(raw.height)
        components = Int(raw.components)
        colorSpace = switch raw.color {
        case cjpeg_color_gray: .gray
        case cjpeg_color_rgb: .rgb
        case cjpeg_color_ycbcr: .ycbcr
        case cjpeg_color_cmyk: .cmyk
        case cjpeg_color_ycck: .ycck
        default: .unknown
        }
        progressive = raw.progressive != 0
        adobe = raw.adobe != 0
    }
}
