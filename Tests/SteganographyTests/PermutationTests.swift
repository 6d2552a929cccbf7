@testable import Steganography
import Testing

@Suite("Keyed permutation internals")
struct PermutationTests {
    static let keys: [UInt64] = [0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210, 0x0F0F_0F0F_F0F0_F0F0, 0x1357_9BDF_2468_ACE0]

    @Test("a bijection of the slots", arguments: [1, 2, 3, 10, 99, 100, 101, 3 * 7 * 13, 65_536, 3 * 333 * 101])
    func bijection(count: Int) {
        let permutation = SlotPermutation(count: count, keys: Self.keys)
        var seen = [Bool](repeating: false, count: count)
        for index in 0..<count {
            let slot = permutation.slot(index)
            #expect(slot >= 0 && slot < count)
            #expect(!seen[slot])
            seen[slot] = true
        }
    }

    @Test func theOrderIsPinned() {
        // Images hidden by earlier builds must still read: the order of a 1000x872 image's slots (side 1,618) and of a
        // 12-megapixel one's (side 6,000), as the builds of 2026-12-01 make them (a change to the order is a change of format).
        for (count, expected) in [(3 * 1000 * 872, UInt64(0xDB81_75DB_BF63_54A2)), (3 * 4000 * 3000, 0x4E07_192D_B703_F49C)] {
            let permutation = SlotPermutation(count: count, keys: Self.keys)
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for index in stride(from: 0, to: count, by: 7) { hash = (hash ^ UInt64(permutation.slot(index))) &* 0x100_0000_01B3 }
            #expect(hash == expected, "count \(count)")
        }
    }

    @Test func aLargeEmbeddingIsTheSameImageWhateverTheNumberOfThreads() {
        // Over 65,536 slots the work is split in parts, each flipping its own coins for LSB matching.
        let count = 3 * 300 * 300
        let permutation = SlotPermutation(count: count, keys: Self.keys)
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<30_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let cover = (0..<300 * 300 * 4).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var images: [[UInt8]] = []
        for threads in [1, 2, 3, 8] {
            let bits = SlotBits(permutation: permutation, threads: threads)
            let offsets = bits.offsets(0..<SlotBits.slots(forBytes: payload.count, bitsPerSlot: 1))
            var image = cover
            image.withUnsafeMutableBufferPointer { bits.write(payload, into: $0, at: offsets, bitsPerSlot: 1, seed: 42) }
            #expect(image.withUnsafeBufferPointer { bits.read(payload.count, from: $0, from: 0, bitsPerSlot: 1) } == payload)
            images.append(image)
        }
        #expect(images.allSatisfy { $0 == images[0] }, "the image depends on the thread count")
    }

    @Test func batchedAndSingleAgree() {
        let permutation = SlotPermutation(count: 12_345, keys: Self.keys)
        let out = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { out.deallocate() }
        for first in stride(from: 0, to: 12_000, by: 61) {
            permutation.slots(from: first, count: 61, into: out)
            for j in 0..<61 { #expect(out[j] == permutation.slot(first + j)) }
        }
    }

    @Test func sameKeySameOrderOtherKeyOtherOrder() throws {
        let a = try StegoKey(passphrase: "one"), b = try StegoKey(passphrase: "one"), c = try StegoKey(passphrase: "two")
        let order = { (key: StegoKey) in (0..<1_000).map { SlotPermutation(count: 300_000, keys: key.orderKeys).slot($0) } }
        #expect(order(a) == order(b))
        let other = order(c)
        #expect(zip(order(a), other).filter { $0 == $1 }.count < 5)
    }

    @Test func planOffsetsFollowTheOrder() throws {
        let key = try StegoKey(passphrase: "plan")
        let plan = try EmbeddingPlan(payloadBytes: 100, width: 50, height: 40, key: key)
        let permutation = SlotPermutation(count: 50 * 40 * 3, keys: key.orderKeys)
        #expect(plan.headerOffsets.count == PayloadFormat.headerSlots)
        #expect(plan.bodyOffsets.count == (100 + PayloadFormat.overhead) * 8)
        for (index, offset) in (plan.headerOffsets + plan.bodyOffsets).enumerated() {
            #expect(Int(offset) == SlotBits.byteOffset(ofSlot: permutation.slot(index)))
            #expect(offset % 4 != 3)   // never alpha
        }
    }

    @Test("LSB matching moves to the nearest value with the right low bits", arguments: [1, 2, 3])
    func matching(bits: Int) {
        var coins = CoinFlips(seed: 1)
        let step = 1 << bits
        for value in 0...255 {
            for target in 0..<step {
                let result = Int(SlotBits.matched(UInt8(value), carrying: UInt8(target), bits: bits, coins: &coins))
                #expect(result & (step - 1) == target)
                // No value with those low bits is strictly nearer.
                let best = (0...255).filter { $0 & (step - 1) == target }.map { abs($0 - value) }.min()!
                #expect(abs(result - value) == best)
            }
        }
    }
}
