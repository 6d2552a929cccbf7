import CZlib

/// PNGs built to attack a decoder, in the manner of libpng's crash corpus
/// (made here, byte by byte; nothing is copied from elsewhere): chunks that
/// declare more bytes than the file has, huge text chunks, headers claiming
/// far more pixels than the image data can fill, broken CRCs and zlib streams.
public enum HostilePNG {
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let iend = PNGHeaderForgery.chunk("IEND", [])

    public static func header(width: Int, height: Int, bitDepth: UInt8 = 8, colorType: UInt8 = 6, interlaced: Bool = false) -> [UInt8] {
        PNGHeaderForgery.chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [bitDepth, colorType, 0, 0, interlaced ? 1 : 0])
    }

    /// A chunk's 8-byte header declaring `length` and 4 bytes where its data would start: nothing more.
    public static func declaredOnly(_ type: String, length: UInt32) -> [UInt8] {
        bigEndian(length) + Array(type.utf8) + [0, 0, 0, 0]
    }

    /// The 57-byte shape of libpng's "huge chunk" crashers: signature, a 1x1
    /// IHDR, a `type` chunk declaring 2^31-1 bytes, IEND.
    public static func hugeDeclaredChunk(_ type: String) -> [UInt8] {
        signature + header(width: 1, height: 1) + declaredOnly(type, length: 0x7FFF_FFFF) + iend
    }

    /// `png` with `chunk` inserted right after IHDR.
    public static func inserting(_ chunk: [UInt8], into png: [UInt8]) -> [UInt8] {
        Array(png[..<33]) + chunk + Array(png[33...])
    }

    /// The chunks of a PNG: (type, data, offset of the chunk).
    public static func chunks(of png: [UInt8]) -> [(type: String, data: [UInt8], offset: Int)] {
        var result: [(String, [UInt8], Int)] = []
        var offset = 8
        while offset + 12 <= png.count {
            let length = Int(png[offset]) << 24 | Int(png[offset + 1]) << 16 | Int(png[offset + 2]) << 8 | Int(png[offset + 3])
            let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
            result.append((type, Array(png[(offset + 8)..<(offset + 8 + length)]), offset))
            offset += 12 + length
        }
        return result
    }

    /// `png` rebuilt with its IDAT chunks' joined data replaced by `transform(data)`, in one IDAT (CRCs right).
    public static func replacingImageData(of png: [UInt8], _ transform: ([UInt8]) -> [UInt8]) -> [UInt8] {
        let all = chunks(of: png)
        let data = all.filter { $0.type == "IDAT" }.flatMap(\.data)
        var out = signature
        var wroteData = false
        for chunk in all {
            if chunk.type == "IDAT" {
                if !wroteData { out += PNGHeaderForgery.chunk("IDAT", transform(data)) }
                wroteData = true
            } else {
                out += PNGHeaderForgery.chunk(chunk.type, chunk.data)
            }
        }
        return out
    }

    /// `png` with the CRC of its first `type` chunk flipped.
    public static func breakingCRC(of type: String, in png: [UInt8]) -> [UInt8] {
        guard let chunk = chunks(of: png).first(where: { $0.type == type }) else { return png }
        var out = png
        out[chunk.offset + 8 + chunk.data.count] ^= 0xFF
        return out
    }

    /// A zlib stream of `count` zero bytes, compressed 1 MiB at a time.
    public static func zeros(count: Int, level: Int32 = 9) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15, 9, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return [] }
        defer { deflateEnd(&stream) }
        let input = [UInt8](repeating: 0, count: 1 << 20)
        var output: [UInt8] = []
        var piece = [UInt8](repeating: 0, count: 1 << 16)
        var left = count
        repeat {
            let take = min(left, input.count)
            left -= take
            let flush = left == 0 ? Z_FINISH : Z_NO_FLUSH
            input.withUnsafeBufferPointer { source in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(take)
                repeat {
                    piece.withUnsafeMutableBufferPointer { out in
                        stream.next_out = out.baseAddress
                        stream.avail_out = UInt32(out.count)
                        _ = deflate(&stream, flush)
                    }
                    output += piece[..<(piece.count - Int(stream.avail_out))]
                } while stream.avail_out == 0
            }
        } while left > 0
        return output
    }

    /// A blank image (every byte zero: black, and transparent where there is
    /// alpha) of any size and format, as small as deflate makes it.
    public static func blank(width: Int, height: Int, bitDepth: UInt8 = 8, colorType: UInt8 = 6, interlaced: Bool = false,
                             extraChunks: [[UInt8]] = []) -> [UInt8] {
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(colorType)] ?? 4
        let bits = channels * Int(bitDepth)
        let passes: [(Int, Int, Int, Int)] = interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)] : [(0, 0, 1, 1)]
        var count = 0
        for (x, y, dx, dy) in passes {
            let columns = width > x ? (width - x + dx - 1) / dx : 0
            let rows = height > y ? (height - y + dy - 1) / dy : 0
            if columns > 0 && rows > 0 { count += rows * (1 + (columns * bits + 7) / 8) }
        }
        return signature + header(width: width, height: height, bitDepth: bitDepth, colorType: colorType, interlaced: interlaced)
            + extraChunks.flatMap { $0 } + PNGHeaderForgery.chunk("IDAT", zeros(count: count)) + iend
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
