import Crypto
import Dispatch
import PhotoCloudProtocol

/// The SHA-256 of a large object, computed in order off the transfer
/// endpoint's loop (`DigestMode.external`), on a serial queue of its own.
///
/// Hashing is most of a large transfer's work (SHA-256 runs at about
/// 1.5 GB/s per core here, and both ends hash every byte): on the loop it
/// stalled receiving and sending. Off the loop, the receiver hashes the
/// prefix it has reported while later chunks arrive, and the sender hashes
/// its object while the chunks go out.
final class DigestPipeline: @unchecked Sendable {
    /// Objects at least this large are hashed here; smaller ones inline (a
    /// thread hop would cost more than the hashing).
    static let threshold = 1 << 20
    /// Hashing is handed over in pieces of at least this much.
    static let step = 1 << 20

    /// Serial: the pieces of the object are hashed in order. One per object,
    /// not one shared thread: a sender's and a receiver's hashing in one
    /// process (the bench) took turns on a shared one and halved goodput.
    private let worker = DispatchQueue(label: "photocloud-digest")

    // Touched only on the worker queue.
    private var hasher = SHA256()
    private var hashed = 0
    // Touched only by the owner (the endpoint's actor).
    private(set) var submitted = 0

    /// Hashes `object` up to `end` (the receiver's contiguous prefix); the
    /// bytes below `end` must have been written before this call.
    func hash(_ object: ObjectBuffer, through end: Int) {
        guard end > submitted else { return }
        submitted = end
        worker.async { [self] in
            object.withUnsafeBytes(hashed..<end) { hasher.update(bufferPointer: $0) }
            hashed = end
        }
    }

    /// Hashes all of `bytes` (the sender's object).
    func hash(_ bytes: [UInt8]) {
        submitted = bytes.count
        worker.async { [self] in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let end = min(offset + Self.step, raw.count)
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                    offset = end
                }
            }
            hashed = bytes.count
        }
    }

    /// Calls `done` with the digest of everything submitted, on the worker queue.
    func finish(_ done: @escaping @Sendable ([UInt8]) -> Void) {
        worker.async { [self] in done(Array(hasher.finalize())) }
    }
}
