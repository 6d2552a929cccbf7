extension RGBAImage {
    /// The image shrunk to `width` x `height` (each at most the image's own) by
    /// area averaging: every result pixel is the mean of the source area it
    /// covers, source pixels cut by its edges counting for the part inside.
    /// The weights are exact integers (positions are counted in 1/width and
    /// 1/height steps), so a 4x4 image halves into exact 2x2 means, and the
    /// edges are as exact as the middle. Colour is averaged weighted by alpha,
    /// so transparent pixels lend their colour to nothing; alpha is averaged
    /// plainly. Each result is rounded to the nearest value.
    public func downsized(width newWidth: Int, height newHeight: Int) throws(PNGError) -> RGBAImage {
        guard (1...width).contains(newWidth), (1...height).contains(newHeight) else {
            throw PNGError(.invalidImage, "cannot shrink \(width)x\(height) to \(newWidth)x\(newHeight): each side 1 up to the image's own")
        }
        if newWidth == width && newHeight == height { return self }
        let columns = BoxSpans(source: width, target: newWidth)
        let rows = BoxSpans(source: height, target: newHeight)
        let total = UInt64(width) * UInt64(height)   // the weight of one result pixel
        let count = newWidth * newHeight * 4
        let result = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            // Sums for one source row across, and for the result rows it falls in: this one and the next.
            var across = [UInt64](repeating: 0, count: newWidth * 4)
            var current = [UInt64](repeating: 0, count: newWidth * 4)
            var next = [UInt64](repeating: 0, count: newWidth * 4)
            var row = 0   // the result row `current` sums
            pixels.withUnsafeBufferPointer { source in
                for y in 0..<height {
                    let span = rows.spans[y]
                    while row < span.first {
                        Self.finish(current, into: output, row: row, width: newWidth, total: total)
                        swap(&current, &next)
                        for index in next.indices { next[index] = 0 }
                        row += 1
                    }
                    Self.sumAcross(source, row: y, width: width, columns: columns, into: &across)
                    Self.add(across, times: span.firstWeight, to: &current)
                    if span.secondWeight > 0 { Self.add(across, times: span.secondWeight, to: &next) }
                }
            }
            Self.finish(current, into: output, row: row, width: newWidth, total: total)
            initialized = count
        }
        return try RGBAImage(width: newWidth, height: newHeight, pixels: result)
    }

    /// One source row, weighted into the result columns: colour times alpha, and alpha.
    private static func sumAcross(_ source: UnsafeBufferPointer<UInt8>, row: Int, width: Int, columns: BoxSpans, into sums: inout [UInt64]) {
        sums.withUnsafeMutableBufferPointer { sums in
            for index in sums.indices { sums[index] = 0 }
            columns.spans.withUnsafeBufferPointer { spans in
                var offset = row * width * 4
                for x in 0..<width {
                    let alpha = UInt64(source[offset + 3])
                    let red = UInt64(source[offset]) * alpha, green = UInt64(source[offset + 1]) * alpha, blue = UInt64(source[offset + 2]) * alpha
                    let span = spans[x]
                    var at = span.first * 4
                    var weight = span.firstWeight
                    sums[at] += red * weight
                    sums[at + 1] += green * weight
                    sums[at + 2] += blue * weight
                    sums[at + 3] += alpha * weight
                    weight = span.secondWeight
                    if weight > 0 {
                        at += 4
                        sums[at] += red * weight
                        sums[at + 1] += green * weight
                        sums[at + 2] += blue * weight
                        sums[at + 3] += alpha * weight
                    }
                    offset += 4
                }
            }
        }
    }

    private static func add(_ sums: [UInt64], times weight: UInt64, to target: inout [UInt64]) {
        sums.withUnsafeBufferPointer { sums in
            target.withUnsafeMutableBufferPointer { target in
                for index in sums.indices { target[index] += sums[index] * weight }
            }
        }
    }

    /// A finished result row: alpha is the mean alpha, colour the alpha-weighted mean.
    private static func finish(_ sums: [UInt64], into output: UnsafeMutableBufferPointer<UInt8>, row: Int, width: Int, total: UInt64) {
        sums.withUnsafeBufferPointer { sums in
            var at = 0
            var out = row * width * 4
            for _ in 0..<width {
                let alphaSum = sums[at + 3]
                for channel in 0..<3 {
                    output[out + channel] = alphaSum == 0 ? 0 : UInt8((sums[at + channel] + alphaSum / 2) / alphaSum)
                }
                output[out + 3] = UInt8((alphaSum + total / 2) / total)
                at += 4
                out += 4
            }
        }
    }
}

/// Where each source pixel of one axis falls when `source` pixels shrink to
/// `target`: measured in 1/`target` of a source pixel, source pixel i covers
/// [i x target, (i + 1) x target) and result pixel j covers [j x source,
/// (j + 1) x source), so the overlaps are whole numbers and each result pixel's
/// weights add up to `source`. A source pixel, no wider than a result pixel,
/// overlaps at most two.
struct BoxSpans {
    struct Span {
        /// The first result pixel the source pixel overlaps, and by how much.
        let first: Int
        let firstWeight: UInt64
        /// What overlaps the next result pixel (0 when it lies wholly in the first).
        let secondWeight: UInt64
    }

    let spans: [Span]

    init(source: Int, target: Int) {
        precondition(target >= 1 && target <= source, "BoxSpans shrinks only")
        spans = (0..<source).map { index in
            let start = index * target, end = start + target
            let first = start / source
            let boundary = (first + 1) * source
            return end <= boundary
                ? Span(first: first, firstWeight: UInt64(target), secondWeight: 0)
                : Span(first: first, firstWeight: UInt64(boundary - start), secondWeight: UInt64(end - boundary))
        }
    }
}
