import PNGCodec
import Steganography

/// The steganography engine on PNG files and bytes: decode the cover, hide or
/// recover the payload, encode the result. Used by `photocloud stego` and by
/// the servers' encryption service.
///
/// Embedding plans the payload's positions (which needs only the cover's size,
/// read from its header) on one core while the cover decodes on another.
public struct StegoPNG: Sendable {
    public var codec: PNGCodec
    /// Threads one embedding or extraction may use. One where requests already
    /// run side by side on every core (a server's workers, a client checking
    /// answers): splitting a small image's random writes over two cores only
    /// bounces its cache lines between them.
    public var threads: Int

    /// The default encoder deflates with the run-length strategy: the hidden
    /// bits make a stego image's low bits noise, which the standard strategy's
    /// match search spends its time on for nothing (docs/steganography.md).
    /// An image that is compressed as one part goes through libdeflate, about
    /// twice as fast again.
    public init(codec: PNGCodec = PNGCodec(encoder: PNGEncoder(strategy: .rle, compressor: .libdeflate)), threads: Int = ProcessorCount.online) {
        self.codec = codec
        self.threads = threads
    }

    /// Hides `payload` in the cover PNG `cover`; returns the stego PNG (the
    /// cover's width and height; RGB when the cover is opaque, else RGBA).
    public func embed(_ payload: [UInt8], coverPNG cover: [UInt8], key: StegoKey, bitsPerChannel: Int = 1) async throws -> [UInt8] {
        let size = try codec.dimensions(of: cover)
        let codec = self.codec
        return try await embed(payload, size: size, key: key, bitsPerChannel: bitsPerChannel) { try codec.decode(cover) }
    }

    /// Hides `payload` in the cover PNG file at `path`.
    public func embed(_ payload: [UInt8], coverFile path: String, key: StegoKey, bitsPerChannel: Int = 1) async throws -> [UInt8] {
        let size = try codec.dimensions(ofFile: path)
        let codec = self.codec
        return try await embed(payload, size: size, key: key, bitsPerChannel: bitsPerChannel) { try codec.decode(file: path) }
    }

    /// Hides `payload` in an already decoded cover; with a `nonce` the result is reproducible.
    public func embed(_ payload: [UInt8], in cover: RGBAImage, key: StegoKey, bitsPerChannel: Int = 1, nonce: [UInt8]? = nil) throws -> [UInt8] {
        var image = cover
        try Steganographer.embed(payload, into: &image.pixels, width: image.width, height: image.height, key: key,
                                 bitsPerChannel: bitsPerChannel, nonce: nonce, threads: threads)
        return try codec.encode(image)
    }

    private func embed(
        _ payload: [UInt8], size: (width: Int, height: Int), key: StegoKey, bitsPerChannel: Int,
        decode: @Sendable () throws -> RGBAImage
    ) async throws -> [UInt8] {
        async let plan = EmbeddingPlan(payloadBytes: payload.count, width: size.width, height: size.height, key: key, bitsPerChannel: bitsPerChannel,
                                       threads: threads)
        var image = try decode()
        try Steganographer.embed(payload, into: &image.pixels, plan: try await plan)
        return try codec.encode(image)
    }

    /// Recovers the payload hidden in a stego PNG.
    public func extract(from png: [UInt8], key: StegoKey) throws -> [UInt8] {
        let image = try codec.decode(png)
        return try Steganographer.extract(from: image.pixels, width: image.width, height: image.height, key: key, threads: threads)
    }

    /// Recovers the payload hidden in a stego PNG file.
    public func extract(file path: String, key: StegoKey) throws -> [UInt8] {
        let image = try codec.decode(file: path)
        return try Steganographer.extract(from: image.pixels, width: image.width, height: image.height, key: key, threads: threads)
    }
}
