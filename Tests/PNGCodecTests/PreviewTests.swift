import PNGCodec
import Testing

/// Previews: their sizes and the DCT-scaled JPEG path.
@Suite("Previews")
struct PreviewTests {
    static let red: [UInt8] = [220, 30, 30, 255], blue: [UInt8] = [30, 40, 210, 255]

    static func close(_ pixel: (r: UInt8, g: UInt8, b: UInt8, a: UInt8), _ expected: [UInt8], within: Int = 6) -> Bool {
        zip([pixel.r, pixel.g, pixel.b, pixel.a], expected).allSatisfy { abs(Int($0) - Int($1)) <= within }
    }

    @Test func twelveMegapixelJPEG() throws {
        let photo = try PhotoFixtures.repeatedRow(PhotoFixtures.splitRow(width: 4_000, left: Self.red, right: Self.blue), height: 3_000)
        let jpeg = try JPEGEncoder().encode(photo)
        #expect(Preview.jpegScale(width: 4_000, height: 3_000, longestSide: 256) == 8)
        let preview = try Preview.make(from: jpeg)
        #expect(preview.width == 256 && preview.height == 192)
        #expect(Self.close(preview[10, 96], Self.red), "\(preview[10, 96])")
        #expect(Self.close(preview[245, 96], Self.blue), "\(preview[245, 96])")
        #expect(Self.close(preview[127, 0], Self.red) && Self.close(preview[128, 191], Self.blue))
    }

    @Test func smallPNGKeepsItsSize() throws {
        let photo = try PhotoFixtures.photo(width: 100, height: 50)
        let preview = try Preview.make(from: try PNGCodec().encode(photo))
        #expect(preview == photo)
    }

    @Test func tallPNG() throws {
        let preview = try Preview.make(from: try PNGCodec().encode(PhotoFixtures.photo(width: 300, height: 900)))
        #expect(preview.width == 85 && preview.height == 256)   // 300 x 256 / 900 = 85.3
    }

    @Test("sizes keep the aspect ratio, rounded to the nearest pixel", arguments: [
        (4_000, 3_000, 256, 256, 192), (300, 900, 256, 85, 256), (100, 50, 256, 100, 50), (256, 256, 256, 256, 256),
        (257, 100, 256, 256, 100), (1_000, 1, 256, 256, 1), (1, 1_000, 256, 1, 256), (900, 301, 256, 256, 86), (10, 20, 1, 1, 1),
    ])
    func sizes(width: Int, height: Int, longest: Int, expectedWidth: Int, expectedHeight: Int) {
        #expect(Preview.size(width: width, height: height, longestSide: longest) == (expectedWidth, expectedHeight))
    }

    @Test func jpegScales() {
        #expect(Preview.jpegScale(width: 4_000, height: 3_000, longestSide: 256) == 8)
        #expect(Preview.jpegScale(width: 1_000, height: 700, longestSide: 256) == 2)   // 1/4 would leave 250
        #expect(Preview.jpegScale(width: 2_040, height: 100, longestSide: 256) == 4)   // 1/8 would leave 255
        #expect(Preview.jpegScale(width: 300, height: 200, longestSide: 256) == 1)
    }

    @Test func previewPNGIsThePreviewEncoded() throws {
        let jpeg = try JPEGEncoder().encode(PhotoFixtures.photo(width: 640, height: 480))
        let png = try Preview.previewPNG(from: jpeg, longestSide: 64)
        #expect(try PNGCodec().decode(png) == Preview.make(from: jpeg, longestSide: 64))
        #expect(try PNGCodec().dimensions(of: png) == (64, 48))
    }

    @Test func longestSideMustBePositive() throws {
        let png = try PNGCodec().encode(PhotoFixtures.photo(width: 10, height: 10))
        #expect { try Preview.make(from: png, longestSide: 0) } throws: { ($0 as? PNGError)?.code == .invalidImage }
    }
}
