import Foundation
import PNGCodec
import PhotoCloudTestKit
import Testing

/// Files built like libpng's crashers: each is refused with a clear PNGError
/// before libpng allocates for it, or, where it is a valid image, decodes to
/// the same pixels as without its hostile parts.
@Suite("PNG hostile input")
struct HostileInputTests {
    static let base = PNGFixture.make(.init(width: 24, height: 16, colorType: .rgba, seed: 5))

    static func code(_ error: any Error) -> PNGError.Code? { (error as? PNGError)?.code }

    /// Decodes `png` from memory and from a file, and asks for its dimensions both ways: all must throw `code`.
    static func expectRefused(_ png: [UInt8], _ code: PNGError.Code, mentioning words: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        let codec = PNGCodec()
        #expect(sourceLocation: sourceLocation) { try codec.decode(png) } throws: { error in
            Self.code(error) == code && (error as? PNGError)?.message.contains(words) == true
        }
        #expect(sourceLocation: sourceLocation) { try codec.dimensions(of: png) } throws: { Self.code($0) == code }
        await withTemporaryFolder { folder in
            let path = folder + "/crafted.png"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(png)))
            #expect(sourceLocation: sourceLocation) { try codec.decode(file: path) } throws: { error in
                Self.code(error) == code && (error as? PNGError)?.message.hasPrefix(path) == true
            }
            #expect(sourceLocation: sourceLocation) { try codec.dimensions(ofFile: path) } throws: { Self.code($0) == code }
        }
    }

    @Test("a chunk declaring more bytes than the file has is refused (libpng's 57-byte crashers)",
          arguments: ["iTXt", "zTXt", "tEXt", "iCCP", "eXIf", "sPLT", "juNK", "JUNK", "IDAT", "PLTE", "tRNS"])
    func declaredLengthBeyondFile(type: String) async throws {
        let crasher = HostilePNG.hugeDeclaredChunk(type)
        #expect(crasher.count == 57)
        await Self.expectRefused(crasher, .corrupt, mentioning: "declares 2147483647 bytes")
    }

    @Test func declaredLengthBeyondFileAfterImageData() async throws {
        let png = Array(Self.base.png.dropLast(12)) + HostilePNG.declaredOnly("iTXt", length: 0x7FFF_FFFF) + HostilePNG.iend
        await Self.expectRefused(png, .corrupt, mentioning: "declares")
    }

    @Test("a real 10 MB text chunk is dropped unread and the image decodes", arguments: ["iTXt", "tEXt", "zTXt", "eXIf", "iCCP"])
    func hugeAncillaryChunk(type: String) throws {
        let text = Array("Comment".utf8) + [0, 0] + [UInt8](repeating: 0x41, count: 10 << 20)
        let png = HostilePNG.inserting(PNGHeaderForgery.chunk(type, text), into: Self.base.png)
        let (image, report) = try PNGCodec().decodeReporting(png)
        #expect(image.pixels == Self.base.rgba)
        #expect(report.plan.droppedChunks == 1)
        #expect(report.readerPeakBytes < 1 << 20, "libpng allocated \(report.readerPeakBytes) bytes for a 24x16 image")
    }

    @Test func compressedTextBombIsDroppedUnread() throws {
        // zTXt and compressed iTXt holding 256 MiB of zeros in about 250 KB.
        let bomb = HostilePNG.zeros(count: 256 << 20, level: 9)
        for chunk in [PNGHeaderForgery.chunk("zTXt", Array("Comment".utf8) + [0, 0] + bomb),
                      PNGHeaderForgery.chunk("iTXt", Array("Comment".utf8) + [0, 1, 0, 0, 0] + bomb)] {
            let (image, report) = try PNGCodec().decodeReporting(HostilePNG.inserting(chunk, into: Self.base.png))
            #expect(image.pixels == Self.base.rgba)
            #expect(report.readerPeakBytes < 1 << 20)
        }
    }

    @Test("huge declared dimensions with tiny image data are refused before the pixel buffer exists",
          arguments: [(7000, 7000, UInt8(6)), (50_000, 1000, 2), (1000, 50_000, 0), (5000, 5000, 6)])
    func hugeDimensionsTinyData(width: Int, height: Int, colorType: UInt8) async throws {
        let depth: UInt8 = width == 5000 ? 16 : 8
        // A complete zlib stream of the first 12 MB of rows only: 12 KB or so.
        let rowBytes = 1 + width * (colorType == 6 ? 4 : colorType == 2 ? 3 : 1) * Int(depth) / 8
        let png = HostilePNG.signature + HostilePNG.header(width: width, height: height, bitDepth: depth, colorType: colorType)
            + PNGHeaderForgery.chunk("IDAT", HostilePNG.zeros(count: 12_000_000 / rowBytes * rowBytes)) + HostilePNG.iend
        #expect(png.count < 40_000)
        await Self.expectRefused(png, .corrupt, mentioning: "cannot come from only")
    }

    @Test func headerBeyondTheDecodeLimitIsRefused() async throws {
        let png = PNGHeaderForgery.png(width: 10_000, height: 10_000)
        await Self.expectRefused(png, .tooLarge, mentioning: "more than the limit of 50000000")
        let sixteen = PNGHeaderForgery.png(width: 6000, height: 5000, bitDepth: 16)
        await Self.expectRefused(sixteen, .tooLarge, mentioning: "25000000 for a 16-bit image")
        let wide = PNGHeaderForgery.png(width: 1_000_001, height: 1)
        await Self.expectRefused(wide, .tooLarge, mentioning: "a side longer than 1000000")
    }

    @Test func hugeImageDataIsReadOnlyAsFarAsNeeded() throws {
        // 20 MB of junk after a complete zlib stream, inside the image data.
        let png = HostilePNG.replacingImageData(of: Self.base.png) { $0 + [UInt8](repeating: 0xAB, count: 20 << 20) }
        let (image, report) = try PNGCodec().decodeReporting(png)
        #expect(image.pixels == Self.base.rgba)
        #expect(report.readerPeakBytes < 1 << 20)
    }

    @Test func badChunkCRC() async throws {
        await Self.expectRefused(HostilePNG.breakingCRC(of: "IHDR", in: Self.base.png), .corrupt, mentioning: "CRC")
        // libpng checks the CRCs of the chunks it is given, when it reads them.
        #expect { try PNGCodec().decode(HostilePNG.breakingCRC(of: "IDAT", in: Self.base.png)) } throws: { error in
            Self.code(error) == .corrupt && (error as? PNGError)?.message.contains("CRC error") == true
        }
    }

    @Test func badAdler32() {
        let png = HostilePNG.replacingImageData(of: Self.base.png) { data in
            var data = data
            data[data.count - 1] ^= 0x5A
            return data
        }
        #expect { try PNGCodec().decode(png) } throws: { error in
            Self.code(error) == .corrupt && (error as? PNGError)?.message.contains("incorrect data check") == true
        }
    }

    @Test("a truncated zlib stream is an error", arguments: [2, 3, 4, 8])
    func truncatedZlib(fraction: Int) {
        let png = HostilePNG.replacingImageData(of: Self.base.png) { Array($0.prefix($0.count * (fraction - 1) / fraction)) }
        #expect { try PNGCodec().decode(png) } throws: { Self.code($0) == .corrupt }
    }

    @Test func structuralDamage() async throws {
        let withoutEnd = Array(Self.base.png.dropLast(12))
        await Self.expectRefused(withoutEnd, .corrupt, mentioning: "truncated")
        let critical = HostilePNG.inserting(PNGHeaderForgery.chunk("CRIT", [1, 2, 3]), into: Self.base.png)
        await Self.expectRefused(critical, .corrupt, mentioning: "unknown critical chunk CRIT")
        let chunks = HostilePNG.chunks(of: Self.base.png)
        let data = chunks.first { $0.type == "IDAT" }!.data
        let split = HostilePNG.signature + PNGHeaderForgery.chunk("IHDR", chunks[0].data)
            + PNGHeaderForgery.chunk("IDAT", Array(data.prefix(10))) + PNGHeaderForgery.chunk("tEXt", Array("a\0b".utf8))
            + PNGHeaderForgery.chunk("IDAT", Array(data.dropFirst(10))) + HostilePNG.iend
        await Self.expectRefused(split, .corrupt, mentioning: "interrupted")
        await Self.expectRefused(HostilePNG.signature + HostilePNG.header(width: 1, height: 1) + HostilePNG.iend, .corrupt, mentioning: "no image data")
    }
}
