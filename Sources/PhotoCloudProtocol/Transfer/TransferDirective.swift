/// What a transfer state machine asks its driver to do.
public enum TransferDirective: Sendable, Equatable {
    /// Send this message to the peer.
    case send(TransferMessage)
    /// Call `onTimer` at this instant (replaces any earlier request).
    case armTimer(Instant)
    /// The receiver has the whole object and its digest matched.
    case deliver(transferID: UInt64, bytes: [UInt8])
    /// The sender's object was delivered intact (the receiver said so).
    case complete(transferID: UInt64)
    /// The transfer is over without success.
    case fail(transferID: UInt64, TransferError)
    /// More of the object is acknowledged (sender) or has arrived (receiver).
    case progress(transferID: UInt64, bytes: Int, of: Int)
}

/// Why a transfer failed.
public struct TransferError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case noProgress, refusedTooLarge, digestMismatch, malformed, unknownTransfer, invalidArgument
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
