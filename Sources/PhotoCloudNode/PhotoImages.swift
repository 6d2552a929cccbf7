import PNGCodec
import PhotoCloudProtocol

/// Photos as files: which are photos, and their previews.
enum PhotoImages {
    static let previewSide = 256

    /// A PNG preview of `file` whose longest side is at most 256 pixels.
    static func previewPNG(of file: [UInt8]) throws -> [UInt8] {
        let codec = PNGCodec()
        let image = try codec.decode(file)
        let scale = max(1, (max(image.width, image.height) + previewSide - 1) / previewSide)
        let width = max(1, image.width / scale), height = max(1, image.height / scale)
        var small = try RGBAImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let from = ((y * scale) * image.width + x * scale) * 4, to = (y * width + x) * 4
                for c in 0..<4 { small.pixels[to + c] = image.pixels[from + c] }
            }
        }
        return try codec.encode(small)
    }
}
