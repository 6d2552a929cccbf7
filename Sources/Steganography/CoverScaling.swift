/// Resampling covers to fit a payload: bilinear interpolation on RGBA8
/// (alpha resampled like the colours). Servers scale a cover to the size a
/// payload needs, up or down.
public enum CoverScaling {
    /// The smallest size of a `width` x `height` cover's shape whose capacity
    /// is at least `payloadBytes`: its width a multiple of `widthStep` (or the
    /// cover's own width, when the step would overshoot it by less than a
    /// step), no side under `minimumSide`.
    public static func smallestSize(payloadBytes: Int, width: Int, height: Int, bitsPerChannel: Int = 1,
                                    widthStep: Int = 1, minimumSide: Int = 1) -> (width: Int, height: Int) {
        let needed = Steganographer.pixelsNeeded(payloadBytes: payloadBytes, bitsPerChannel: bitsPerChannel)
        let scale = (Double(needed) / Double(width * height)).squareRoot()
        func heightFor(_ w: Int) -> Int { max(minimumSide, Int((Double(height) * Double(w) / Double(width)).rounded(.up))) }
        var w = max(minimumSide, Int((Double(width) * scale).rounded(.up)))
        w = (w + widthStep - 1) / widthStep * widthStep
        while Steganographer.capacity(width: w, height: heightFor(w), bitsPerChannel: bitsPerChannel) < payloadBytes { w += widthStep }
        if w > width, w - width < widthStep, Steganographer.capacity(width: width, height: height, bitsPerChannel: bitsPerChannel) >= payloadBytes {
            return (width, height)
        }
        return (w, heightFor(w))
    }

    /// `pixels` (width x height RGBA8) resampled to newWidth x newHeight, bilinearly.
    public static func resize(_ pixels: [UInt8], width: Int, height: Int, to newWidth: Int, _ newHeight: Int) throws(StegoError) -> [UInt8] {
        guard width > 0, height > 0, pixels.count == width * height * 4 else {
            throw StegoError(.invalidArgument, "an RGBA buffer of \(width)x\(height) needs \(max(0, width * height * 4)) bytes, got \(pixels.count)")
        }
        guard newWidth > 0, newHeight > 0, newWidth <= 1 << 16, newHeight <= 1 << 16 else {
            throw StegoError(.invalidArgument, "cannot resize to \(newWidth)x\(newHeight)")
        }
        var output = [UInt8](repeating: 0, count: newWidth * newHeight * 4)
        // Source coordinate of each destination column, in 16.16 fixed point (pixel centres aligned).
        let columns = (0..<newWidth).map { x in sourcePosition(x, from: newWidth, to: width) }
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                for y in 0..<newHeight {
                    let (y0, y1, fy) = sourcePosition(y, from: newHeight, to: height)
                    let row0 = y0 * width * 4, row1 = y1 * width * 4
                    var out = y * newWidth * 4
                    for (x0, x1, fx) in columns {
                        let a = row0 + x0 * 4, b = row0 + x1 * 4, c = row1 + x0 * 4, d = row1 + x1 * 4
                        for channel in 0..<4 {
                            let top = Int(source[a + channel]) * (65_536 - fx) + Int(source[b + channel]) * fx
                            let bottom = Int(source[c + channel]) * (65_536 - fx) + Int(source[d + channel]) * fx
                            let value = (top >> 8) * (65_536 - fy) + (bottom >> 8) * fy
                            destination[out + channel] = UInt8(clamping: (value + (1 << 23)) >> 24)
                        }
                        out += 4
                    }
                }
            }
        }
        return output
    }

    /// The two source samples around destination index `index` and the weight of the second (0...65536).
    private static func sourcePosition(_ index: Int, from destinationSize: Int, to sourceSize: Int) -> (Int, Int, Int) {
        let position = max(0, (Double(index) + 0.5) * Double(sourceSize) / Double(destinationSize) - 0.5)
        let first = min(Int(position), sourceSize - 1)
        let second = min(first + 1, sourceSize - 1)
        return (first, second, Int((position - Double(first)) * 65_536))
    }
}
