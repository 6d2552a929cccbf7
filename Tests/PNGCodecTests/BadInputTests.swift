import PNGCodec
import PhotoCloudTestKit
import Testing

@Suite("PNG bad input")
struct BadInputTests {
    static let valid = PNGFixture.make(.init(width: 40, height: 30, colorType: .rgb)).png

    @Test func emptyInput() {
        #expect { try PNGCodec().decode([]) } throws: { ($0 as? PNGError)?.code == .notPNG }
    }

    @Test func notAPNG() {
        let text = Array("this is plainly not an image, just some text".utf8)
        #expect { try PNGCodec().decode(text) } throws: { ($0 as? PNGError)?.code == .notPNG }
        #expect { try PNGCodec().decode(Array(Self.valid.prefix(5))) } throws: { ($0 as? PNGError)?.code == .notPNG }
    }

    @Test("truncated anywhere is an error, never a crash", arguments: [8, 16, 33, 40, 60, 100])
    func truncated(length: Int) {
        let cut = Array(Self.valid.prefix(min(length, Self.valid.count - 1)))
        #expect(throws: PNGError.self) { try PNGCodec().decode(cut) }
    }

    @Test func everyTruncationFails() {
        for length in stride(from: 0, to: Self.valid.count - 12, by: 7) {   // the last 12 bytes are IEND
            #expect(throws: PNGError.self) { try PNGCodec().decode(Array(Self.valid.prefix(length))) }
        }
    }

    @Test func corruptedBytes() {
        var random = SeededRandom(seed: 99)
        var failures = 0
        for _ in 0..<200 {
            var bytes = Self.valid
            let index = Int.random(in: 8..<bytes.count, using: &random)
            bytes[index] ^= UInt8.random(in: 1...255, using: &random)
            do { _ = try PNGCodec().decode(bytes) } catch { failures += 1 }
        }
        // CRCs catch nearly every flipped byte; none may crash.
        #expect(failures > 150)
    }

    @Test("a header claiming a huge image is refused before allocation", arguments: [(40_000, 40_000), (100_001, 1_000), (1 << 30, 1 << 30)])
    func pixelLimit(width: Int, height: Int) {
        let forged = PNGHeaderForgery.png(width: UInt32(min(width, Int(Int32.max))), height: UInt32(min(height, Int(Int32.max))))
        #expect { try PNGCodec().decode(forged) } throws: { error in
            guard let error = error as? PNGError else { return false }
            return error.code == .tooLarge || error.code == .corrupt
        }
    }

    @Test func configurablePixelLimit() throws {
        let codec = PNGCodec(maxPixels: 40 * 30 - 1)
        #expect { try codec.decode(Self.valid) } throws: { ($0 as? PNGError)?.code == .tooLarge }
        #expect(try PNGCodec(maxPixels: 40 * 30).decode(Self.valid).width == 40)
    }

    @Test func missingFile() {
        #expect { try PNGCodec().decode(file: "/nonexistent/photo.png") } throws: { ($0 as? PNGError)?.code == .io }
    }
}
