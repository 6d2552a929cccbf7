import PNGCodec
import PhotoCloudTestKit
import Testing

@Suite("PNG encoding")
struct EncodeTests {
    static func noise(width: Int, height: Int, channels: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return (0..<(width * height * channels)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    @Test("RGBA round trips at several sizes", arguments: [(1, 1), (3, 1), (1, 5), (17, 13), (256, 3), (1000, 2)])
    func rgbaRoundTrip(width: Int, height: Int) throws {
        let image = try RGBAImage(width: width, height: height, pixels: Self.noise(width: width, height: height, channels: 4, seed: 7))
        let codec = PNGCodec()
        #expect(try codec.decode(try codec.encode(image)) == image)
        for fast in [false, true] {
            #expect(try codec.decode(try codec.encodeWithLibpng(image, fast: fast)) == image)
        }
    }

    @Test("every filter, level, strategy and thread count decodes with libpng", arguments: RowFilter.allCases)
    func encoderChoices(filter: RowFilter) throws {
        // Large enough to be cut into several parts (the parallel path).
        let (width, height) = (700, 500)
        let image = try RGBAImage(width: width, height: height, pixels: Self.photoLike(width: width, height: height))
        for (level, strategy, threads) in [(0, PNGEncoder.Strategy.standard, 1), (1, .rle, 2), (3, .standard, 3), (6, .filtered, 4), (9, .standard, 2)] {
            let codec = PNGCodec(encoder: PNGEncoder(level: level, filter: filter, strategy: strategy, threads: threads))
            #expect(try PNGCodec.libpngOnly.decode(try codec.encode(image)) == image, "level \(level) \(strategy) threads \(threads)")
        }
    }

    @Test("libdeflate's streams decode with libpng, at every level; in parts, libdeflate takes the last and zlib the others",
          arguments: [(1, 1), (17, 13), (280, 280), (700, 500)])
    func libdeflateChoice(width: Int, height: Int) throws {
        let image = try RGBAImage(width: width, height: height, pixels: Self.photoLike(width: width, height: height))
        for level in [0, 1, 6, 9] {
            let codec = PNGCodec(encoder: PNGEncoder(level: level, strategy: .rle, threads: 1, compressor: .libdeflate))
            let png = try codec.encode(image)
            #expect(try PNGCodec.libpngOnly.decode(png) == image, "\(width)x\(height) level \(level)")
            // The same image twice gives the same bytes (servers must answer a request identically).
            #expect(try codec.encode(image) == png)
        }
        // In parts (the 700x500 image is cut in two, three or four): zlib's parts end byte-aligned and not final,
        // libdeflate's last one ends the stream; libpng reads the joined stream, and it is not zlib's alone.
        for threads in [2, 3, 4] {
            let parts = PNGEncoder(level: 1, strategy: .rle, threads: threads, compressor: .libdeflate)
            var zlib = parts
            zlib.compressor = .zlib
            let inParts = try PNGCodec(encoder: parts).encode(image)
            #expect(try PNGCodec.libpngOnly.decode(inParts) == image, "\(threads) parts")
            #expect(try PNGCodec(encoder: parts).encode(image) == inParts, "the same bytes again")
            #expect(inParts != (try PNGCodec(encoder: zlib).encode(image)))
        }
    }

    @Test func opaqueImagesAreWrittenAsRGB() throws {
        var pixels = Self.photoLike(width: 20, height: 10)
        let opaque = try PNGCodec().encode(try RGBAImage(width: 20, height: 10, pixels: pixels))
        #expect(opaque[25] == 2)   // IHDR colour type: RGB
        pixels[3] = 254
        let translucent = try PNGCodec().encode(try RGBAImage(width: 20, height: 10, pixels: pixels))
        #expect(translucent[25] == 6)   // RGBA
        #expect(try PNGCodec().decode(translucent).pixels == pixels)
    }

    /// Smooth gradients with a little noise, opaque: compresses like a photo.
    static func photoLike(width: Int, height: Int) -> [UInt8] {
        var random = SeededRandom(seed: 11)
        var pixels: [UInt8] = []
        pixels.reserveCapacity(width * height * 4)
        for y in 0..<height {
            for x in 0..<width {
                let noise = Int.random(in: -3...3, using: &random)
                pixels += [UInt8(clamping: x * 255 / width + noise), UInt8(clamping: y * 255 / height + noise),
                           UInt8(clamping: (x + y) % 256 + noise), 255]
            }
        }
        return pixels
    }

    @Test("RGB input decodes to opaque RGBA", arguments: [(1, 1), (9, 7), (64, 33)])
    func rgbRoundTrip(width: Int, height: Int) throws {
        let rgb = Self.noise(width: width, height: height, channels: 3, seed: 3)
        let codec = PNGCodec()
        let image = try codec.decode(try codec.encodeRGB(rgb, width: width, height: height))
        var expected: [UInt8] = []
        for pixel in stride(from: 0, to: rgb.count, by: 3) { expected += rgb[pixel..<pixel + 3] + [255] }
        #expect(image.pixels == expected)
    }

    @Test func refusesMismatchedBuffers() {
        #expect(throws: PNGError.self) { try RGBAImage(width: 2, height: 2, pixels: [1, 2, 3]) }
        #expect(throws: PNGError.self) { try RGBAImage(width: 0, height: 2, pixels: []) }
        #expect(throws: PNGError.self) { try PNGCodec().encodeRGB([1, 2, 3, 4], width: 1, height: 1) }
    }

    @Test func writesFilesAtomically() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/out.png"
            let image = try RGBAImage(width: 5, height: 4, pixels: Self.noise(width: 5, height: 4, channels: 4, seed: 1))
            try PNGCodec().write(image, to: path)
            #expect(try PNGCodec().decode(file: path) == image)
            // A failed write leaves the old file and no temporary behind.
            #expect(throws: PNGError.self) { try PNGCodec().write(image, to: folder + "/missing/out.png") }
            let entries = try FileManager.default.contentsOfDirectory(atPath: folder)
            #expect(entries == ["out.png"])
        }
    }
}

import Foundation
