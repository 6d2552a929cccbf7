/// A PNG's IHDR chunk, checked: the image's size and how its samples are
/// stored, and from those the bytes its zlib stream must inflate to.
struct PNGHeader: Sendable, Equatable {
    let width: Int
    let height: Int
    let bitDepth: Int
    /// 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA.
    let colorType: Int
    let interlaced: Bool

    /// Parses the 13 bytes of IHDR's data; refuses what the PNG specification does not allow.
    init(_ data: ArraySlice<UInt8>, name: String?) throws(PNGError) {
        let what = PNGError.prefix(name)
        guard data.count == 13 else { throw PNGError(.corrupt, "\(what)IHDR has \(data.count) bytes, not 13: a damaged PNG") }
        let bytes = Array(data)
        let width = Int(bytes.bigEndian32(at: 0)), height = Int(bytes.bigEndian32(at: 4))
        guard (1...0x7FFF_FFFF).contains(width), (1...0x7FFF_FFFF).contains(height) else {
            throw PNGError(.corrupt, "\(what)the header claims \(width)x\(height) pixels, which PNG does not allow")
        }
        let depth = Int(bytes[8]), color = Int(bytes[9])
        let depths: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
        guard let allowed = depths[color], allowed.contains(depth) else {
            throw PNGError(.corrupt, "\(what)colour type \(color) with bit depth \(depth) is not a valid PNG combination")
        }
        guard bytes[10] == 0, bytes[11] == 0, bytes[12] <= 1 else {
            throw PNGError(.corrupt, "\(what)unknown compression, filter or interlace method in the header")
        }
        self.width = width
        self.height = height
        self.bitDepth = depth
        self.colorType = color
        self.interlaced = bytes[12] == 1
    }

    var channels: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 4 }
    var bitsPerPixel: Int { channels * bitDepth }

    /// The bytes the image data inflates to: each row (of each Adam7 pass) is
    /// a filter byte and its packed samples.
    var inflatedBytes: Int {
        let passes = interlaced ? Self.adam7 : [Self.Pass(x: 0, y: 0, dx: 1, dy: 1)]
        var total = 0
        for pass in passes {
            let columns = pass.count(width, start: pass.x, step: pass.dx)
            let rows = pass.count(height, start: pass.y, step: pass.dy)
            guard columns > 0, rows > 0 else { continue }
            total += rows * (1 + (columns * bitsPerPixel + 7) / 8)
        }
        return total
    }

    /// Where an Adam7 pass's pixels lie: from (x, y), every dx-th column of every dy-th row.
    struct Pass: Sendable, Equatable {
        let x, y, dx, dy: Int
        func count(_ size: Int, start: Int, step: Int) -> Int { size > start ? (size - start + step - 1) / step : 0 }
    }

    static let adam7 = [Pass(x: 0, y: 0, dx: 8, dy: 8), Pass(x: 4, y: 0, dx: 8, dy: 8), Pass(x: 0, y: 4, dx: 4, dy: 8),
                        Pass(x: 2, y: 0, dx: 4, dy: 4), Pass(x: 0, y: 2, dx: 2, dy: 4), Pass(x: 1, y: 0, dx: 2, dy: 2),
                        Pass(x: 0, y: 1, dx: 1, dy: 2)]
}

extension Array where Element == UInt8 {
    func bigEndian32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
}
