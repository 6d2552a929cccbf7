import PNGCodec
import Steganography

/// The steganography engine on PNG files and bytes: decode the cover, hide or
/// recover the payload, encode the result. Used by `photocloud stego` and by
/// the servers' encryption service.
public struct StegoPNG: Sendable {
    public var codec: PNGCodec

    public init(codec: PNGCodec = PNGCodec()) { self.codec = codec }

    /// Hides `payload` in `cover`; returns the stego PNG, the cover's width and
    /// height, RGB when the cover is opaque (smaller), RGBA otherwise.
    public func embed(_ payload: [UInt8], in cover: RGBAImage, key: StegoKey, bitsPerChannel: Int = 1) throws -> [UInt8] {
        var pixels = cover.pixels
        try Steganographer.embed(payload, into: &pixels, width: cover.width, height: cover.height, key: key, bitsPerChannel: bitsPerChannel)
        return try codec.encode(RGBAImage(width: cover.width, height: cover.height, pixels: pixels))
    }

    /// Recovers the payload hidden in a stego PNG.
    public func extract(from png: [UInt8], key: StegoKey) throws -> [UInt8] {
        let image = try codec.decode(png)
        return try Steganographer.extract(from: image.pixels, width: image.width, height: image.height, key: key)
    }

    /// Recovers the payload hidden in a stego PNG file.
    public func extract(file path: String, key: StegoKey) throws -> [UInt8] {
        let image = try codec.decode(file: path)
        return try Steganographer.extract(from: image.pixels, width: image.width, height: image.height, key: key)
    }
}
