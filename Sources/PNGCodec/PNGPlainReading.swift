import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// The common PNG read without libpng: 8-bit RGB or RGBA, not interlaced,
/// no chunk that changes the pixels (no tRNS, gAMA, sRGB, iCCP and the
/// like), which is what photocloud's own encoder writes and most photos are.
/// The image data is inflated whole by zlib in one call, as libpng inflates
/// it row by row (libdeflate, faster, accepts streams zlib refuses: more
/// code lengths than deflate has symbols, a repeat past the end of the
/// lengths), and the rows unfiltered here. libpng would give these files the
/// same pixels: with no gamma or transparency chunk, its transforms only add
/// an opaque alpha to RGB.
///
/// Anything unexpected (a CRC that fails, a stream that does not inflate to
/// exactly the rows the header declares or has bytes after it, a filter
/// type other than 0-4) gives
/// nil, and the file goes to libpng, whose refusal and message are the
/// decoder's. So the files accepted and the pixels given are libpng's; the
/// fuzz check compares them with libpng's simplified reader on every input.
/// Its buffers (the image data, its rows, a row of zeros, zlib's state)
/// stay within what the plan allows libpng, or libpng reads the file.
enum PNGPlainReading {
    static func decode(_ source: PNGByteSource, plan: PNGDecodePlan) -> (RGBAImage, PNGDecodeReport)? {
        let header = plan.layout.header
        // Signature and IHDR, the IDAT run, IEND: nothing kept that changes the pixels.
        guard plan.layout.ranges.count == 3, header.bitDepth == 8, header.colorType == 2 || header.colorType == 6, !header.interlaced else {
            return nil
        }
        let channels = header.colorType == 6 ? 4 : 3
        let (width, height) = (header.width, header.height)
        let rowBytes = width * channels
        let inflatedBytes = (rowBytes + 1) * height
        let run = plan.layout.ranges[1]
        let runBytes = Int(run.length)
        // The image data, its rows, one row of zeros above the first, and zlib's inflate state and window.
        let peakBytes = runBytes + inflatedBytes + rowBytes + Self.inflateStateBytes
        guard peakBytes <= plan.libpngBytes else { return nil }
        // A read that fails goes to libpng too, which reads again and says why.
        guard var data = try? source.copy(at: Int(run.offset), count: runBytes, name: nil) else { return nil }
        guard let compressed = joinImageData(&data) else { return nil }
        var rows = [UInt8](repeating: 0, count: inflatedBytes)
        // zlib, as libpng uses it (the window the stream's header declares, the same checks), in one call.
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == czlib_ok else { return nil }
        defer { inflateEnd(&stream) }
        let result = data.withUnsafeMutableBufferPointer { input in
            rows.withUnsafeMutableBufferPointer { output in
                stream.next_in = input.baseAddress
                stream.avail_in = UInt32(compressed)
                stream.next_out = output.baseAddress
                stream.avail_out = UInt32(inflatedBytes)
                return inflate(&stream, czlib_finish)
            }
        }
        // Exactly the rows, from exactly the image data (libpng warns of data after the stream; it reads such files).
        guard result == czlib_stream_end, stream.avail_in == 0, Int(stream.total_out) == inflatedBytes else { return nil }
        data = []
        var pixels = [UInt8](repeating: 0, count: width * height * 4)
        let unfiltered = rows.withUnsafeMutableBufferPointer { rows in
            pixels.withUnsafeMutableBufferPointer { pixels in
                unfilter(rows.baseAddress!, width: width, height: height, channels: channels, into: pixels.baseAddress!)
            }
        }
        guard unfiltered, let image = try? RGBAImage(width: width, height: height, pixels: pixels) else { return nil }
        return (image, PNGDecodeReport(plan: plan, reader: .plain, readerPeakBytes: peakBytes))
    }

    /// zlib's inflate state (about 7 KiB) and its window (32 KiB at most), rounded up.
    static let inflateStateBytes = 64 * 1024

    /// The run of IDAT chunks, each checked against its CRC, with their data moved together at the front of `run`:
    /// the number of data bytes, or nil if a chunk is not a whole IDAT with a right CRC.
    static func joinImageData(_ run: inout [UInt8]) -> Int? {
        run.withUnsafeMutableBufferPointer { bytes -> Int? in
            guard let base = bytes.baseAddress else { return nil }
            var offset = 0, joined = 0
            while offset < bytes.count {
                guard bytes.count - offset >= 12 else { return nil }
                let length = Int(bigEndian32(base + offset))
                guard length <= bytes.count - offset - 12, bigEndian32(base + offset + 4) == PNGChunkWalk.idat else { return nil }
                let crc = UInt32(crc32(0, base + offset + 4, UInt32(4 + length)))
                guard crc == bigEndian32(base + offset + 8 + length) else { return nil }
                memmove(base + joined, base + offset + 8, length)
                joined += length
                offset += 12 + length
            }
            return joined
        }
    }

    /// Undoes each row's filter in place (PNG spec section 9), each row's
    /// pixels then written as RGBA8. False for a filter type above 4.
    static func unfilter(_ rows: UnsafeMutablePointer<UInt8>, width: Int, height: Int, channels bpp: Int,
                         into pixels: UnsafeMutablePointer<UInt8>) -> Bool {
        let count = width * bpp
        let stride = count + 1
        let zeros = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        zeros.initialize(repeating: 0, count: count)
        defer { zeros.deallocate() }
        for y in 0..<height {
            let row = rows + y * stride + 1
            let above = y == 0 ? zeros : row - stride
            switch row[-1] {
            case 0:
                break
            case 1:
                for x in bpp..<max(bpp, count) { row[x] &+= row[x - bpp] }
            case 2:
                for x in 0..<count { row[x] &+= above[x] }
            case 3:
                for x in 0..<min(bpp, count) { row[x] &+= above[x] >> 1 }
                for x in bpp..<max(bpp, count) { row[x] &+= UInt8((UInt16(row[x - bpp]) + UInt16(above[x])) >> 1) }
            case 4:
                for x in 0..<min(bpp, count) { row[x] &+= above[x] }   // Paeth of (0, b, 0) is b
                for x in bpp..<max(bpp, count) { row[x] &+= paeth(row[x - bpp], above[x], above[x - bpp]) }
            default:
                return false
            }
            let out = pixels + y * width * 4
            if bpp == 4 {
                out.update(from: row, count: count)
            } else {
                for x in 0..<width {
                    out[4 * x] = row[3 * x]
                    out[4 * x + 1] = row[3 * x + 1]
                    out[4 * x + 2] = row[3 * x + 2]
                    out[4 * x + 3] = 255
                }
            }
        }
        return true
    }

    /// The Paeth predictor: whichever of left, above and upper left is closest to left + above - upper left.
    @inline(__always)
    static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
    }

    private static func bigEndian32(_ at: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(at[0]) << 24 | UInt32(at[1]) << 16 | UInt32(at[2]) << 8 | UInt32(at[3])
    }
}
