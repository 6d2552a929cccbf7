import CPNGReader

/// How a decode went: the plan it followed, which reader read the pixels,
/// and what that reader allocated besides the result (libpng's allocations
/// counted by the C reader's allocator, or the plain reader's two buffers),
/// for checking the plan's bound.
public struct PNGDecodeReport: Sendable {
    public enum Reader: Sendable, Equatable {
        /// libpng's full API (CPNGReader): every PNG libpng reads.
        case libpng
        /// `PNGPlainReading`: 8-bit RGB or RGBA, not interlaced, nothing that changes the pixels.
        case plain
    }

    public let plan: PNGDecodePlan
    public let reader: Reader
    /// The most bytes the reader held at once besides the result.
    public let readerPeakBytes: Int
}

/// Runs the plain reader where it applies, else libpng's full-API reader (CPNGReader) over the ranges a plan kept,
/// straight into the RGBA8 result: no copy of the input, no buffer of the
/// whole image but the result.
enum PNGReading {
    /// With `plain`, a file the plain reader takes is read by it (`PNGPlainReading`); every other goes to libpng.
    static func decode(_ source: PNGByteSource, plan: PNGDecodePlan, name: String?, plain: Bool) throws(PNGError) -> (RGBAImage, PNGDecodeReport) {
        if plain, let read = PNGPlainReading.decode(source, plan: plan) { return read }
        var allocations = cpng_allocations(current: 0, peak: 0)
        var message = [CChar](repeating: 0, count: 256)
        var scratch = [UInt8](repeating: 0, count: max(plan.scratchBytes, 1))
        let ranges = plan.layout.ranges
        let size = plan.outputBytes
        var succeeded = false
        var reader = cpng_source(bytes: nil, fd: -1, ranges: nil, range_count: ranges.count, index: 0, done_in_range: 0, failed: 0)
        switch source {
        case .memory(let bytes): reader.bytes = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        case .file(let descriptor, _): reader.fd = descriptor
        }
        let pixels = [UInt8](unsafeUninitializedCapacity: size) { output, initialized in
            succeeded = ranges.withUnsafeBufferPointer { ranges in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    message.withUnsafeMutableBufferPointer { message in
                        reader.ranges = ranges.baseAddress
                        return cpng_read_rgba8(&reader, output.baseAddress, scratch.baseAddress, UInt32(plan.width), UInt32(plan.height),
                                               UInt32(PNGDecodePlan.maxSide), PNGDecodePlan.maxChunkBytes,
                                               &allocations, message.baseAddress, message.count)
                    }
                }
            } != 0
            initialized = succeeded ? size : 0
        }
        let readFailed = reader.failed != 0
        let what = PNGError.prefix(name)
        if readFailed { throw PNGError(.io, "\(what)cannot read the file (it changed or failed while being decoded)") }
        guard succeeded else {
            let detail = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw PNGError(.corrupt, "\(what)damaged or truncated PNG (libpng: \(detail.isEmpty ? "unknown error" : detail))")
        }
        let report = PNGDecodeReport(plan: plan, reader: .libpng, readerPeakBytes: allocations.peak)
        return (try RGBAImage(width: plan.width, height: plan.height, pixels: pixels), report)
    }
}
