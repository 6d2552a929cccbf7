/// Where a payload of a given size will go in a cover of a given size: the
/// byte offsets of its slots in the key's order. Making it needs no pixels, so
/// it can be made on one core while the cover is decoded on the other; the
/// embedding itself is then a pass over the planned offsets.
public struct EmbeddingPlan: Sendable {
    public let width: Int
    public let height: Int
    public let payloadBytes: Int
    public let bitsPerChannel: Int
    let key: StegoKey
    let writer: SlotBits
    let headerOffsets: [UInt32]
    let bodyOffsets: [UInt32]

    /// Plans `payloadBytes` in a width x height cover; fails if it does not fit.
    /// `threads` bounds the threads the plan and the embedding use (the image
    /// is the same whatever it is): one where requests already run side by
    /// side on every core.
    public init(payloadBytes: Int, width: Int, height: Int, key: StegoKey, bitsPerChannel: Int = 1,
                threads: Int = ProcessorCount.online) throws(StegoError) {
        guard Steganographer.bitsRange.contains(bitsPerChannel) else {
            throw StegoError(.invalidArgument, "bits per channel must be 1, 2 or 3, not \(bitsPerChannel)")
        }
        guard width > 0, height > 0, width.multipliedReportingOverflow(by: height * 4).partialValue <= Int(UInt32.max),
              width * height * 4 <= Int(UInt32.max) else {
            throw StegoError(.invalidArgument, "a \(width)x\(height) cover is too large for the engine")
        }
        // (Even an empty payload needs room for the header, nonce and tag.)
        guard payloadBytes >= 0,
              Steganographer.pixelsNeeded(payloadBytes: payloadBytes, bitsPerChannel: bitsPerChannel) <= width * height else {
            let available = Steganographer.capacity(width: width, height: height, bitsPerChannel: bitsPerChannel)
            let needed = Steganographer.pixelsNeeded(payloadBytes: payloadBytes, bitsPerChannel: bitsPerChannel)
            throw StegoError(.coverTooSmall, """
                the payload is \(payloadBytes) bytes but a \(width)x\(height) cover holds at most \(available) \
                at \(bitsPerChannel) bit\(bitsPerChannel == 1 ? "" : "s") per channel; it needs a cover of at least \
                \(needed) pixels (\(Steganographer.suggestedSize(pixels: needed, width: width, height: height))), or more bits per channel
                """)
        }
        self.width = width
        self.height = height
        self.payloadBytes = payloadBytes
        self.bitsPerChannel = bitsPerChannel
        self.key = key
        writer = SlotBits(permutation: SlotPermutation(count: Steganographer.slots(width: width, height: height), keys: key.orderKeys),
                          threads: threads)
        let bodySlots = SlotBits.slots(forBytes: payloadBytes + PayloadFormat.overhead, bitsPerSlot: bitsPerChannel)
        headerOffsets = writer.offsets(0..<PayloadFormat.headerSlots)
        bodyOffsets = writer.offsets(PayloadFormat.headerSlots..<PayloadFormat.headerSlots + bodySlots)
    }
}
