#if canImport(Glibc)
import Glibc
#endif

/// Where a PNG's bytes are: memory the caller holds, or an open file read in
/// place with pread. Neither is ever copied whole: the chunk walk reads
/// headers through a small window, and libpng reads the kept ranges.
enum PNGByteSource {
    case memory(UnsafeRawBufferPointer)
    case file(descriptor: Int32, size: Int)

    var size: Int {
        switch self {
        case .memory(let bytes): return bytes.count
        case .file(_, let size): return size
        }
    }

    /// A copy of `count` bytes from `offset`, which the caller has checked lie inside the source (a file is read
    /// with pread, to the end of the range).
    func copy(at offset: Int, count: Int, name: String?) throws(PNGError) -> [UInt8] {
        switch self {
        case .memory(let bytes):
            return Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]))
        case .file(let descriptor, _):
            var buffer = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    let reason = got < 0 ? String(cString: strerror(errno)) : "the file is shorter than it was"
                    throw PNGError(.io, "\(PNGError.prefix(name))cannot read: \(reason)")
                }
                done += got
            }
            return buffer
        }
    }
}

/// Random access to a PNG's bytes for the chunk walk: straight from memory, or
/// through a 64 KiB window over the file, so a walk costs one read per 64 KiB
/// of small chunks and one per large chunk it skips.
struct PNGByteWindow {
    static let windowBytes = 64 * 1024

    let source: PNGByteSource
    let name: String?
    private var window: [UInt8] = []
    private var windowStart = 0

    init(_ source: PNGByteSource, name: String?) {
        self.source = source
        self.name = name
    }

    var size: Int { source.size }

    /// `count` bytes from `offset`, which the caller has checked lie inside the source.
    mutating func bytes(at offset: Int, count: Int) throws(PNGError) -> ArraySlice<UInt8> {
        switch source {
        case .memory(let bytes):
            return ArraySlice(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]))
        case .file(let descriptor, _):
            if offset < windowStart || offset + count > windowStart + window.count {
                try fill(descriptor, from: offset, atLeast: count)
            }
            return window[(offset - windowStart)..<(offset - windowStart + count)]
        }
    }

    mutating func bigEndian32(at offset: Int) throws(PNGError) -> UInt32 {
        let four = try bytes(at: offset, count: 4)
        return four.reduce(0) { $0 << 8 | UInt32($1) }
    }

    private mutating func fill(_ descriptor: Int32, from offset: Int, atLeast count: Int) throws(PNGError) {
        window = try source.copy(at: offset, count: min(max(count, Self.windowBytes), size - offset), name: name)
        windowStart = offset
    }
}
