#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The receiver's buffer for a whole object: fixed memory, allocated once the
/// transfer's claims are checked, written chunk by chunk by the receiver.
///
/// A class with a stable address rather than an array, so that a digest can be
/// computed on another thread while later chunks still arrive: whoever reads a
/// range must have learned, through a synchronising hand-off, that the receiver
/// has written it (the receiver reports its contiguous prefix as `progress`),
/// and the receiver never writes a range twice. After delivery nobody writes.
public final class ObjectBuffer: @unchecked Sendable {
    /// Objects at least this large ask for transparent huge pages.
    static let hugePageThreshold = 4 << 20
    private static let hugePage = 2 << 20

    public let count: Int
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private let isPooled: Bool

    /// `count` bytes, not zeroed: the receiver writes every byte (each chunk)
    /// before it hashes or delivers any. Zeroing a 256 MiB buffer up front cost
    /// a sixth of a transfer. Large buffers are aligned to and advised to use
    /// huge pages (a hint; the contents are the same either way): faulting in
    /// 4 KiB pages one chunk at a time held loopback goodput at 600 MB/s,
    /// 2 MiB pages reached 900.
    init(count: Int) {
        self.count = count
        isPooled = count >= Self.hugePageThreshold
        if isPooled {
            let memory = Self.spare.take(atLeast: count) ?? Self.allocateLarge(count)
            (base, capacity) = (memory.base, memory.capacity)
        } else {
            base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
            capacity = max(count, 1)
        }
    }

    deinit {
        if isPooled { Self.spare.give(base, capacity: capacity) } else { base.deallocate() }
    }

    private static func allocateLarge(_ count: Int) -> (base: UnsafeMutableRawPointer, capacity: Int) {
        let capacity = (count + hugePage - 1) / hugePage * hugePage
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: hugePage)
        return (base, capacity)
    }

    /// Asks for huge pages in `range` (whole huge pages inside it: a hint, the
    /// contents are the same). Not at allocation, nor for the whole object: a
    /// chunk written into a huge page commits 2 MiB, so the endpoint asks only
    /// for the window it is about to fill, as the data arrives in order.
    public func adviseHugePages(_ range: Range<Int>) {
        guard isPooled else { return }
        #if os(Linux)
        let start = (max(range.lowerBound, 0) + Self.hugePage - 1) / Self.hugePage * Self.hugePage
        let end = min(range.upperBound, capacity) / Self.hugePage * Self.hugePage
        guard end > start else { return }
        _ = madvise(base + start, end - start, MADV_HUGEPAGE)
        #endif
    }

    /// The last large buffer freed, kept for the next large object as an
    /// allocator would: a fresh one costs the kernel's zeroing of every page
    /// on first touch (on this machine about 115 ms per 256 MiB, a third of a
    /// loopback transfer). Its pages are given back lazily (`MADV_FREE`): the
    /// kernel reclaims them under memory pressure, and reuse faults in only
    /// what it took.
    private static let spare = SpareBuffer()

    private final class SpareBuffer: Sendable {
        private struct Held: @unchecked Sendable {
            var base: UnsafeMutableRawPointer
            var capacity: Int
        }
        private let held = Mutex<Held?>(nil)

        /// The spare if it fits `count` without hoarding more than twice as much.
        func take(atLeast count: Int) -> (base: UnsafeMutableRawPointer, capacity: Int)? {
            held.withLock { held in
                guard let spare = held, spare.capacity >= count, spare.capacity <= 2 * max(count, 1) else { return nil }
                held = nil
                return (spare.base, spare.capacity)
            }
        }

        func give(_ base: UnsafeMutableRawPointer, capacity: Int) {
            #if os(Linux)
            _ = madvise(base, capacity, MADV_FREE)
            #endif
            let previous = held.withLock { held -> Held? in
                let previous = held
                held = Held(base: base, capacity: capacity)
                return previous
            }
            previous?.base.deallocate()
        }
    }

    /// Copies `source` to `offset` (the receiver, once per range).
    func write(_ source: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + source.count <= count, "a write outside the object's buffer")
        guard let from = source.baseAddress, source.count > 0 else { return }
        (base + offset).copyMemory(from: from, byteCount: source.count)
    }

    /// Reads `range` of the object (by default all of it).
    public func withUnsafeBytes<Result>(_ range: Range<Int>? = nil, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let range = range ?? 0..<count
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "a read outside the object's buffer")
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// The object as an array (a copy).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Large (huge pages, reused when freed): worth faulting in ahead with `populate`.
    public var isLarge: Bool { isPooled }

    /// Faults in the pages of `range` without changing a byte (Linux
    /// `MADV_POPULATE_WRITE`; nothing where it is missing), so that the
    /// receiver's writes there do not stop for the kernel to zero fresh pages.
    /// Safe to call from another thread while the receiver writes elsewhere
    /// (or even in the same range: the contents are left alone). On this
    /// machine the faults of a fresh 256 MiB buffer cost the receiver's loop
    /// about 115 ms per transfer, a third of it.
    public func populate(_ range: Range<Int>) {
        #if os(Linux)
        let page = 4_096
        let start = (Int(bitPattern: base) + max(range.lowerBound, 0)) & ~(page - 1)
        let end = Int(bitPattern: base) + min(range.upperBound, count)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, 23)   // MADV_POPULATE_WRITE (Linux 5.14)
        #endif
    }
}
