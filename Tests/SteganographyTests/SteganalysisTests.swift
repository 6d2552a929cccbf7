import Foundation
import PNGCodec
import PhotoCloudTestKit
@testable import Steganography
import Testing

/// The detectors photocloud measures itself against (docs/steganography.md).
@Suite("Steganalysis")
struct SteganalysisTests {
    static func photo(_ name: String) throws -> RGBAImage {
        try PNGCodec().decode(file: RealCoverTests.coversFolder + "/" + name)
    }

    /// Plain LSB replacement, what photocloud does not do: the low bit of
    /// every colour sample in `samples` (scan order) overwritten with a random bit.
    static func replaceLowBits(_ pixels: inout [UInt8], samples: Range<Int>? = nil, seed: UInt64 = 3) {
        var random = SeededRandom(seed: seed)
        for sample in samples ?? 0..<pixels.count / 4 * 3 {
            let offset = sample / 3 * 4 + sample % 3
            pixels[offset] = pixels[offset] & 0xFE | UInt8(random.next() & 1)
        }
    }

    @Test("chi-square: plain LSB replacement of every low bit is flagged, the photo itself is not", arguments: RealCoverTests.covers)
    func chiSquareFlagsReplacement(name: String) throws {
        let cover = try Self.photo(name)
        var replaced = cover.pixels
        Self.replaceLowBits(&replaced)
        let clean = Steganalysis.chiSquare(cover.pixels), attacked = Steganalysis.chiSquare(replaced)
        // (chelsea.png's histogram is the most even of the six: p = 0.014.)
        #expect(clean.probability < 0.05, "\(name): cover \(clean)")
        #expect(attacked.probability > 0.99, "\(name): replaced \(attacked)")
        #expect(attacked.degreesOfFreedom > 50)
    }

    @Test("chi-square: photocloud's LSB matching at 95% of capacity does not look like replacement")
    func chiSquareOnMatching() throws {
        let cover = try Self.photo("coffee.png")
        var stego = cover.pixels
        let payload = EmbedExtractTests.payload(Steganographer.capacity(width: cover.width, height: cover.height) * 95 / 100)
        try Steganographer.embed(payload, into: &stego, width: cover.width, height: cover.height, key: EmbedExtractTests.key)
        #expect(Steganalysis.chiSquare(stego).probability < 0.01)
    }

    @Test("chi-square profile: a message written from the top shows where it ends")
    func profileFindsSequentialEmbedding() throws {
        let cover = try Self.photo("astronaut.png")
        var pixels = cover.pixels
        let samples = pixels.count / 4 * 3
        Self.replaceLowBits(&pixels, samples: 0..<samples * 3 / 10)
        let profile = Steganalysis.chiSquareProfile(pixels, steps: 10)
        #expect(profile.map(\.share) == (1...10).map { Double($0) / 10 })
        #expect(profile[0].result.probability > 0.9 && profile[2].result.probability > 0.9)
        #expect(profile[9].result.probability < 0.01, "\(profile.map(\.result.probability))")
        #expect(profile[9].result == Steganalysis.chiSquare(pixels))
    }

    @Test func chiSquareTailMatchesKnownValues() {
        // With 2 degrees of freedom the tail is exp(-x / 2): both branches of the evaluation.
        for x in [0.1, 1.0, 2.9, 3.1, 10.0, 80.0] {
            #expect(abs(ChiSquareDistribution.upperTail(x, degreesOfFreedom: 2) - exp(-x / 2)) < 1e-12)
        }
        #expect(abs(ChiSquareDistribution.upperTail(3.841_458_82, degreesOfFreedom: 1) - 0.05) < 1e-7)
        #expect(abs(ChiSquareDistribution.upperTail(124.342, degreesOfFreedom: 100) - 0.05) < 1e-4)
        #expect(ChiSquareDistribution.upperTail(0, degreesOfFreedom: 127) == 1)
        #expect(ChiSquareDistribution.upperTail(1e9, degreesOfFreedom: 127) == 0)
        #expect(ChiSquareDistribution.upperTail(.infinity, degreesOfFreedom: 3) == 0)
        #expect(ChiSquareDistribution.upperTail(.nan, degreesOfFreedom: 3) == 0)
        #expect(ChiSquareDistribution.upperTail(5, degreesOfFreedom: 0) == 0)
    }

