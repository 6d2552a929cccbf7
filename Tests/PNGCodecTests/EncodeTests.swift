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
        for fast in [false, true] {
            let codec = PNGCodec(fastEncoding: fast)
            #expect(try codec.decode(try codec.encode(image)) == image)
        }
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
