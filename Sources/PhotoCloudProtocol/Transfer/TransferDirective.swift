/// What a transfer state machine asks its driver to do.
public enum TransferDirective: Sendable, Equatable {
    /// Send this message to the peer.
    case send(TransferMessage)
    /// Call `onTimer` at this instant (replaces any earlier request).
    case armTimer(Instant)
    /// The receiver has the whole object and its digest matched.
    case deliver(transferID: UInt64, object: ObjectBuffer)
    /// The receiver has every chunk and the sender's digest (`DigestMode.external`):
    /// finish the SHA-256 of the object and pass it to `onDigest`.
    case verifyDigest(transferID: UInt64)
    /// The sender's object was delivered intact (the receiver said so).
    case complete(transferID: UInt64)
    /// The transfer is over without success.
    case fail(transferID: UInt64, TransferError)
    /// More of the object is acknowledged (sender) or has arrived (receiver).
    case progress(transferID: UInt64, bytes: Int, of: Int)
}

/// Who computes an object's SHA-256.
public enum DigestMode: Sendable, Equatable {
    /// The state machine, as chunks are first sent (sender) or as the
    /// contiguous prefix grows (receiver).
    case inline
    /// The driver, off the machine's thread: it passes the digest to `onDigest`
    /// (the sender whenever it is ready; the receiver after `verifyDigest`,
    /// having hashed the prefixes that `progress` reported).
    case external
}

extension ObjectBuffer: Equatable {
    public static func == (lhs: ObjectBuffer, rhs: ObjectBuffer) -> Bool {
        lhs === rhs || (lhs.count == rhs.count && lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in a.elementsEqual(b) } })
    }
}

/// Why a transfer failed.
public struct TransferError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case noProgress, refusedTooLarge, digestMismatch, malformed, unknownTransfer, refused, invalidArgument
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