    @Test("HCF: a flat image has its centre of mass at 64 and a calibrated ratio of 1")
    func flatImage() throws {
        let pixels = [UInt8](repeating: 93, count: 16 * 12 * 4)
        let hcf = try Steganalysis.calibratedHCF(pixels, width: 16, height: 12)
        for centre in hcf.centreOfMass + hcf.downsampledCentreOfMass { #expect(abs(centre - 64) < 1e-9) }
        #expect(abs((hcf.ratio ?? 0) - 1) < 1e-12)
    }

    @Test("HCF: counts spread evenly over all values have their centre of mass at 0; random noise lies between")
    func evenAndNoisyHistograms() {
        #expect(Steganalysis.centreOfMass(histogram: [Int](repeating: 40, count: 256)) < 1e-9)
        #expect(Steganalysis.centreOfMass(histogram: []) == 0)
        let noise = Steganalysis.colourHistogram(EmbedExtractTests.cover(width: 128, height: 128))
        let centre = Steganalysis.centreOfMass(histogram: noise)
        #expect(centre > 1 && centre < 64)
    }

    @Test("HCF: LSB matching lowers the centre of mass and the calibrated ratio", arguments: ["astronaut.png", "camera.png"])
    func matchingLowersTheRatio(name: String) throws {
        let cover = try Self.photo(name)
        var stego = cover.pixels
        let payload = EmbedExtractTests.payload(Steganographer.capacity(width: cover.width, height: cover.height) * 95 / 100)
        try Steganographer.embed(payload, into: &stego, width: cover.width, height: cover.height, key: EmbedExtractTests.key)
        let before = try Steganalysis.calibratedHCF(cover.pixels, width: cover.width, height: cover.height)
        let after = try Steganalysis.calibratedHCF(stego, width: cover.width, height: cover.height)
        for channel in 0..<3 { #expect(after.centreOfMass[channel] < before.centreOfMass[channel]) }
        let stegoRatio = try #require(after.ratio), coverRatio = try #require(before.ratio)
        #expect(stegoRatio < coverRatio)
    }

    @Test("everything is total: empty, 1x1, a single row, a partial pixel, a wrong size")
    func total() throws {
        #expect(Steganalysis.chiSquare([]).probability == 0)
        #expect(Steganalysis.chiSquare([1, 2]).degreesOfFreedom == 0)
        #expect(Steganalysis.chiSquare(histogram: [Int](repeating: 1_000, count: 300)).probability == 1)
        #expect(Steganalysis.chiSquareProfile([], steps: 0).count == 1)
        #expect(Steganalysis.chiSquareProfile([9, 9, 9, 255], steps: 5).allSatisfy { $0.result.probability == 0 })
        let empty = try Steganalysis.calibratedHCF([], width: 0, height: 0)
        #expect(empty.centreOfMass == [0, 0, 0] && empty.ratio == nil)
        let one = try Steganalysis.calibratedHCF([10, 20, 30, 255], width: 1, height: 1)
        #expect(one.centreOfMass.allSatisfy { abs($0 - 64) < 1e-9 } && one.ratio == nil)
        #expect(try Steganalysis.calibratedHCF([UInt8](repeating: 7, count: 9 * 4), width: 9, height: 1).ratio == nil)
        #expect(abs(try #require(try Steganalysis.calibratedHCF([UInt8](repeating: 7, count: 2 * 3 * 4), width: 2, height: 3).ratio) - 1) < 1e-12)
        for (count, width, height) in [(5, 1, 1), (4, -1, -1), (0, Int.max, 2), (4, 1, 0)] {
            #expect(throws: StegoError.self) { try Steganalysis.calibratedHCF([UInt8](repeating: 0, count: count), width: width, height: height) }
        }
    }
}
