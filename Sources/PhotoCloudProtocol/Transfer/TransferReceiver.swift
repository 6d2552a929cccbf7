import Crypto

/// The receiving side of a transfer as a pure state machine. Created from the
/// first chunk that arrives, after checking its claims: total size within the
/// configured maximum, a chunk count that matches size and chunk size; only
/// then is the object's buffer allocated. Every chunk is acknowledged with the
/// cumulative point and the ranges received above it (SACK). The SHA-256 of
/// the contiguous prefix is computed as it grows; on the sender's end message
/// the digests are compared, and the object is delivered only if they match.
public struct TransferReceiver: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Largest object accepted.
        public var maxBytes: Int
        /// Forget an unfinished transfer after this long without a chunk.
        public var idleTimeout: Duration

        public init(maxBytes: Int = 256 << 20, idleTimeout: Duration = .seconds(30)) {
            self.maxBytes = maxBytes
            self.idleTimeout = idleTimeout
        }
    }

    public let transferID: UInt64
    public let totalBytes: Int
    private let chunkSize: Int
    private let chunkCount: Int
    private let configuration: Configuration
    private var buffer: [UInt8]
    private var received: [Bool]
    private var receivedCount = 0
    private var cumulative = 0
    private var largest = 0
    private var hasher = SHA256()
    private var lastActivity: Instant
    public private(set) var isFinished = false

    /// A receiver for the transfer `first` belongs to, or the refusal to send back.
    public static func accept(
        _ first: TransferMessage.Chunk, configuration: Configuration = Configuration(), now: Instant
    ) -> Result<TransferReceiver, TransferMessage.Done.Status> {
        guard first.totalBytes <= UInt64(configuration.maxBytes) else { return .failure(.tooLarge) }
        let total = Int(first.totalBytes), size = Int(first.chunkSize)
        guard size >= 1, size <= TransferSender.Configuration.maxChunkSize else { return .failure(.malformed) }
        guard Int(first.chunkCount) == max(1, (total + size - 1) / size) else { return .failure(.malformed) }
        return .success(TransferReceiver(first: first, total: total, size: size, configuration: configuration, now: now))
    }

    private init(first: TransferMessage.Chunk, total: Int, size: Int, configuration: Configuration, now: Instant) {
        transferID = first.transferID
        totalBytes = total
        chunkSize = size
        chunkCount = Int(first.chunkCount)
        self.configuration = configuration
        buffer = ObjectBuffer.allocate(count: total)
        received = [Bool](repeating: false, count: chunkCount)
        lastActivity = now
    }

    public mutating func on(_ message: TransferMessage, now: Instant) -> [TransferDirective] {
        guard message.transferID == transferID else { return [] }
        switch message {
        case .chunk(let chunk): return onChunk(chunk, now: now)
        case .end(let end): return onEnd(end, now: now)
        case .ack, .done: return []
        }
    }

    /// An unfinished transfer idle past its timeout is dropped.
    public mutating func onTimer(now: Instant) -> [TransferDirective] {
        guard !isFinished, now.since(lastActivity) >= configuration.idleTimeout else {
            return isFinished ? [] : [.armTimer(lastActivity + configuration.idleTimeout)]
        }
        isFinished = true
        return [.fail(transferID: transferID, TransferError(.noProgress, "the sender went quiet; \(receivedCount) of \(chunkCount) chunks had arrived"))]
    }

    private mutating func onChunk(_ chunk: TransferMessage.Chunk, now: Instant) -> [TransferDirective] {
        // Every chunk must agree with the first about the object.
        guard Int(chunk.chunkCount) == chunkCount, Int(chunk.totalBytes) == totalBytes, Int(chunk.chunkSize) == chunkSize,
              Int(chunk.sequence) < chunkCount else { return [] }
        let sequence = Int(chunk.sequence)
        let start = sequence * chunkSize
        let range = start..<min(start + chunkSize, totalBytes)
        guard chunk.payload.count == range.count else { return [] }
        lastActivity = now
        var directives: [TransferDirective] = []
        if !received[sequence] && !isFinished {
            received[sequence] = true
            receivedCount += 1
            buffer.withUnsafeMutableBytes { destination in
                chunk.payload.withUnsafeBytes { source in
                    (destination.baseAddress! + start).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
            }
            largest = max(largest, sequence)
            let before = cumulative
            while cumulative < chunkCount && received[cumulative] { cumulative += 1 }
            if cumulative > before {
                let from = before * chunkSize, to = min(cumulative * chunkSize, totalBytes)
                hasher.update(data: buffer[from..<to])
                directives.append(.progress(transferID: transferID, bytes: to, of: totalBytes))
            }
        }
        directives.append(.send(.ack(ack(causedBy: sequence))))
        if !isFinished { directives.append(.armTimer(lastActivity + configuration.idleTimeout)) }
        return directives
    }

    private mutating func onEnd(_ end: TransferMessage.End, now: Instant) -> [TransferDirective] {
        lastActivity = now
        guard cumulative == chunkCount else {
            // The sender believes everything arrived; say again what did.
            return [.send(.ack(ack(causedBy: largest)))]
        }
        if isFinished {
            return [.send(.done(.init(transferID: transferID, status: .delivered)))]   // a repeated end
        }
        isFinished = true
        let digest = Array(hasher.finalize())
        guard Int(end.totalBytes) == totalBytes, digest == end.digest else {
            buffer = []
            return [.send(.done(.init(transferID: transferID, status: .digestMismatch))),
                    .fail(transferID: transferID, TransferError(.digestMismatch, "the object's digest does not match: discarded"))]
        }
        let object = buffer
        buffer = []
        return [.send(.done(.init(transferID: transferID, status: .delivered))), .deliver(transferID: transferID, bytes: object)]
    }

    /// The cumulative point and up to 32 received ranges above it, newest first.
    private func ack(causedBy sequence: Int) -> TransferMessage.Ack {
        var ranges: [Range<UInt32>] = []
        var upper = largest + 1
        while upper > cumulative && ranges.count < TransferMessage.Ack.maxRanges {
            while upper > cumulative && !received[upper - 1] { upper -= 1 }
            guard upper > cumulative else { break }
            var lower = upper - 1
            while lower > cumulative && received[lower - 1] { lower -= 1 }
            ranges.append(UInt32(lower)..<UInt32(upper))
            upper = lower
        }
        return .init(transferID: transferID, cumulative: UInt32(cumulative), largest: UInt32(sequence), ranges: ranges)
    }
}
