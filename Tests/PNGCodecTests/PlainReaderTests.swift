import CZlib
import PNGCodec
import PhotoCloudTestKit
import Testing

extension PNGCodec {
    /// A codec that reads every file with libpng: the reference the plain reader must match.
    static var libpngOnly: PNGCodec {
        var codec = PNGCodec()
        codec.plainReader = false
        return codec
    }
}

/// The plain reader (8-bit RGB and RGBA, not interlaced, nothing that changes
/// the pixels) reads what libpng reads, to the same pixels, and hands
/// everything else, damage included, to libpng.
@Suite("PNG plain reader")
struct PlainReaderTests {
    static func decodeBoth(_ png: [UInt8]) -> (plain: Result<(RGBAImage, PNGDecodeReport), PNGError>, libpng: Result<RGBAImage, PNGError>) {
        (Result { () throws(PNGError) in try PNGCodec().decodeReporting(png) }, Result { () throws(PNGError) in try PNGCodec.libpngOnly.decode(png) })
    }

    /// Rows of `channels` bytes a pixel, each behind its filter type byte, as one PNG (zlib at `windowBits`).
    static func png(width: Int, height: Int, channels: Int, rows: [UInt8], windowBits: Int32 = 15, trailing: [UInt8] = []) -> [UInt8] {
        var stream = z_stream()
        _ = deflateInit2_(&stream, 6, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        var output = [UInt8](repeating: 0, count: rows.count * 2 + 64)
        var input = rows
        let written = input.withUnsafeMutableBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = input.baseAddress
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                _ = deflate(&stream, Z_FINISH)
                return out.count - Int(stream.avail_out)
            }
        }
        deflateEnd(&stream)
        return HostilePNG.signature + HostilePNG.header(width: width, height: height, colorType: channels == 4 ? 6 : 2)
            + PNGHeaderForgery.chunk("IDAT", Array(output[..<written]) + trailing) + HostilePNG.iend
    }

    @Test("every filter and every encoder choice: the plain reader's pixels are libpng's",
          arguments: [(1, 1), (2, 1), (1, 3), (17, 13), (255, 7), (300, 200), (700, 500)])
    func samePixelsAsLibpng(width: Int, height: Int) async throws {
        for channels in [3, 4] {
            let pixels = EncodeTests.noise(width: width, height: height, channels: channels, seed: UInt64(width * height + channels))
            for filter in RowFilter.allCases {
                for (compressor, threads) in [(PNGEncoder.Compressor.zlib, 1), (.zlib, 3), (.libdeflate, 1), (.libdeflate, 2)] {
                    let png = try PNGEncoder(level: 1, filter: filter, threads: threads, compressor: compressor)
                        .encode(pixels, width: width, height: height, channels: channels)
                    let (plain, libpng) = Self.decodeBoth(png)
                    let (image, report) = try plain.get()
                    #expect(report.reader == .plain, "\(width)x\(height) \(channels) channels \(filter)")
                    #expect(image == (try libpng.get()), "\(width)x\(height) \(channels) channels \(filter) \(compressor) \(threads)")
                }
            }
        }
        // A file read in place takes the same path.
        let image = try RGBAImage(width: width, height: height, pixels: EncodeTests.noise(width: width, height: height, channels: 4, seed: 5))
        try await withTemporaryFolder { folder in
            try PNGCodec().write(image, to: folder + "/plain.png")
            #expect(try PNGCodec().decode(file: folder + "/plain.png") == image)
        }
    }

    @Test func filesWithPixelChangingChunksOrOtherFormatsGoToLibpng() throws {
        let grey: [UInt8] = [200, 200, 200, 255]
        let rgb = try PNGCodec().encode(try RGBAImage(width: 4, height: 4, pixels: Array([[UInt8]](repeating: grey, count: 16).joined())))
        #expect(try PNGCodec().decodeReporting(rgb).report.reader == .plain)
        // A gamma chunk changes what libpng gives; transparency too.
        let gamma = HostilePNG.inserting(PNGHeaderForgery.chunk("gAMA", [0, 0, 0x3A, 0x98]), into: rgb)
        let transparent = HostilePNG.inserting(PNGHeaderForgery.chunk("tRNS", [0, 200, 0, 200, 0, 200]), into: rgb)
        for png in [gamma, transparent] {
            let (image, report) = try PNGCodec().decodeReporting(png)
            #expect(report.reader == .libpng)
            #expect(image == (try PNGCodec.libpngOnly.decode(png)))
        }
        #expect(try PNGCodec().decodeReporting(transparent).image.pixels[3] == 0, "tRNS made the matching colour transparent")
        // 16 bits, gray, gray with alpha, interlaced: libpng.
        for (depth, color, interlaced) in [(UInt8(16), UInt8(2), false), (8, 0, false), (8, 4, false), (8, 2, true)] {
            let png = HostilePNG.blank(width: 8, height: 8, bitDepth: depth, colorType: color, interlaced: interlaced)
            #expect(try PNGCodec().decodeReporting(png).report.reader == .libpng, "depth \(depth) colour \(color) interlaced \(interlaced)")
        }
    }

    @Test func damageIsLibpngsToRefuseWithItsOwnWords() throws {
        let (width, height) = (40, 30)
        let rows = (0..<height).flatMap { y in [UInt8(y % 5)] + EncodeTests.noise(width: width, height: 1, channels: 3, seed: UInt64(y)) }
        let good = Self.png(width: width, height: height, channels: 3, rows: rows)
        #expect(try PNGCodec().decodeReporting(good).report.reader == .plain)
        var badFilter = rows
        badFilter[(width * 3 + 1) * 7] = 5   // row 7's filter type
        let corrupt = [
            HostilePNG.breakingCRC(of: "IDAT", in: good),                             // a chunk that fails its CRC
            Self.png(width: width, height: height, channels: 3, rows: badFilter),     // a filter type libpng refuses
            Self.png(width: width, height: height, channels: 3, rows: Array(rows.dropLast(9))),   // rows missing
            HostilePNG.replacingImageData(of: good) { Array($0.dropLast(4)) + [1, 2, 3, 4] },     // a wrong Adler-32
        ]
        for png in corrupt {
            let (plain, libpng) = Self.decodeBoth(png)
            guard case .failure(let refused) = libpng else {
                // libpng may read some damage as a warning: then the pixels must agree.
                #expect(try plain.get().1.reader == .libpng)
                continue
            }
            #expect(throws: refused) { try PNGCodec().decode(png) }
        }
        // Bytes after the stream: libpng reads the file (with a warning), so the plain reader leaves it to libpng.
        let trailing = Self.png(width: width, height: height, channels: 3, rows: rows, trailing: [0, 0, 0, 0])
        let (plain, libpng) = Self.decodeBoth(trailing)
        let (read, report) = try plain.get()
        #expect(report.reader == .libpng)
        #expect(read == (try libpng.get()))
        // A window the header declares smaller than the rows: read as libpng reads it.
        let narrow = Self.png(width: width, height: height, channels: 3, rows: rows, windowBits: 9)
        #expect(try PNGCodec().decode(narrow) == (try PNGCodec.libpngOnly.decode(narrow)))
    }

    /// Deflate streams that zlib refuses and libdeflate reads (right CRCs, Adler-32 and sizes; made by hand): zlib
    /// inflates for the plain reader, as for libpng, so each is refused in libpng's words.
    static let streamsZlibRefuses: [(what: String, hex: String)] = [
        ("a dynamic block declaring 287 literal/length codes", "89504e470d0a1a0a0000000d4948445200000004000000020802000000f0caea3400000072494441547801f5c101401000000090aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaafeffffffffffffffffffffffffffff1f0028143c0a261e31052d402060405050505050505050505050d08724970206422000220000000049454e44ae426082"),
        ("a code-length repeat running past the end of the lengths", "89504e470d0a1a0a0000000d4948445200000004000000020802000000f0caea3400000073494441547801edc1014110000000205555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555adaaaaaaaaaaaaaaaaaaaaaaaaaaaae20400140a1e05138f988216201030202828282828282828282828e82324970206eac72a6f0000000049454e44ae426082"),
        ("literal/length symbol 286 in a fixed block", "89504e470d0a1a0a0000000d4948445200000064000000010802000000a7b99cea000000344944415478016360646266616563e7e0e4e2e6e1e5e3171014121e03ececececececececececececececececececececececec00475014868ca531420000000049454e44ae426082"),
    ]

    @Test("a stream zlib refuses is refused, though another inflater reads it", arguments: PlainReaderTests.streamsZlibRefuses)
    func streamsZlibRefusesAreRefused(what: String, hex: String) throws {
        let nibbles = hex.utf8.map { $0 <= 57 ? $0 - 48 : $0 - 87 }   // lowercase hex
        let png = stride(from: 0, to: nibbles.count, by: 2).map { nibbles[$0] << 4 | nibbles[$0 + 1] }
        guard case .failure(let refused) = Result(catching: { () throws(PNGError) in try PNGCodec.libpngOnly.decode(png) }) else {
            Issue.record("libpng reads \(what)")
            return
        }
        #expect(refused.code == .corrupt)
        #expect(throws: refused, "\(what)") { try PNGCodec().decode(png) }
    }
}
