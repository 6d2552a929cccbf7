import CDeflate
import CZlib
import Dispatch
import Synchronization

/// A PNG encoder that uses every core: rows are filtered in parallel, then the
/// filtered image is cut into parts deflated in parallel, each primed with the
/// 32 KiB before it as a dictionary (the technique of pigz), and the parts are
/// joined into one zlib stream. libpng reads the result like any other PNG.
/// Level, filter and strategy are choices of size against speed
/// (docs/benchmarks.md measures them).
public struct PNGEncoder: Sendable {
    public enum Strategy: String, Sendable, CaseIterable {
        case standard, filtered, rle
        var zlibValue: Int32 {
            switch self {
            case .standard: return czlib_default_strategy
            case .filtered: return czlib_filtered
            case .rle: return czlib_rle
            }
        }
    }

    /// Which library deflates an image that is compressed as one part.
    public enum Compressor: String, Sendable, CaseIterable {
        /// zlib, with `strategy`.
        case zlib
        /// libdeflate at `level` (whole-buffer; `strategy` does not apply):
        /// about twice as fast as zlib's RLE strategy at level 1 on a stego
        /// image's filtered rows, and as small. An image of several parts
        /// (`threads`, 256 KiB each at least) ends with a libdeflate part:
        /// libdeflate writes only whole streams, whose last block is final,
        /// so it can take the last part and the others stay with zlib, which
        /// can end a part byte-aligned and not final. The libdeflate part is
        /// one and a half times the size of each zlib part, so that all
        /// finish together on a photo (libdeflate at level 1 is 1.4x as
        /// fast as zlib's RLE strategy on a photo's filtered rows).
        case libdeflate
    }

    /// zlib level, 0 (store) to 9 (smallest).
    public var level: Int
    public var filter: RowFilter
    public var strategy: Strategy
    /// Parts compressed at once (defaults to the number of cores).
    public var threads: Int
    public var compressor: Compressor

