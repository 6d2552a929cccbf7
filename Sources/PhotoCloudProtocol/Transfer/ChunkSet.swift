/// Which chunks of a transfer have arrived: one bit a chunk (a 256 MiB object
/// in 1,000-byte chunks is 32 KiB of bits, not 268 million `Bool`s), with the
/// scans an acknowledgement needs done a 64-bit word at a time, so that their
/// cost is bounded by the object's size in words, whatever the arrival order.
struct ChunkSet: Sendable {
    private var words: [UInt64]
    let count: Int

    init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    subscript(index: Int) -> Bool {
        words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    /// Marks `index`; false if it was marked already.
    mutating func insert(_ index: Int) -> Bool {
        let bit: UInt64 = 1 << UInt64(index & 63)
        guard words[index >> 6] & bit == 0 else { return false }
        words[index >> 6] |= bit
        return true
    }

    /// The first unmarked index at or after `start` (`count` if none).
    func firstMissing(from start: Int) -> Int {
        var index = start
        while index < count {
            let word = ~words[index >> 6] >> UInt64(index & 63)
            if word != 0 { return min(count, index + word.trailingZeroBitCount) }
            index = (index | 63) + 1
        }
        return count
    }

    /// The highest marked index below `end` and at or above `floor`, or nil.
    func lastPresent(below end: Int, floor: Int) -> Int? {
        var index = end - 1
        while index >= floor {
            let shift = UInt64(63 - (index & 63))
            let word = words[index >> 6] << shift   // bits above `index` shifted out
            if word != 0 {
                let found = index - word.leadingZeroBitCount
                return found >= floor ? found : nil
            }
            index = (index & ~63) - 1
        }
        return nil
    }

    /// The lowest index of the run of marked indices that ends at `top` (marked), not below `floor`.
    func runStart(endingAt top: Int, floor: Int) -> Int {
        var index = top
        while index > floor {
            let below = index - 1
            let shift = UInt64(63 - (below & 63))
            let word = ~words[below >> 6] << shift   // unmarked bits at or below `below`, at the top
            if word != 0 { return max(floor, below - word.leadingZeroBitCount + 1) }
            index = below & ~63
        }
        return floor
    }
}
