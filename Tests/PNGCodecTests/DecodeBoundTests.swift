import PNGCodec
import PhotoCloudTestKit
import Testing

/// The memory promise (at most twice the decoded pixels plus 64 MiB) and the
/// pixels of the full-API reader against libpng's simplified reader.
@Suite("PNG decode bounds")
struct DecodeBoundTests {
    static let formats: [(depth: UInt8, colorType: UInt8)] = [(1, 0), (8, 0), (16, 0), (8, 2), (16, 2), (4, 3), (8, 3), (8, 4), (16, 4), (8, 6), (16, 6)]

    /// A PNG whose IHDR claims `width` x `height` with just enough (junk) image
    /// data to pass the deflate-ratio check: a plan, no decode.
    static func planOnly(width: Int, height: Int, depth: UInt8, colorType: UInt8, interlaced: Bool) throws -> PNGDecodePlan {
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(colorType)]!
        let raw = height * (1 + (width * channels * Int(depth) + 7) / 8) * (interlaced ? 2 : 1)
        let data = [UInt8](repeating: 0, count: raw / PNGDecodePlan.maxDeflateRatio + 64)
        let png = HostilePNG.signature + HostilePNG.header(width: width, height: height, bitDepth: depth, colorType: colorType, interlaced: interlaced)
            + (colorType == 3 ? PNGHeaderForgery.chunk("PLTE", [UInt8](repeating: 0, count: 48)) : [])
            + PNGHeaderForgery.chunk("IDAT", data) + HostilePNG.iend
        return try PNGCodec().decodePlan(of: png)
    }

    @Test("every format at the extreme shapes the limits allow plans within the bound", arguments: [false, true])
    func planWithinBound(interlaced: Bool) throws {
        for format in Self.formats {
            let limit = PNGCodec.defaultMaxDecodePixels / PNGDecodePlan.pixelWeight(bitDepth: Int(format.depth))
            let side = PNGDecodePlan.maxSide
            let square = Int(Double(limit).squareRoot())
            for (width, height) in [(side, limit / side), (limit / side, side), (square, limit / square), (side, 1), (1, 1)] {
                let plan = try Self.planOnly(width: width, height: height, depth: format.depth, colorType: format.colorType, interlaced: interlaced)
                let bound = PNGDecodePlan.memoryBound(width: width, height: height)
                #expect(plan.peakBytes <= bound, "\(width)x\(height) \(format): \(plan.peakBytes) > \(bound)")
                #expect(plan.outputBytes == width * height * 4)
            }
        }
    }

    @Test("libpng allocates no more than the plan says", arguments: fixtureSpecs.filter { $0.width == 64 })
    func libpngWithinPlan(spec: PNGFixture.Spec) throws {
        let (_, report) = try PNGCodec().decodeReporting(PNGFixture.make(spec).png)
        #expect(report.readerPeakBytes > 0)
        #expect(report.readerPeakBytes <= report.plan.libpngBytes)
        #expect(report.plan.peakBytes <= PNGDecodePlan.memoryBound(width: 64, height: 64))
    }

    @Test("a 16-bit interlaced image of many megapixels decodes within the bound", arguments: [UInt8(0), 4, 6])
    func sixteenBitInterlacedLarge(colorType: UInt8) throws {
        let (width, height) = (5000, 4000)   // 20 megapixels; 25 is the 16-bit limit
        let png = HostilePNG.blank(width: width, height: height, bitDepth: 16, colorType: colorType, interlaced: true)
        let (image, report) = try PNGCodec().decodeReporting(png)
        #expect(image.width == width && image.height == height)
        let expected: [UInt8] = colorType == 0 ? [0, 0, 0, 255] : [0, 0, 0, 0]
        for pixel in stride(from: 0, to: width * height, by: 9973) {
            #expect(Array(image.pixels[(pixel * 4)..<(pixel * 4 + 4)]) == expected)
        }
        let bound = PNGDecodePlan.memoryBound(width: width, height: height)
        #expect(report.plan.peakBytes <= bound)
        #expect(report.readerPeakBytes <= report.plan.libpngBytes)
        // The old path held 8 bytes a pixel of 16-bit linear besides the result: 12 in all.
        #expect(report.plan.peakBytes < width * height * 5)
    }

    @Test("interlaced and plain files of the same pixels decode alike", arguments: fixtureSpecs.filter { $0.interlaced && $0.width > 1 })
    func interlacedMatchesPlain(spec: PNGFixture.Spec) throws {
        var plain = spec
        plain.interlaced = false
        #expect(try PNGCodec().decode(PNGFixture.make(spec).png) == PNGCodec().decode(PNGFixture.make(plain).png))
    }

    /// Ancillary chunks that change the pixels, to insert after IHDR.
    static let colourChunks: [(String, [UInt8])] = [
        ("none", []), ("gAMA 1.0", PNGHeaderForgery.chunk("gAMA", [0, 1, 0x86, 0xA0])),
        ("gAMA 0.8", PNGHeaderForgery.chunk("gAMA", [0, 1, 0x38, 0x80])), ("sRGB", PNGHeaderForgery.chunk("sRGB", [0])),
        ("gAMA 0.45455 + cHRM", PNGHeaderForgery.chunk("gAMA", [0, 0, 0xB1, 0x8F]) + PNGHeaderForgery.chunk("cHRM", [UInt8](repeating: 0, count: 31) + [1])),
        ("text", PNGHeaderForgery.chunk("tEXt", Array("Title\0photo".utf8))),
    ]

    @Test("8-bit pixels are exactly libpng's simplified reader's", arguments: fixtureSpecs.filter { $0.bitDepth <= 8 && $0.width == 33 })
    func eightBitMatchesSimplifiedReader(spec: PNGFixture.Spec) throws {
        let png = PNGFixture.make(spec).png
        for (name, chunk) in Self.colourChunks {
            let variant = HostilePNG.inserting(chunk, into: png)
            let reference = try #require(LibpngReference.decode(variant), "\(name)")
            #expect(try PNGCodec().decode(variant).pixels == reference, "\(spec) with \(name)")
        }
    }

    @Test("plain 16-bit pixels are exactly libpng's simplified reader's", arguments: fixtureSpecs.filter { $0.bitDepth == 16 && !$0.interlaced && $0.width == 33 })
    func sixteenBitMatchesSimplifiedReader(spec: PNGFixture.Spec) throws {
        // PNGFixture tags 16-bit files sRGB; without it libpng takes 16-bit samples as linear.
        let tagged = PNGFixture.make(spec).png
        let chunks = HostilePNG.chunks(of: tagged)
        let untagged = HostilePNG.signature + chunks.filter { $0.type != "sRGB" }.flatMap { PNGHeaderForgery.chunk($0.type, $0.data) }
        for png in [tagged, untagged] {
            let reference = try #require(LibpngReference.decode(png))
            #expect(try PNGCodec().decode(png).pixels == reference)
        }
    }
}
