import CPNG

/// libpng's simplified reader run directly on trusted test bytes: the decoder
/// PNGCodec used before its chunk walk and full-API reader, kept as the
/// reference its 8-bit output must match exactly.
public enum LibpngReference {
    /// RGBA8 pixels, or nil when libpng refuses the bytes.
    public static func decode(_ png: [UInt8]) -> [UInt8]? {
        var image = png_image()
        image.version = cpng_image_version
        defer { png_image_free(&image) }
        let began = png.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard began != 0 else { return nil }
        image.format = cpng_format_rgba
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * 4)
        let finished = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        return finished != 0 ? pixels : nil
    }
}
