import Foundation
import PNGCodec
import Testing

/// A failed expectation names an image by its size, not by its megabytes of pixels.
extension RGBAImage: CustomTestStringConvertible {
    public var testDescription: String { "RGBAImage(\(width)x\(height))" }
}

/// Photo-like test images made in code (no binary fixtures): smooth
/// gradients, a few soft discs and a fine texture, so JPEG round trips
/// behave as they do on photographs.
enum PhotoFixtures {
    static func photo(width: Int, height: Int, seed: UInt64 = 1) throws -> RGBAImage {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % 1_000)
        }
        let discs = (0..<4).map { _ in (x: next() * width / 1_000, y: next() * height / 1_000, r: 1 + next() * min(width, height) / 3_000) }
        var pixels = [UInt8](repeating: 255, count: width * height * 4)
        for y in 0..<height {
            for x in 0..<width {
                var red = 40 + 160 * x / max(width, 1), green = 60 + 140 * y / max(height, 1), blue = 180 - 100 * (x + y) / max(width + height, 1)
                for disc in discs {
                    let dx = x - disc.x, dy = y - disc.y
                    let inside = max(0, disc.r * disc.r - dx * dx - dy * dy)
                    if inside > 0 {
                        let lift = 60 * inside / max(disc.r * disc.r, 1)
                        red += lift
                        green -= lift / 2
                    }
                }
                let texture = (x * 7 + y * 13) % 9 - 4
                let i = (y * width + x) * 4
                pixels[i] = UInt8(clamping: red + texture)
                pixels[i + 1] = UInt8(clamping: green + texture)
                pixels[i + 2] = UInt8(clamping: blue + texture)
            }
        }
        return try RGBAImage(width: width, height: height, pixels: pixels)
    }

    /// Each row of `row` (RGBA, `width` pixels) repeated `height` times: large
    /// images made fast in a debug build.
    static func repeatedRow(_ row: [UInt8], height: Int) throws -> RGBAImage {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(row.count * height)
        for _ in 0..<height { pixels.append(contentsOf: row) }
        return try RGBAImage(width: row.count / 4, height: height, pixels: pixels)
    }

    /// A row whose left half is `left` and right half `right` (RGBA each).
    static func splitRow(width: Int, left: [UInt8], right: [UInt8]) -> [UInt8] {
        (0..<width).flatMap { $0 < width / 2 ? left : right }
    }

    /// Peak signal-to-noise ratio over the colour channels, in dB.
    static func psnr(_ a: RGBAImage, _ b: RGBAImage) -> Double {
        var squares = 0.0
        var count = 0
        for index in a.pixels.indices where index & 3 != 3 {
            let difference = Double(Int(a.pixels[index]) - Int(b.pixels[index]))
            squares += difference * difference
            count += 1
        }
        guard squares > 0 else { return .infinity }
        return 10 * log10((255.0 * 255.0) / (squares / Double(count)))
    }

    /// The offset of the first SOFn marker's length field (FF C0..C2 and friends).
    static func startOfFrame(in jpeg: [UInt8]) -> Int? {
        var at = 2
        while at + 4 <= jpeg.count, jpeg[at] == 0xFF {
            let marker = jpeg[at + 1]
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) { return at + 2 }
            at += 2 + (Int(jpeg[at + 2]) << 8 | Int(jpeg[at + 3]))
        }
        return nil
    }

    /// `jpeg` with its frame header claiming `width` x `height`.
    static func forging(_ jpeg: [UInt8], width: Int, height: Int) -> [UInt8] {
        guard let at = startOfFrame(in: jpeg) else { return jpeg }
        var forged = jpeg
        forged[at + 3] = UInt8(height >> 8)
        forged[at + 4] = UInt8(height & 0xFF)
        forged[at + 5] = UInt8(width >> 8)
        forged[at + 6] = UInt8(width & 0xFF)
        return forged
    }
}