    public static let defaultThreads = max(1, min(8, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    public init(level: Int = 1, filter: RowFilter = .average, strategy: Strategy = .standard, threads: Int = PNGEncoder.defaultThreads,
                compressor: Compressor = .zlib) {
        self.level = level
        self.filter = filter
        self.strategy = strategy
        self.threads = threads
        self.compressor = compressor
    }

    /// Encodes `pixels` of `channels` (3: RGB, 4: RGBA) bytes a pixel.
    public func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int) throws(PNGError) -> [UInt8] {
        guard channels == 3 || channels == 4 else { throw PNGError(.invalidImage, "PNG encoding takes 3 or 4 channels, not \(channels)") }
        guard width > 0, height > 0, width <= Int(Int32.max) / 4, height <= Int(Int32.max) else {
            throw PNGError(.invalidImage, "cannot encode a \(width)x\(height) image")
        }
        guard pixels.count == width * height * channels else {
            throw PNGError(.invalidImage, "\(width)x\(height) with \(channels) channels needs \(width * height * channels) bytes, got \(pixels.count)")
        }
        guard (0...9).contains(level) else { throw PNGError(.invalidImage, "zlib level must be 0-9, not \(level)") }
        let rowBytes = width * channels
        let filtered = filterRows(pixels, width: width, height: height, channels: channels)
        let stream = try compress(filtered, rowBytes: rowBytes + 1, height: height)
        var png: [UInt8] = PNGCodec.signature
        png.reserveCapacity(stream.count + stream.count / 100 + 256)
        var header: [UInt8] = []
        header.appendBigEndian32(UInt32(width))
        header.appendBigEndian32(UInt32(height))
        header += [8, channels == 4 ? 6 : 2, 0, 0, 0]
        Self.appendChunk("IHDR", header[...], to: &png)
        let chunkSize = 1 << 20
        var offset = 0
        repeat {
            let end = min(offset + chunkSize, stream.count)
            Self.appendChunk("IDAT", stream[offset..<end], to: &png)
            offset = end
        } while offset < stream.count
        Self.appendChunk("IEND", [][...], to: &png)
        return png
    }

    /// Every row filtered: height x (1 + width x channels) bytes.
    private func filterRows(_ pixels: [UInt8], width: Int, height: Int, channels: Int) -> [UInt8] {
        let rowBytes = width * channels
        let stride = rowBytes + 1
        var filtered = [UInt8](repeating: 0, count: stride * height)
        let parts = max(1, min(threads, height))
        let filter = self.filter
        pixels.withUnsafeBufferPointer { source in
            filtered.withUnsafeMutableBufferPointer { destination in
                nonisolated(unsafe) let source = source, destination = destination
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: max(rowBytes, 1))
                    defer { scratch.deallocate() }
                    for y in (height * part / parts)..<(height * (part + 1) / parts) {
                        let row = source.baseAddress! + y * rowBytes
                        RowFilter.filter(filter, row: row, previous: y > 0 ? row - rowBytes : nil, count: rowBytes,
                                         bytesPerPixel: channels, out: destination.baseAddress! + y * stride, scratch: scratch)
                    }
                }
            }
        }
        return filtered
    }

    /// One zlib stream (header, deflate parts, Adler-32) of `data`.
    private func compress(_ data: [UInt8], rowBytes: Int, height: Int) throws(PNGError) -> [UInt8] {
        // Parts of whole rows, at least 256 KiB each, so small images stay one part.
        let parts = max(1, min(threads, data.count / (256 * 1024), height))
        if parts == 1, compressor == .libdeflate {
            guard let stream = LibdeflateCompressors.zlibStream(of: data, level: Int32(level)) else {
                throw PNGError(.invalidImage, "libdeflate failed to compress the image")
            }
            return stream
        }
        // Where each part starts, in rows: equal shares, or one and a half for a last part of libdeflate.
        let hybrid = compressor == .libdeflate
        let halves = hybrid ? 2 * parts + 1 : 2 * parts
        let starts = (0..<parts).map { height * 2 * $0 / halves } + [height]
        var outputs = [[UInt8]?](repeating: nil, count: parts)
        var adlers = [UInt](repeating: 0, count: parts)
        let (level, strategy) = (Int32(level), self.strategy.zlibValue)
        let window = Self.window(parts: parts, bytes: data.count)
        data.withUnsafeBufferPointer { input in
            outputs.withUnsafeMutableBufferPointer { outputs in
                adlers.withUnsafeMutableBufferPointer { adlers in
                    // Each part writes only its own slots.
                    nonisolated(unsafe) let input = input, outputs = outputs, adlers = adlers
                    DispatchQueue.concurrentPerform(iterations: parts) { part in
                        let start = starts[part] * rowBytes
                        let end = starts[part + 1] * rowBytes
                        let dictionaryStart = max(0, start - 32 * 1024)
                        let slice = UnsafeBufferPointer(rebasing: input[start..<end])
                        let dictionary = UnsafeBufferPointer(rebasing: input[dictionaryStart..<start])
                        let last = part == parts - 1
                        outputs[part] = hybrid && last ? LibdeflateCompressors.rawDeflate(of: slice, level: level)
                            : Self.deflatePart(slice, dictionary: dictionary, last: last, level: level, strategy: strategy, window: window)
                        adlers[part] = adler32(1, slice.baseAddress, UInt32(slice.count))
                    }
                }
            }
        }
        let compressed = outputs.compactMap { $0 }
        guard compressed.count == parts else { throw PNGError(.invalidImage, "\(hybrid ? "libdeflate or " : "")zlib failed to compress the image") }
        var adler = adlers[0]
        for part in 1..<parts {
            adler = adler32_combine(adler, adlers[part], off_t((starts[part + 1] - starts[part]) * rowBytes))
        }
        var stream = Self.zlibHeader(windowBits: window.bits, level: level)
        stream.reserveCapacity(compressed.reduce(6) { $0 + $1.count })
        for output in compressed { stream += output }
        stream.appendBigEndian32(UInt32(truncatingIfNeeded: adler))
        return stream
    }

    /// zlib's window and hash table for a stream: the full 32 KiB window when
    /// parts follow each other (each part's dictionary is the 32 KiB before
    /// it), else the smallest window that holds the whole image, with a hash
    /// table to match. A 32x32 cover (4 KiB of rows) then costs zlib 28 us
    /// instead of 81 us: at the defaults, setting up and clearing 300 KiB of
    /// tables is most of the work for a small image, and servers encode one
    /// small cover per text request.
    static func window(parts: Int, bytes: Int) -> (bits: Int32, memoryLevel: Int32) {
        guard parts == 1 else { return (15, 8) }
        var bits: Int32 = 9   // raw deflate's smallest window
        while bits < 15, 1 << bits < bytes { bits += 1 }
        return (bits, max(1, min(8, bits - 7)))
    }

    /// The zlib stream header (RFC 1950): deflate with a window of
    /// 2^`windowBits` bytes, the level's hint, and the check bits.
    static func zlibHeader(windowBits: Int32, level: Int32) -> [UInt8] {
        let cmf = UInt8((windowBits - 8) << 4 | 8)
        let hint: UInt8 = level <= 1 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3
        var flg = hint << 6
        flg += UInt8(31 - (UInt(cmf) * 256 + UInt(flg)) % 31) % 31
        return [cmf, flg]
    }

    /// Raw deflate of one part; all but the last end with a sync flush (byte-aligned, not final).
    private static func deflatePart(
        _ input: UnsafeBufferPointer<UInt8>, dictionary: UnsafeBufferPointer<UInt8>, last: Bool, level: Int32, strategy: Int32,
        window: (bits: Int32, memoryLevel: Int32)
    ) -> [UInt8]? {
        var stream = z_stream()
        guard czlib_deflate_init_raw(&stream, level, strategy, window.bits, window.memoryLevel) == czlib_ok else { return nil }
        defer { deflateEnd(&stream) }
        if dictionary.count > 0, deflateSetDictionary(&stream, dictionary.baseAddress, UInt32(dictionary.count)) != czlib_ok {
            return nil
        }
        let capacity = Int(deflateBound(&stream, UInt(input.count))) + 64
        var result: Int32 = czlib_ok
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            stream.next_out = buffer.baseAddress
            stream.avail_out = UInt32(capacity)
            result = deflate(&stream, last ? czlib_finish : czlib_sync_flush)
            initialized = capacity - Int(stream.avail_out)
        }
        let done = last ? result == czlib_stream_end : (result == czlib_ok && stream.avail_in == 0)
        return done ? output : nil
    }

    private static func appendChunk(_ type: String, _ data: ArraySlice<UInt8>, to png: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        png.appendBigEndian32(UInt32(data.count))
        png += typeBytes
        png += data
        var crc = typeBytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, UInt32($0.count)) }
        crc = data.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, UInt32($0.count)) }
        png.appendBigEndian32(UInt32(truncatingIfNeeded: crc))
    }
}

