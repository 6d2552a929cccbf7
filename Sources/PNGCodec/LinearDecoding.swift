import CPNG
#if canImport(Glibc)
import Glibc
#endif

/// Reads an image as libpng's 16-bit linear, premultiplied RGBA and converts
/// it to 8-bit sRGB RGBA: the path around libpng's bug with interlaced 16-bit
/// images (see `PNGCodec.isInterlaced16Bit`). Values match the direct path to
/// within one step, except the colour of pixels less than a quarter opaque, which
/// premultiplication keeps only coarsely.
enum LinearDecoding {
    static func finish(_ image: inout png_image, name: String?) throws(PNGError) -> RGBAImage {
        image.format = cpng_format_linear_rgba
        let width = Int(image.width), height = Int(image.height)
        let count = width * height * 4
        var linear = [UInt16](repeating: 0, count: count)
        let failed = linear.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) == 0 }
        guard !failed else { throw PNGCodec.failure(&image, reading: true, name: name) }
        let table = sRGBTable
        var pixels = [UInt8](repeating: 0, count: count)
        for base in stride(from: 0, to: count, by: 4) {
            let alpha = UInt32(linear[base + 3])
            pixels[base + 3] = UInt8((alpha * 255 + 32_767) / 65_535)
            guard alpha > 0 else { continue }
            for channel in 0..<3 {
                let straight = min(65_535, (UInt32(linear[base + channel]) * 65_535 + alpha / 2) / alpha)
                pixels[base + channel] = table[Int(straight)]
            }
        }
        return try RGBAImage(width: width, height: height, pixels: pixels)
    }

    /// 16-bit linear light to 8-bit sRGB.
    static let sRGBTable: [UInt8] = (0...65_535).map { value in
        let linear = Double(value) / 65_535
        let encoded = pow(linear, 1 / 2.2)
        return UInt8((encoded * 255).rounded())
    }
}
