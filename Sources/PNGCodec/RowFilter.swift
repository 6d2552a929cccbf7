/// PNG's per-row filters (PNG spec section 9), and how to choose among them.
public enum RowFilter: String, Sendable, CaseIterable, CustomStringConvertible {
    case none, sub, up, average, paeth
    /// Per row, the filter whose output has the smallest sum of absolute
    /// (signed) bytes: libpng's heuristic. Slowest, usually smallest.
    case adaptive

    public var description: String { rawValue }

    var typeByte: UInt8 {
        switch self {
        case .none: return 0
        case .sub: return 1
        case .up: return 2
        case .average: return 3
        case .paeth, .adaptive: return 4
        }
    }

    /// Filters one row: `out` receives the type byte then `count` filtered bytes.
    /// `previous` is the unfiltered row above (nil for the first row).
    static func filter(
        _ filter: RowFilter, row: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>?,
        count: Int, bytesPerPixel bpp: Int, out: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<UInt8>
    ) {
        guard filter == .adaptive else {
            out[0] = filter.typeByte
            apply(filter, row: row, previous: previous, count: count, bpp: bpp, out: out + 1)
            return
        }
        var best = RowFilter.none
        var bestScore = Int.max
        for candidate in [RowFilter.none, .sub, .up, .average, .paeth] {
            apply(candidate, row: row, previous: previous, count: count, bpp: bpp, out: scratch)
            var score = 0
            for index in 0..<count {
                let value = Int(Int8(bitPattern: scratch[index]))
                score &+= value < 0 ? -value : value
                if score >= bestScore { break }
            }
            if score < bestScore {
                bestScore = score
                best = candidate
                (out + 1).update(from: scratch, count: count)
            }
        }
        out[0] = best.typeByte
    }

    @inline(__always)
    private static func apply(
        _ filter: RowFilter, row: UnsafePointer<UInt8>, previous: UnsafePointer<UInt8>?,
        count: Int, bpp: Int, out: UnsafeMutablePointer<UInt8>
    ) {
        switch filter {
        case .none, .adaptive:
            out.update(from: row, count: count)
        case .sub:
            for i in 0..<min(bpp, count) { out[i] = row[i] }
            var i = bpp
            while i < count { out[i] = row[i] &- row[i - bpp]; i += 1 }
        case .up:
            guard let previous else { out.update(from: row, count: count); return }
            for i in 0..<count { out[i] = row[i] &- previous[i] }
        case .average:
            for i in 0..<count {
                let left = i >= bpp ? Int(row[i - bpp]) : 0
                let up = previous.map { Int($0[i]) } ?? 0
                out[i] = row[i] &- UInt8((left + up) >> 1)
            }
        case .paeth:
            guard let previous else {
                // With no row above, Paeth predicts from the left: the same as Sub.
                apply(.sub, row: row, previous: nil, count: count, bpp: bpp, out: out)
                return
            }
            for i in 0..<min(bpp, count) { out[i] = row[i] &- previous[i] }
            var i = bpp
            while i < count {
                let a = Int(row[i - bpp]), b = Int(previous[i]), c = Int(previous[i - bpp])
                let p = a + b - c
                let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                let predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                out[i] = row[i] &- UInt8(predictor)
                i += 1
            }
        }
    }
}