/// libdeflate's compressors, kept for reuse: one holds its match finder's
/// tables (200 KB at level 1, 670 KB at level 6), which a fresh one
/// allocates. Taken by one encoding at a time; at most eight of a level are
/// kept.
enum LibdeflateCompressors {
    /// A compressor not in use (only the one encoding that took it touches it).
    private struct Idle: @unchecked Sendable { let compressor: OpaquePointer }
    private static let idle = Mutex<[Int32: [Idle]]>([:])

    /// A zlib stream (RFC 1950) of `data` at `level` (0-12), nil if libdeflate fails.
    static func zlibStream(of data: [UInt8], level: Int32) -> [UInt8]? {
        data.withUnsafeBufferPointer { input in
            compress(input, level: level, bound: libdeflate_zlib_compress_bound, compress: libdeflate_zlib_compress)
        }
    }

    /// Raw deflate (RFC 1951) of `input` at `level`, its last block final, nil if libdeflate fails.
    static func rawDeflate(of input: UnsafeBufferPointer<UInt8>, level: Int32) -> [UInt8]? {
        compress(input, level: level, bound: libdeflate_deflate_compress_bound, compress: libdeflate_deflate_compress)
    }

    private static func compress(
        _ input: UnsafeBufferPointer<UInt8>, level: Int32,
        bound: (OpaquePointer?, Int) -> Int,
        compress: (OpaquePointer?, UnsafeRawPointer?, Int, UnsafeMutableRawPointer?, Int) -> Int
    ) -> [UInt8]? {
        guard let compressor = idle.withLock({ $0[level]?.popLast()?.compressor }) ?? libdeflate_alloc_compressor(level) else { return nil }
        defer {
            let kept = idle.withLock { idle in
                guard idle[level, default: []].count < 8 else { return false }
                idle[level, default: []].append(Idle(compressor: compressor))
                return true
            }
            if !kept { libdeflate_free_compressor(compressor) }
        }
        let capacity = bound(compressor, input.count)
        var written = 0
        let stream = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            written = compress(compressor, input.baseAddress, input.count, buffer.baseAddress, capacity)
            initialized = written
        }
        return written > 0 ? stream : nil
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian32(_ value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8(value >> 16 & 0xFF))
        append(UInt8(value >> 8 & 0xFF))
        append(UInt8(value & 0xFF))
    }
}

#if canImport(Glibc)
import Glibc
#endif
