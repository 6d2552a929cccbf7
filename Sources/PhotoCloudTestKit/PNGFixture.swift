import CPNG

/// Test images made with libpng's full (non-simplified) write API, so that the
/// decoder is tested on every colour type, bit depth and interlacing, not only
/// on what our own encoder writes. Also returns the RGBA8 the decoder should produce.
public enum PNGFixture {
    public enum ColorType: String, Sendable, CaseIterable, CustomStringConvertible {
        case gray, grayAlpha, rgb, rgba, palette, paletteAlpha
        public var description: String { rawValue }
    }

    public struct Spec: Sendable, CustomStringConvertible {
        public var width: Int
        public var height: Int
        public var colorType: ColorType
        public var bitDepth: Int
        public var interlaced: Bool
        public var seed: UInt64

        public init(width: Int, height: Int, colorType: ColorType, bitDepth: Int = 8, interlaced: Bool = false, seed: UInt64 = 1) {
            self.width = width
            self.height = height
            self.colorType = colorType
            self.bitDepth = bitDepth
            self.interlaced = interlaced
            self.seed = seed
        }

        public var description: String {
            "\(width)x\(height) \(colorType) \(bitDepth)-bit\(interlaced ? " interlaced" : "")"
        }
    }

    /// The bit depths PNG allows for each colour type.
    public static func bitDepths(for colorType: ColorType) -> [Int] {
        switch colorType {
        case .gray: return [1, 2, 4, 8, 16]
        case .palette, .paletteAlpha: return [1, 2, 4, 8]
        case .grayAlpha, .rgb, .rgba: return [8, 16]
        }
    }

    /// A PNG file's bytes and the RGBA8 pixels it holds.
    ///
    /// 16-bit samples are written as v*257 with an sRGB chunk, so the 8-bit value is v.
    public static func make(_ spec: Spec) -> (png: [UInt8], rgba: [UInt8]) {
        var random = SeededRandom(seed: spec.seed)
        let maxValue = (1 << min(spec.bitDepth, 8)) - 1
        let paletteSize = min(maxValue + 1, 256)
        let palette: [(UInt8, UInt8, UInt8, UInt8)] = (0..<paletteSize).map { _ in
            let r = UInt8.random(in: 0...255, using: &random)
            let g = UInt8.random(in: 0...255, using: &random)
            let b = UInt8.random(in: 0...255, using: &random)
            return (r, g, b, spec.colorType == .paletteAlpha ? UInt8.random(in: 0...255, using: &random) : 255)
        }
        var samples: [[Int]] = []   // per pixel, the raw sample values (8-bit range for 16-bit)
        var rgba: [UInt8] = []
        rgba.reserveCapacity(spec.width * spec.height * 4)
        for _ in 0..<(spec.width * spec.height) {
            func value() -> Int { Int.random(in: 0...maxValue, using: &random) }
            switch spec.colorType {
            case .gray:
                let v = value()
                samples.append([v])
                let v8 = UInt8(v * 255 / maxValue)
                rgba += [v8, v8, v8, 255]
            case .grayAlpha:
                let v = value(), a = value()
                samples.append([v, a])
                rgba += [UInt8(v), UInt8(v), UInt8(v), UInt8(a)]
            case .rgb:
                let r = value(), g = value(), b = value()
                samples.append([r, g, b])
                rgba += [UInt8(r), UInt8(g), UInt8(b), 255]
            case .rgba:
                let r = value(), g = value(), b = value(), a = value()
                samples.append([r, g, b, a])
                rgba += [UInt8(r), UInt8(g), UInt8(b), UInt8(a)]
            case .palette, .paletteAlpha:
                let index = Int.random(in: 0..<paletteSize, using: &random)
                samples.append([index])
                let entry = palette[index]
                rgba += [entry.0, entry.1, entry.2, entry.3]
            }
        }
        let rows = packRows(spec, samples)
        return (write(spec, rows: rows, palette: palette), rgba)
    }

    /// Packs samples into PNG row bytes (big-endian 16-bit, MSB-first sub-byte).
    private static func packRows(_ spec: Spec, _ samples: [[Int]]) -> [[UInt8]] {
        (0..<spec.height).map { y in
            var row: [UInt8] = []
            var bitBuffer = 0, bitCount = 0
            for x in 0..<spec.width {
                for sample in samples[y * spec.width + x] {
                    switch spec.bitDepth {
                    case 16:
                        row += [UInt8(sample), UInt8(sample)]    // v * 257
                    case 8:
                        row.append(UInt8(sample))
                    default:
                        bitBuffer = bitBuffer << spec.bitDepth | sample
                        bitCount += spec.bitDepth
                        if bitCount == 8 {
                            row.append(UInt8(bitBuffer))
                            bitBuffer = 0
                            bitCount = 0
                        }
                    }
                }
            }
            if bitCount > 0 { row.append(UInt8(bitBuffer << (8 - bitCount))) }
            return row
        }
    }

    private final class Sink {
        var bytes: [UInt8] = []
    }

    private static func write(_ spec: Spec, rows: [[UInt8]], palette: [(UInt8, UInt8, UInt8, UInt8)]) -> [UInt8] {
        let png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nil, nil, nil)
        var info = png_create_info_struct(png)
        var pngPointer = png
        defer { png_destroy_write_struct(&pngPointer, &info) }
        let sink = Sink()
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        png_set_write_fn(png, unmanaged.toOpaque(), { png, data, length in
            guard let pointer = png_get_io_ptr(png), let data else { return }
            let sink = Unmanaged<Sink>.fromOpaque(pointer).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
        }, nil)
        let colorType: Int32
        switch spec.colorType {
        case .gray: colorType = PNG_COLOR_TYPE_GRAY
        case .grayAlpha: colorType = PNG_COLOR_TYPE_GRAY_ALPHA
        case .rgb: colorType = PNG_COLOR_TYPE_RGB
        case .rgba: colorType = PNG_COLOR_TYPE_RGB_ALPHA
        case .palette, .paletteAlpha: colorType = PNG_COLOR_TYPE_PALETTE
        }
        png_set_IHDR(png, info, UInt32(spec.width), UInt32(spec.height), Int32(spec.bitDepth), colorType,
                     spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT)
        if spec.colorType == .palette || spec.colorType == .paletteAlpha {
            var colors = palette.map { png_color(red: $0.0, green: $0.1, blue: $0.2) }
            png_set_PLTE(png, info, &colors, Int32(colors.count))
            if spec.colorType == .paletteAlpha {
                var alphas = palette.map { $0.3 }
                png_set_tRNS(png, info, &alphas, Int32(alphas.count), nil)
            }
        }
        if spec.bitDepth == 16 { png_set_sRGB(png, info, PNG_sRGB_INTENT_PERCEPTUAL) }
        png_write_info(png, info)
        let passes = spec.interlaced ? png_set_interlace_handling(png) : 1
        for _ in 0..<passes {
            for row in rows {
                var row = row
                row.withUnsafeMutableBufferPointer { png_write_row(png, $0.baseAddress) }
            }
        }
        png_write_end(png, info)
        return sink.bytes
    }
}
