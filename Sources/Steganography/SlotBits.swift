/// Writes and reads bits in the low bits of colour channels at slots taken in
/// permutation order. A slot is one colour channel of one pixel (R, G or B;
/// alpha is never touched): slot s is byte (s / 3) * 4 + s % 3 of the RGBA buffer.
///
/// Writing is LSB matching: a channel whose low bits differ from the bits to
/// hide moves to the nearest value that carries them (for 1 bit: +1 or -1 at
/// random), instead of overwriting them, which leaves no pairs-of-values
/// signature for steganalysis.
struct SlotBits {
    let permutation: SlotPermutation

    @inline(__always)
    static func byteOffset(ofSlot slot: Int) -> Int { slot / 3 &* 4 &+ slot % 3 }

    /// Hides `bytes` (MSB first, `bitsPerSlot` at a time) in the slots at
    /// positions start, start+1, ... of the order; returns the next position.
    func write(_ bytes: [UInt8], into pixels: UnsafeMutableBufferPointer<UInt8>, from start: Int, bitsPerSlot: Int, coins: inout CoinFlips) -> Int {
        let slotMask = UInt64(1) << UInt64(bitsPerSlot) - 1
        var position = start
        var accumulator: UInt64 = 0
        var available = 0
        var index = 0
        let totalBits = bytes.count * 8
        var written = 0
        while written < totalBits {
            if available < bitsPerSlot {
                let next = index < bytes.count ? UInt64(bytes[index]) : 0
                index += 1
                accumulator = accumulator << 8 | next
                available += 8
            }
            available -= bitsPerSlot
            let value = UInt8(truncatingIfNeeded: (accumulator >> UInt64(available)) & slotMask)
            let offset = Self.byteOffset(ofSlot: permutation.slot(position))
            pixels[offset] = Self.matched(pixels[offset], carrying: value, bits: bitsPerSlot, coins: &coins)
            position += 1
            written += bitsPerSlot
        }
        return position
    }

    /// Reads `count` bytes from the slots at positions start, start+1, ...
    func read(_ count: Int, from pixels: UnsafeBufferPointer<UInt8>, from start: Int, bitsPerSlot: Int) -> [UInt8] {
        let slotMask = UInt8(1 << bitsPerSlot - 1)
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        var accumulator: UInt64 = 0
        var available = 0
        var position = start
        while bytes.count < count {
            while available < 8 {
                let offset = Self.byteOffset(ofSlot: permutation.slot(position))
                accumulator = accumulator << UInt64(bitsPerSlot) | UInt64(pixels[offset] & slotMask)
                available += bitsPerSlot
                position += 1
            }
            available -= 8
            bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt64(available)))
        }
        return bytes
    }

    /// Slots needed for `count` bytes at `bitsPerSlot`.
    static func slots(forBytes count: Int, bitsPerSlot: Int) -> Int {
        (count * 8 + bitsPerSlot - 1) / bitsPerSlot
    }

    /// The value nearest `value` whose low `bits` bits equal `target`; ties broken by a coin.
    /// The candidate in `value`'s own aligned block is always in 0...255; the
    /// one a step beyond it, on the side of `value`, may be nearer.
    @inline(__always)
    static func matched(_ value: UInt8, carrying target: UInt8, bits: Int, coins: inout CoinFlips) -> UInt8 {
        let step = 1 << bits
        let x = Int(value)
        let low = x & (step - 1)
        if low == Int(target) { return value }
        let base = x - low + Int(target)
        let offset = base - x                     // in (-step, step), not 0
        let distance = abs(offset)
        let other = offset > 0 ? base - step : base + step
        let otherDistance = step - distance
        guard other >= 0 && other <= 255 else { return UInt8(base) }
        if otherDistance < distance { return UInt8(other) }
        if otherDistance == distance && coins.next() { return UInt8(other) }
        return UInt8(base)
    }
}

/// Fair coin flips for LSB matching, from a generator seeded per embedding.
struct CoinFlips {
    private var state: UInt64
    private var bits: UInt64 = 0
    private var left = 0

    init(seed: UInt64) { state = seed | 1 }

    @inline(__always)
    mutating func next() -> Bool {
        if left == 0 {
            // xorshift64*
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            bits = state &* 0x2545_F491_4F6C_DD1D
            left = 64
        }
        left -= 1
        defer { bits >>= 1 }
        return bits & 1 == 1
    }
}
