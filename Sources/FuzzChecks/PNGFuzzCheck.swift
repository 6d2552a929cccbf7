import PNGCodec

/// The `png` target's checks: `PNGCodec().decode` (with its report) and
/// `dimensions(of:)` on any bytes. Beside "no crash" (libFuzzer's
/// `-rss_limit_mb` and `-timeout` bound the memory and time of each input):
/// the two agree (dimensions refuses exactly what the plan refuses, with the
/// same error, and a decoded image has the dimensions it reported); a decoded
/// image has width x height x 4 bytes; libpng's peak allocation stays within
/// the plan's bound for it, and the plan within the documented promise (twice
/// the decoded pixels plus 64 MiB, docs/security-png.md); a file the plain
/// reader decodes, libpng's full reader decodes too, to the same pixels; and, given libpng's
/// simplified reader as the reference (the decoder PNGCodec replaced, whose
/// pixels it must keep), a decoded image has the reference's pixels.
///
/// Each input is checked as it is, and again with every chunk's CRC made
/// right: libpng refuses a chunk whose CRC fails before reading it, and
/// libFuzzer cannot make a CRC, so without this almost no mutation of the
/// image data would get past libpng's first check.
public enum PNGFuzzCheck {
    /// With `reference` (libpng's simplified reader: RGBA8, or nil when it
    /// refuses), a decoded image must also have the pixels the reference
    /// gives, whenever the reference decodes the file.
    public static func check(_ input: [UInt8], reference: (([UInt8]) -> [UInt8]?)? = nil) throws(FuzzViolation) {
        try checkDecoding(input, reference: reference)
        let repaired = withChunkCRCsRepaired(input)
        if repaired != input { try checkDecoding(repaired, reference: reference) }
    }

    static func checkDecoding(_ input: [UInt8], reference: (([UInt8]) -> [UInt8]?)?) throws(FuzzViolation) {
        let codec = PNGCodec()
        let dimensions = Result { () throws(PNGError) in try codec.dimensions(of: input) }
        let decoded = Result { () throws(PNGError) in try codec.decodeReporting(input) }
        switch (dimensions, decoded) {
        case (.success(let size), .success(let (image, report))):
            try require(size.width == image.width && size.height == image.height, .inconsistent,
                        "dimensions says \(size.width)x\(size.height), the decoded image is \(image.width)x\(image.height)")
            try require(image.pixels.count == image.width * image.height * 4, .invariant,
                        "a \(image.width)x\(image.height) image with \(image.pixels.count) bytes of RGBA")
            let plan = report.plan
            try require(report.readerPeakBytes <= plan.libpngBytes, .bound,
                        "the \(report.reader) reader held \(report.readerPeakBytes) bytes decoding \(plan.width)x\(plan.height) (\(plan.bitDepth)-bit), above the plan's \(plan.libpngBytes)")
            try require(plan.peakBytes <= PNGDecodePlan.memoryBound(width: plan.width, height: plan.height), .bound,
                        "the plan for \(plan.width)x\(plan.height) needs \(plan.peakBytes) bytes, above the promise")
            if report.reader == .plain {
                // The plain reader takes only what libpng takes, to the same pixels.
                var libpngOnly = PNGCodec()
                libpngOnly.plainReader = false
                let byLibpng = Result { () throws(PNGError) in try libpngOnly.decode(input) }
                guard case .success(let other) = byLibpng else {
                    throw FuzzViolation(.inconsistent, "the plain reader decodes a \(plan.width)x\(plan.height) file libpng refuses: \(byLibpng)")
                }
                try require(other.pixels == image.pixels, .inconsistent,
                            "the plain reader and libpng give a \(plan.width)x\(plan.height) file different pixels")
            }
            if let reference, plan.bitDepth < 16 || !plan.interlaced, let pixels = reference(input) {
                // 16 bits become 8 with rounding, which may differ by one step; interlaced 16-bit
                // images are compared by the decode tests only (the simplified reader takes them
                // through premultiplied linear light, libpng#853, and loses colour under low alpha).
                let tolerance = plan.bitDepth == 16 ? 1 : 0
                let differing = zip(pixels, image.pixels).filter { abs(Int($0) - Int($1)) > tolerance }.count
                try require(pixels.count == image.pixels.count && differing == 0, .inconsistent,
                            "a \(plan.width)x\(plan.height) \(plan.bitDepth)-bit\(plan.interlaced ? " interlaced" : "") image decodes to other pixels than libpng's simplified reader gives (\(differing) of \(pixels.count) bytes differ)")
            }
        case (.failure(let refused), .failure(let failed)):
            // Refused by the chunk walk or the plan, which both run first: the same refusal.
            try require(refused == failed, .inconsistent,
                        "dimensions refuses with \"\(refused)\", decoding with \"\(failed)\"")
        case (.success, .failure(let failed)):
            // The structure was fine; libpng found the data damaged.
            try require(failed.code == .corrupt, .inconsistent, "dimensions accepts what decoding refuses as \(failed.code): \(failed)")
        case (.failure(let refused), .success):
            throw FuzzViolation(.inconsistent, "decoding accepts what dimensions refuses: \(refused)")
        }
    }

    /// `png` with the CRC of each chunk (as far as the chunks' lengths fit in the bytes) recomputed.
    static func withChunkCRCsRepaired(_ png: [UInt8]) -> [UInt8] {
        var bytes = png
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length <= bytes.count - offset - 12 else { break }
            let crc = CRC32.checksum(bytes[(offset + 4)..<(offset + 8 + length)])
            let at = offset + 8 + length
            bytes[at] = UInt8(crc >> 24)
            bytes[at + 1] = UInt8(crc >> 16 & 0xFF)
            bytes[at + 2] = UInt8(crc >> 8 & 0xFF)
            bytes[at + 3] = UInt8(crc & 0xFF)
            offset = at + 4
        }
        return bytes
    }
}

/// CRC-32 (IEEE 802.3, as PNG chunks use), a byte at a time.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { (index: UInt32) -> UInt32 in
        var value = index
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
