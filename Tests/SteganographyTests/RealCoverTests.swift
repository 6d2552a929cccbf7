import Foundation
import PNGCodec
import PhotoCloudTestKit
import Steganography
import Testing

/// Real photographs (Fixtures/covers, public domain and CC0) and every colour type.
@Suite("Real covers")
struct RealCoverTests {
    static let coversFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/covers").path
    static let covers = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "hubble_deep_field.png", "rocket.png"]

    @Test("95% of capacity round trips through PNG with PSNR over 51 dB", arguments: covers)
    func nearCapacity(name: String) throws {
        let codec = PNGCodec()
        let cover = try codec.decode(file: Self.coversFolder + "/" + name)
        let key = try StegoKey(passphrase: "real covers")
        let payload = EmbedExtractTests.payload(Steganographer.capacity(width: cover.width, height: cover.height) * 95 / 100)
        var pixels = cover.pixels
        try Steganographer.embed(payload, into: &pixels, width: cover.width, height: cover.height, key: key)
        let png = try codec.encode(try RGBAImage(width: cover.width, height: cover.height, pixels: pixels))
        let stego = try codec.decode(png)
        #expect(stego.width == cover.width && stego.height == cover.height)
        #expect(try Steganographer.extract(from: stego.pixels, width: stego.width, height: stego.height, key: key) == payload)
        #expect(ImageQuality.psnr(cover.pixels, stego.pixels) >= 51)
    }

    @Test("any colour type libpng reads is a cover", arguments: PNGFixture.ColorType.allCases)
    func everyColourType(colorType: PNGFixture.ColorType) throws {
        for depth in PNGFixture.bitDepths(for: colorType) {
            let (png, _) = PNGFixture.make(.init(width: 45, height: 31, colorType: colorType, bitDepth: depth, interlaced: depth == 8))
            let cover = try PNGCodec().decode(png)
            let key = try StegoKey(passphrase: "types")
            var pixels = cover.pixels
            let payload = EmbedExtractTests.payload(Steganographer.capacity(width: 45, height: 31) / 2)
            try Steganographer.embed(payload, into: &pixels, width: 45, height: 31, key: key)
            let stego = try PNGCodec().decode(try PNGCodec().encode(try RGBAImage(width: 45, height: 31, pixels: pixels)))
            #expect(try Steganographer.extract(from: stego.pixels, width: 45, height: 31, key: key) == payload)
        }
    }

    @Test func scalingACoverUpMakesRoom() throws {
        let cover = try PNGCodec().decode(file: Self.coversFolder + "/chelsea.png")
        let payloadSize = Steganographer.capacity(width: cover.width, height: cover.height) * 3
        let size = CoverScaling.smallestSize(payloadBytes: payloadSize, width: cover.width, height: cover.height)
        #expect(Steganographer.capacity(width: size.width, height: size.height) >= payloadSize)
        #expect(abs(Double(size.width) / Double(size.height) - Double(cover.width) / Double(cover.height)) < 0.01)
        var scaled = try CoverScaling.resize(cover.pixels, width: cover.width, height: cover.height, to: size.width, size.height)
        let key = try StegoKey(passphrase: "scaled")
        let payload = EmbedExtractTests.payload(payloadSize)
        try Steganographer.embed(payload, into: &scaled, width: size.width, height: size.height, key: key)
        #expect(try Steganographer.extract(from: scaled, width: size.width, height: size.height, key: key) == payload)
    }

    @Test func resizingKeepsFlatColoursAndCorners() throws {
        let flat = [UInt8](repeating: 77, count: 3 * 2 * 4)
        #expect(try CoverScaling.resize(flat, width: 3, height: 2, to: 17, 9).allSatisfy { $0 == 77 })
        let corners: [UInt8] = [0, 0, 0, 255, 255, 255, 255, 255]
        let wide = try CoverScaling.resize(corners, width: 2, height: 1, to: 8, 1)
        #expect(wide[0] == 0 && wide[wide.count - 4] == 255)
        #expect(throws: StegoError.self) { try CoverScaling.resize(flat, width: 3, height: 3, to: 4, 4) }
    }
}
