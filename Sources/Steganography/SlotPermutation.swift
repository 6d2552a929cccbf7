/// A keyed pseudorandom order over the colour slots of an image, computed one
/// position at a time, with no memory whatever the image size.
///
/// A four-round Feistel network over Z_s x Z_s, s = ceil(sqrt(slots)), with
/// addition mod s (the construction format-preserving encryption uses for
/// arbitrary radix): each round adds a keyed hash of one half to the other.
/// It is a bijection of [0, s^2), and positions that land in [slots, s^2)
/// (fewer than 2s of them) walk on until they land in range, so the order is
/// a bijection of the slots: no slot is used twice, and any prefix of the
/// order is spread over the whole image. The round function is one multiply
/// and one multiply-high (Lemire's range reduction): cheap enough that the
/// order costs a few nanoseconds a slot.
struct SlotPermutation: Sendable {
    static let rounds = 4
    let count: UInt64
    private let side: UInt64
    private let k0, k1, k2, k3: UInt64
    private let m0, m1, m2, m3: UInt64

    init(count: Int, keys: [UInt64]) {
        precondition(count > 0 && keys.count == Self.rounds)
        self.count = UInt64(count)
        var side = UInt64(Double(count).squareRoot())
        while side * side < UInt64(count) { side += 1 }
        self.side = max(side, 1)
        (k0, k1, k2, k3) = (keys[0], keys[1], keys[2], keys[3])
        (m0, m1, m2, m3) = (keys[1] | 1, keys[2] | 1, keys[3] | 1, (keys[0] >> 1) | 1)
    }

    /// The slot at position `index` of the order (index < count).
    @inline(__always)
    func slot(_ index: Int) -> Int {
        var x = UInt64(index)
        repeat { x = permute(x) } while x >= count
        return Int(x)
    }

    /// The slots at positions first ..< first + count, into `out`. Four positions
    /// go through the network side by side: independent chains of multiplies
    /// that the CPU overlaps.
    @inline(__always)
    func slots(from first: Int, count: Int, into out: UnsafeMutablePointer<Int>) {
        var j = 0
        while j + 4 <= count {
            let base = UInt64(first + j)
            var a = permute(base), b = permute(base + 1), c = permute(base + 2), d = permute(base + 3)
            while a >= self.count { a = permute(a) }
            while b >= self.count { b = permute(b) }
            while c >= self.count { c = permute(c) }
            while d >= self.count { d = permute(d) }
            out[j] = Int(a); out[j + 1] = Int(b); out[j + 2] = Int(c); out[j + 3] = Int(d)
            j += 4
        }
        while j < count { out[j] = slot(first + j); j += 1 }
    }

    /// (left + F(right)) mod side, F a keyed hash of `right` into [0, side).
    @inline(__always)
    private func round(_ left: UInt64, _ right: UInt64, _ k: UInt64, _ m: UInt64) -> UInt64 {
        let f = ((right ^ k) &* m).multipliedFullWidth(by: side).high
        let sum = left &+ f
        return sum >= side ? sum &- side : sum
    }

    @inline(__always)
    private func permute(_ x: UInt64) -> UInt64 {
        var left = x / side, right = x &- left &* side
        (left, right) = (right, round(left, right, k0, m0))
        (left, right) = (right, round(left, right, k1, m1))
        (left, right) = (right, round(left, right, k2, m2))
        (left, right) = (right, round(left, right, k3, m3))
        return left &* side &+ right
    }
}
