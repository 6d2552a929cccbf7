/// A keyed pseudorandom order over the colour slots of an image, computed one
/// position at a time: a balanced Feistel network over the smallest power-of-4
/// domain that holds the slots, with cycle-walking back into range. It is a
/// bijection, so no slot is used twice, and it spreads any prefix of the order
/// over the whole image. Memory: none, whatever the image size.
struct SlotPermutation: Sendable {
    static let rounds = 6

    let count: UInt64
    private let halfBits: UInt64
    private let mask: UInt64
    private let k0, k1, k2, k3, k4, k5: UInt64

    init(count: Int, keys: [UInt64]) {
        precondition(count > 0 && keys.count == Self.rounds)
        self.count = UInt64(count)
        var bits: UInt64 = 1
        while (UInt64(1) << (2 * bits)) < UInt64(count) { bits += 1 }
        halfBits = bits
        mask = (UInt64(1) << bits) - 1
        (k0, k1, k2, k3, k4, k5) = (keys[0], keys[1], keys[2], keys[3], keys[4], keys[5])
    }

    /// The slot at position `index` of the order (index < count).
    @inline(__always)
    func slot(_ index: Int) -> Int {
        var x = UInt64(index)
        repeat { x = permute(x) } while x >= count
        return Int(x)
    }

    @inline(__always)
    private func permute(_ x: UInt64) -> UInt64 {
        var left = x >> halfBits, right = x & mask
        (left, right) = (right, left ^ (Self.mix(right ^ k0) & mask))
        (left, right) = (right, left ^ (Self.mix(right ^ k1) & mask))
        (left, right) = (right, left ^ (Self.mix(right ^ k2) & mask))
        (left, right) = (right, left ^ (Self.mix(right ^ k3) & mask))
        (left, right) = (right, left ^ (Self.mix(right ^ k4) & mask))
        (left, right) = (right, left ^ (Self.mix(right ^ k5) & mask))
        return left << halfBits | right
    }

    /// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }
}
