/// Hides a payload in an RGBA8 pixel buffer and recovers it (docs/steganography.md).
///
/// Pure: no I/O. The buffer is width x height x 4 bytes; alpha is never changed.
public enum Steganographer {
    public static let bitsRange = 1...3
    /// Bytes of the nonce `embed` may be given.
    public static let nonceBytes = PayloadFormat.nonceSize

    /// Colour slots of an image: three per pixel.
    public static func slots(width: Int, height: Int) -> Int { width * height * 3 }

    /// The largest payload, in bytes, that fits a width x height cover.
    public static func capacity(width: Int, height: Int, bitsPerChannel: Int = 1) -> Int {
        capacity(slots: slots(width: width, height: height), bitsPerChannel: bitsPerChannel)
    }

    static func capacity(slots: Int, bitsPerChannel: Int) -> Int {
        let bodySlots = slots - PayloadFormat.headerSlots
        guard bodySlots > 0 else { return 0 }
        return max(0, bodySlots * bitsPerChannel / 8 - PayloadFormat.overhead)
    }

    /// The fewest pixels a cover needs to carry `payloadBytes`.
    public static func pixelsNeeded(payloadBytes: Int, bitsPerChannel: Int = 1) -> Int {
        let bodySlots = SlotBits.slots(forBytes: payloadBytes + PayloadFormat.overhead, bitsPerSlot: bitsPerChannel)
        return (PayloadFormat.headerSlots + bodySlots + 2) / 3
    }

    /// Hides `payload` in `pixels`, spread over the whole image in the key's order.
    public static func embed(
        _ payload: [UInt8], into pixels: inout [UInt8], width: Int, height: Int,
        key: StegoKey, bitsPerChannel: Int = 1, nonce: [UInt8]? = nil, threads: Int = ProcessorCount.online
    ) throws(StegoError) {
        try checkBuffer(pixels, width: width, height: height)
        let plan = try EmbeddingPlan(payloadBytes: payload.count, width: width, height: height, key: key, bitsPerChannel: bitsPerChannel,
                                     threads: threads)
        try embed(payload, into: &pixels, plan: plan, nonce: nonce)
    }

    /// Hides `payload` at the positions of a plan made for its size and the cover's.
    ///
    /// With a `nonce` (12 bytes, never reused with this key for another payload)
    /// the same cover, payload and key always give the same image: the cloud's
    /// servers derive it from the request, so a retried request, served again
    /// by any server, gets the identical answer. Without one it is random.
    public static func embed(_ payload: [UInt8], into pixels: inout [UInt8], plan: EmbeddingPlan, nonce: [UInt8]? = nil) throws(StegoError) {
        if let nonce, nonce.count != PayloadFormat.nonceSize {
            throw StegoError(.invalidArgument, "a stego nonce has \(PayloadFormat.nonceSize) bytes, got \(nonce.count)")
        }
        try checkBuffer(pixels, width: plan.width, height: plan.height)
        guard payload.count == plan.payloadBytes else {
            throw StegoError(.invalidArgument, "the plan is for \(plan.payloadBytes) bytes, the payload has \(payload.count)")
        }
        let header = PayloadFormat.header(bits: plan.bitsPerChannel, bodyLength: payload.count + PayloadFormat.overhead)
        let body = try PayloadFormat.seal(payload, header: header, key: plan.key.sealKey, nonce: nonce)
        // The ±1 choices need only be unpredictable to an observer: seed them from the sealed body.
        let seed = body.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
        let writer = plan.writer
        pixels.withUnsafeMutableBufferPointer { buffer in
            writer.write(PayloadFormat.masked(header, with: plan.key.headerMask), into: buffer, at: plan.headerOffsets, bitsPerSlot: 1, seed: seed)
            writer.write(body, into: buffer, at: plan.bodyOffsets, bitsPerSlot: plan.bitsPerChannel, seed: ~seed)
        }
    }

    /// Recovers the payload hidden with `key`, on at most `threads` threads.
    public static func extract(from pixels: [UInt8], width: Int, height: Int, key: StegoKey,
                               threads: Int = ProcessorCount.online) throws(StegoError) -> [UInt8] {
        try checkBuffer(pixels, width: width, height: height)
        let totalSlots = slots(width: width, height: height)
        let noPayload = StegoError(.noPayload, "no hidden payload found with this key: the key is wrong, or the image carries none")
        guard totalSlots >= PayloadFormat.headerSlots else { throw noPayload }
        let reader = SlotBits(permutation: SlotPermutation(count: totalSlots, keys: key.orderKeys), threads: threads)
        return try pixels.withUnsafeBufferPointer { buffer throws(StegoError) in
            let masked = reader.read(PayloadFormat.headerSize, from: buffer, from: 0, bitsPerSlot: 1)
            let header = PayloadFormat.masked(masked, with: key.headerMask)
            guard let (bits, bodyLength) = PayloadFormat.parse(header: header) else { throw noPayload }
            guard bodyLength - PayloadFormat.overhead <= capacity(slots: totalSlots, bitsPerChannel: bits) else {
                throw StegoError(.damaged, "the hidden payload's header is damaged (it claims more than the image can hold)")
            }
            let body = reader.read(bodyLength, from: buffer, from: PayloadFormat.headerSlots, bitsPerSlot: bits)
            return try PayloadFormat.open(body, header: header, key: key.sealKey)
        }
    }

    private static func checkBuffer(_ pixels: [UInt8], width: Int, height: Int) throws(StegoError) {
        guard width > 0, height > 0, pixels.count == width * height * 4 else {
            throw StegoError(.invalidArgument, "an RGBA buffer of \(width)x\(height) needs \(max(0, width * height * 4)) bytes, got \(pixels.count)")
        }
    }

    /// A width x height with the cover's aspect ratio and at least `pixels` pixels.
    static func suggestedSize(pixels: Int, width: Int, height: Int) -> String {
        let scale = (Double(pixels) / Double(width * height)).squareRoot()
        var w = Int((Double(width) * scale).rounded(.up)), h = Int((Double(height) * scale).rounded(.up))
        while w * h < pixels { w += 1; h = max(h, Int((Double(height) * Double(w) / Double(width)).rounded(.up))) }
        return "for example \(w)x\(h)"
    }
}
