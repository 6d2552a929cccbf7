import CZlib
import PNGCodec
import PhotoCloudTestKit
import Testing

/// A small image is deflated with a window just large enough for it (zlib's
/// set-up for a 32 KiB window cost servers more than compressing a small
/// cover). The stream must say which window it uses, and never reach further back.
@Suite("PNG zlib window")
struct ZlibWindowTests {
    /// The zlib stream: every IDAT chunk's data, in order.
    static func zlibStream(of png: [UInt8]) -> [UInt8] {
        var stream: [UInt8] = []
        var at = 8
        while at + 12 <= png.count {
            let length = png[at..<at + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: png[at + 4..<at + 8], as: UTF8.self)
            if type == "IDAT" { stream += png[at + 8..<at + 8 + length] }
            at += 12 + length
        }
        return stream
    }

    /// Inflates `stream` with a window of 2^`windowBits` bytes: zlib refuses a
    /// header declaring more, and any distance beyond the window.
    static func inflate(_ stream: [UInt8], windowBits: Int32, into capacity: Int) -> [UInt8]? {
        var z = z_stream()
        guard inflateInit2_(&z, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == czlib_ok else { return nil }
        defer { inflateEnd(&z) }
        var output = [UInt8](repeating: 0, count: capacity + 1)
        var input = stream
        let result = input.withUnsafeMutableBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                z.next_in = input.baseAddress
                z.avail_in = UInt32(input.count)
                z.next_out = output.baseAddress
                z.avail_out = UInt32(output.count)
                return CZlib.inflate(&z, czlib_finish)
            }
        }
        guard result == czlib_stream_end else { return nil }
        return Array(output.prefix(Int(z.total_out)))
    }

    @Test("the stream declares the window it uses and reaches no further", arguments: [(1, 1), (16, 16), (32, 32), (45, 45), (64, 64), (90, 90), (128, 128), (300, 200)])
    func declaredWindow(width: Int, height: Int) throws {
        // Repeating noise: long matches at every distance the window allows.
        let tile = EncodeTests.noise(width: 13, height: 1, channels: 4, seed: 3)
        let pixels = (0..<width * height * 4).map { tile[$0 % tile.count] ^ UInt8(truncatingIfNeeded: $0 / 4096) }
        let image = try RGBAImage(width: width, height: height, pixels: pixels)
        let png = try PNGCodec(encoder: PNGEncoder(threads: 1)).encode(image)
        let stream = Self.zlibStream(of: png)
        let (cmf, flg) = (stream[0], stream[1])
        #expect(cmf & 0x0F == 8, "deflate")
        #expect((Int(cmf) << 8 | Int(flg)) % 31 == 0, "header check bits")
        let windowBits = Int32(cmf >> 4) + 8
        let filtered = height * (width * 4 + 1)
        #expect((9...15).contains(windowBits))
        #expect(windowBits == 15 || 1 << windowBits >= filtered, "the window holds the whole image")
        #expect(windowBits == 9 || 1 << (windowBits - 1) < filtered, "and is no larger than it needs")
        // A decoder that keeps only the declared window gets every byte back.
        let rows = Self.inflate(stream, windowBits: windowBits, into: filtered)
        #expect(rows?.count == filtered)
        #expect(try PNGCodec().decode(png) == image)
        if windowBits > 9 {
            #expect(Self.inflate(stream, windowBits: windowBits - 1, into: filtered) == nil, "zlib refuses a stream declaring a larger window")
        }
    }
}
