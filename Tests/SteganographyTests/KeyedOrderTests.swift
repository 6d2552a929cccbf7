import PhotoCloudTestKit
import Steganography
import Testing

@Suite("Keyed order")
struct KeyedOrderTests {
    static func changedPixels(key: String, width: Int, height: Int, payload: Int) throws -> [Int] {
        let cover = [UInt8](repeating: 100, count: width * height * 4)
        var pixels = cover
        try Steganographer.embed([UInt8](repeating: 0xA5, count: payload), into: &pixels, width: width, height: height,
                                 key: try StegoKey(passphrase: key))
        return (0..<(width * height)).filter { pixel in (0..<3).contains { pixels[pixel * 4 + $0] != cover[pixel * 4 + $0] } }
    }

    @Test func sameKeySamePositionsOtherKeyOthers() throws {
        // The ±1 directions vary with the nonce, but which slots change depends on the key alone
        // (and on the bits, which are ciphertext: compare the slot sets, not exact values).
        let first = try Self.changedPixels(key: "alpha", width: 80, height: 80, payload: 300)
        let second = try Self.changedPixels(key: "alpha", width: 80, height: 80, payload: 300)
        let other = try Self.changedPixels(key: "beta", width: 80, height: 80, payload: 300)
        let overlapSame = Set(first).intersection(second).count
        let overlapOther = Set(first).intersection(other).count
        // Each embedding changes about half of the same ~2,600 slots: large overlap.
        #expect(overlapSame > overlapOther * 2)
    }

    @Test func changesAreSpreadOverTheWholeImage() throws {
        // 5% of capacity must not cluster at the top: count changes per cell of a 4x4 grid.
        let (width, height) = (200, 200)
        let payload = Steganographer.capacity(width: width, height: height) / 20
        let changed = try Self.changedPixels(key: "spread", width: width, height: height, payload: payload)
        var cells = [Int](repeating: 0, count: 16)
        for pixel in changed { cells[(pixel / width) * 4 / height * 4 + (pixel % width) * 4 / width] += 1 }
        let mean = Double(changed.count) / 16
        for count in cells { #expect(abs(Double(count) - mean) < mean * 0.25, "\(cells)") }
    }
}

@Suite("Slot permutation")
struct SlotPermutationTests {
    @Test("embedding at full capacity touches every slot once", arguments: [(1, 200), (11, 13), (29, 31), (64, 64), (101, 3)])
    func bijection(width: Int, height: Int) throws {
        // With 1 bit per slot at full capacity, a repeated slot would overwrite a bit and break the tag.
        let key = try StegoKey(passphrase: "bijection \(width)x\(height)")
        var pixels = [UInt8](repeating: 128, count: width * height * 4)
        let payload = [UInt8](repeating: 0x5A, count: Steganographer.capacity(width: width, height: height))
        try Steganographer.embed(payload, into: &pixels, width: width, height: height, key: key)
        #expect(try Steganographer.extract(from: pixels, width: width, height: height, key: key) == payload)
    }
}
