/// An image as 8-bit RGBA pixels, row by row, 4 bytes a pixel, no padding.
public struct RGBAImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// An image over `pixels`; the count must be width x height x 4.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(PNGError) {
        guard width > 0, height > 0 else {
            throw PNGError(.invalidImage, "an image needs a positive width and height (got \(width)x\(height))")
        }
        let (count, overflow) = width.multipliedReportingOverflow(by: height * 4)
        guard !overflow, pixels.count == count else {
            throw PNGError(.invalidImage, "\(width)x\(height) RGBA needs \(width)x\(height)x4 bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A blank (transparent black) image.
    public init(width: Int, height: Int) throws(PNGError) {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw PNGError(.invalidImage, "an image needs a positive width and height (got \(width)x\(height))")
        }
        try self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 4))
    }

    public var pixelCount: Int { width * height }

    /// Every alpha is 255.
    public var isOpaque: Bool {
        pixels.withUnsafeBufferPointer { buffer in
            var index = 3
            while index < buffer.count {
                if buffer[index] != 255 { return false }
                index += 4
            }
            return true
        }
    }

    /// The pixels without alpha, 3 bytes each.
    public func rgbPixels() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { out, initialized in
            pixels.withUnsafeBufferPointer { source in
                for pixel in 0..<pixelCount {
                    out[pixel * 3] = source[pixel * 4]
                    out[pixel * 3 + 1] = source[pixel * 4 + 1]
                    out[pixel * 3 + 2] = source[pixel * 4 + 2]
                }
            }
            initialized = pixelCount * 3
        }
    }

    /// The RGBA of the pixel at (x, y).
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
        let i = (y * width + x) * 4
        return (pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3])
    }
}
