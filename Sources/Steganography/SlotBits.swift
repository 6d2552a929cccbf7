import Dispatch

/// Writes and reads bits in the low bits of colour channels at slots taken in
/// permutation order. A slot is one colour channel of one pixel (R, G or B;
/// alpha is never touched): slot s is byte (s / 3) * 4 + s % 3 of the RGBA buffer.
///
/// Writing is LSB matching: a channel whose low bits differ from the bits to
/// hide moves to the nearest value that carries them (for 1 bit: +1 or -1 at
/// random), instead of overwriting them, which leaves no pairs-of-values
/// signature for steganalysis.
struct SlotBits: Sendable {
    let permutation: SlotPermutation
    /// Work is split over this many threads when there is enough of it.
    var threads: Int = ProcessorCount.online

    /// Positions whose byte offsets are computed before any pixel is touched:
    /// the pixel loads of a batch are then independent, and the CPU overlaps
    /// their cache and TLB misses instead of waiting for each in turn.
    static let batch = 64

    @inline(__always)
    static func byteOffset(ofSlot slot: Int) -> Int { slot / 3 &* 4 &+ slot % 3 }

    /// The byte offsets of the slots at `positions` of the order, computed in
    /// parallel: an embedding plan, which needs no pixels and so can be made
    /// while the cover is still being decoded.
    func offsets(_ positions: Range<Int>) -> [UInt32] {
        [UInt32](unsafeUninitializedCapacity: positions.count) { output, initialized in
            nonisolated(unsafe) let output = output
            forEachPart(slots: positions.count, bitsPerSlot: 1) { _, slots, _ in
                let batch = UnsafeMutablePointer<Int>.allocate(capacity: Self.batch)
                defer { batch.deallocate() }
                var slot = slots.lowerBound
                while slot < slots.upperBound {
                    let count = min(Self.batch, slots.upperBound - slot)
                    permutation.slots(from: positions.lowerBound + slot, count: count, into: batch)
                    for j in 0..<count { output[slot + j] = UInt32(truncatingIfNeeded: Self.byteOffset(ofSlot: batch[j])) }
                    slot += count
                }
            }
            initialized = positions.count
        }
    }

    /// Hides `bytes` (MSB first, `bitsPerSlot` at a time) at the planned offsets.
    func write(_ bytes: [UInt8], into pixels: UnsafeMutableBufferPointer<UInt8>, at offsets: [UInt32], bitsPerSlot: Int, seed: UInt64) {
        precondition(offsets.count == Self.slots(forBytes: bytes.count, bitsPerSlot: bitsPerSlot), "plan and payload disagree")
        bytes.withUnsafeBufferPointer { source in
            offsets.withUnsafeBufferPointer { offsets in
                nonisolated(unsafe) let source = source, pixels = pixels, offsets = offsets
                forEachPart(slots: offsets.count, bitsPerSlot: bitsPerSlot) { part, slots, firstByte in
                    var coins = CoinFlips(seed: seed &+ UInt64(part) &* 0x9E37_79B9_7F4A_7C15)
                    let slotMask = UInt64(1) << UInt64(bitsPerSlot) - 1
                    var accumulator: UInt64 = 0
                    var available = 0
                    var index = firstByte
                    for slot in slots {
                        if available < bitsPerSlot {
                            accumulator = accumulator << 8 | UInt64(index < source.count ? source[index] : 0)
                            index += 1
                            available += 8
                        }
                        available -= bitsPerSlot
                        let value = UInt8(truncatingIfNeeded: (accumulator >> UInt64(available)) & slotMask)
                        let offset = Int(offsets[slot])
                        pixels[offset] = Self.matched(pixels[offset], carrying: value, bits: bitsPerSlot, coins: &coins)
                    }
                }
            }
        }
    }

    /// Reads `count` bytes from the slots at positions start, start+1, ...
    func read(_ count: Int, from pixels: UnsafeBufferPointer<UInt8>, from start: Int, bitsPerSlot: Int) -> [UInt8] {
        let totalSlots = Self.slots(forBytes: count, bitsPerSlot: bitsPerSlot)
        return [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            nonisolated(unsafe) let output = output, pixels = pixels
            forEachPart(slots: totalSlots, bitsPerSlot: bitsPerSlot) { _, slots, firstByte in
                readPart(pixels, slots: slots, positionBase: start, bitsPerSlot: bitsPerSlot, into: output, firstByte: firstByte, byteLimit: count)
            }
            initialized = count
        }
    }

    /// Parts of a large embedding: a fixed number, whatever the machine, since
    /// each part flips its own coins (`write`): the image must not depend on
    /// the core count (a request gets the same answer from any server).
    static let parts = 8

    /// Splits `slots` slots into parts that start on whole bytes of the bit
    /// stream (8 slots carry `bitsPerSlot` bytes) and runs them in parallel
    /// (one after another with one thread).
    private func forEachPart(slots: Int, bitsPerSlot: Int, _ body: @Sendable (Int, Range<Int>, Int) -> Void) {
        let groups = (slots + 7) / 8
        let parts = slots >= 1 << 16 ? max(1, min(Self.parts, groups)) : 1
        if parts == 1 || threads <= 1 {
            for part in 0..<parts {
                let (range, firstByte) = Self.part(part, of: parts, groups: groups, slots: slots, bitsPerSlot: bitsPerSlot)
                body(part, range, firstByte)
            }
        } else {
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let (range, firstByte) = Self.part(part, of: parts, groups: groups, slots: slots, bitsPerSlot: bitsPerSlot)
                body(part, range, firstByte)
            }
        }
    }

    /// Part `part` of `parts`: its slots, and the first byte of the bit stream they carry.
    private static func part(_ part: Int, of parts: Int, groups: Int, slots: Int, bitsPerSlot: Int) -> (Range<Int>, Int) {
        let firstGroup = groups * part / parts, endGroup = groups * (part + 1) / parts
        return (firstGroup * 8..<min(endGroup * 8, slots), firstGroup * bitsPerSlot)
    }

    private func readPart(
        _ pixels: UnsafeBufferPointer<UInt8>, slots: Range<Int>, positionBase: Int, bitsPerSlot: Int,
        into output: UnsafeMutableBufferPointer<UInt8>, firstByte: Int, byteLimit: Int
    ) {
        let slotMask = UInt8(1 << bitsPerSlot - 1)
        var accumulator: UInt64 = 0
        var available = 0
        var byte = firstByte
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: Self.batch)
        defer { offsets.deallocate() }
        var slot = slots.lowerBound
        while slot < slots.upperBound {
            let count = min(Self.batch, slots.upperBound - slot)
            permutation.slots(from: positionBase + slot, count: count, into: offsets)
            for j in 0..<count { offsets[j] = Self.byteOffset(ofSlot: offsets[j]) }
            for j in 0..<count {
                accumulator = accumulator << UInt64(bitsPerSlot) | UInt64(pixels[offsets[j]] & slotMask)
                available += bitsPerSlot
                if available >= 8 {
                    available -= 8
                    if byte < byteLimit { output[byte] = UInt8(truncatingIfNeeded: accumulator >> UInt64(available)) }
                    byte += 1
                }
            }
            slot += count
        }
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
