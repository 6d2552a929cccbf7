import Crypto

/// The receiving side of a transfer as a pure state machine. Created from the
/// first chunk that arrives (any chunk: each carries the object's shape), after
/// checking its claims: total size within the configured maximum, a chunk count
/// that matches size and chunk size; only then is the object's buffer
/// allocated. Every chunk is acknowledged with the cumulative point and the
/// ranges received above it (SACK), under this receiver's `epoch`. The SHA-256
/// of the contiguous prefix is computed as it grows (here, or by the driver in
/// `DigestMode.external`); on the sender's end message the digests are
/// compared, and the object is delivered only if they match.
public struct TransferReceiver: Sendable {
    /// An in-order chunk without `ackNow` waits at most this long for a second
    /// one to be acknowledged with (RFC 9002's max_ack_delay is 25 ms; a
    /// millisecond keeps loopback round trips short).
    public static let maxAckDelay = Duration.milliseconds(1)

    public struct Configuration: Sendable, Equatable {
        /// Largest object accepted.
        public var maxBytes: Int
        /// Forget an unfinished transfer after this long without a chunk.
        public var idleTimeout: Duration
        public var digest: DigestMode

        public init(maxBytes: Int = 256 << 20, idleTimeout: Duration = .seconds(30), digest: DigestMode = .inline) {
            self.maxBytes = maxBytes
            self.idleTimeout = idleTimeout
            self.digest = digest
        }
    }

    private enum Phase: Equatable {
        case receiving
        /// Every chunk and the sender's digest are here; the driver is hashing.
        case verifying(expected: [UInt8])
        case finished(TransferMessage.Done.Status)
    }

    public let transferID: UInt64
    public let totalBytes: Int
    public let epoch: UInt32
    /// The object being assembled (read it only up to the reported progress).
    public let buffer: ObjectBuffer
    private let chunkSize: Int
    public let chunkCount: Int
    private let configuration: Configuration
    private var received: ChunkSet
    private var receivedCount = 0
    /// Bytes of the object that have arrived (each chunk counted once): the memory it holds.
    public private(set) var receivedBytes = 0
    private var cumulative = 0
    private var largest = 0
    private var hasher = SHA256()
    private var lastActivity: Instant
    private var phase = Phase.receiving
    /// Chunks arrived since the last acknowledgement, and when it is due at the latest.
    private var unacknowledged = 0
    private var ackDue: Instant?
    /// SACK ranges the next acknowledgement may carry.
    private var ackBudget = TransferMessage.Ack.maxRanges

    public var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    /// A receiver for the transfer `first` belongs to, or the refusal to send
    /// back. `epoch` (not 0) names this incarnation; the driver picks it at random.
    public static func accept(
        _ first: TransferMessage.Chunk, configuration: Configuration = Configuration(), epoch: UInt32, now: Instant
    ) -> Result<TransferReceiver, TransferMessage.Done.Status> {
        // Every claim is compared in the wire's own width before anything becomes an Int.
        guard configuration.maxBytes >= 0, first.totalBytes <= UInt64(configuration.maxBytes) else { return .failure(.tooLarge) }
        let total = Int(first.totalBytes), size = Int(first.chunkSize)
        guard size >= 1, size <= TransferSender.Configuration.maxChunkSize else { return .failure(.malformed) }
        let count = max(1, (total + size - 1) / size)
        // Many tiny chunks would make the table of chunks larger than the object.
        guard count == 1 || size >= TransferSender.Configuration.minChunkSize else { return .failure(.malformed) }
        guard UInt64(first.chunkCount) == UInt64(count) else { return .failure(.malformed) }
        return .success(TransferReceiver(first: first, total: total, size: size, count: count, configuration: configuration,
                                         epoch: max(epoch, 1), now: now))
    }

    private init(first: TransferMessage.Chunk, total: Int, size: Int, count: Int, configuration: Configuration, epoch: UInt32, now: Instant) {
        transferID = first.transferID
        totalBytes = total
        chunkSize = size
        chunkCount = count
        self.configuration = configuration
        self.epoch = epoch
        buffer = ObjectBuffer(count: total)
        received = ChunkSet(count: count)
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

    /// A delayed acknowledgement falls due; an unfinished transfer idle past
    /// its timeout is dropped.
    public mutating func onTimer(now: Instant) -> [TransferDirective] {
        var directives: [TransferDirective] = []
        if let due = ackDue, now >= due {
            directives.append(.send(.ack(ack(causedBy: largest))))
        }
        guard !isFinished, now.since(lastActivity) >= configuration.idleTimeout else {
            if !isFinished { directives.append(.armTimer(nextDeadline)) }
            return directives
        }
        phase = .finished(.unknownTransfer)
        return [.fail(transferID: transferID, TransferError(.noProgress, "the sender went quiet; \(receivedCount) of \(chunkCount) chunks had arrived"))]
    }

    /// The SHA-256 of the whole object, computed by the driver after `verifyDigest`.
    public mutating func onDigest(_ digest: [UInt8], now: Instant) -> [TransferDirective] {
        guard case .verifying(let expected) = phase else { return [] }
        lastActivity = now
        return finish(matching: digest == expected)
    }

    private mutating func onChunk(_ chunk: TransferMessage.Chunk, now: Instant) -> [TransferDirective] {
        // Every chunk must agree with the first about the object (compared as sent, never converted first).
        guard chunk.chunkCount == UInt32(chunkCount), chunk.totalBytes == UInt64(totalBytes), chunk.chunkSize == UInt32(chunkSize),
              chunk.sequence < UInt32(chunkCount) else { return [] }
        let sequence = Int(chunk.sequence)
        let start = sequence * chunkSize
        let range = start..<min(start + chunkSize, totalBytes)
        guard chunk.payload.count == range.count else { return [] }
        var directives: [TransferDirective] = []
        let duplicate = received[sequence]
        // Only news keeps a transfer alive: a stranger resending one chunk must not hold its memory forever.
        if !duplicate { lastActivity = now }
        // In order and unasked, every second chunk is acknowledged; a gap, a
        // duplicate or the sender's request is answered at once.
        var ackAtOnce = chunk.flags.contains(.ackNow) || duplicate || sequence != largest + 1 || cumulative <= largest
        if !duplicate && phase == .receiving {
            _ = received.insert(sequence)
            receivedCount += 1
            receivedBytes += chunk.payload.count
            chunk.payload.withUnsafeBytes { buffer.write($0, at: start) }
            largest = max(largest, sequence)
            let before = cumulative
            cumulative = received.firstMissing(from: cumulative)
            if cumulative > before {
                let from = before * chunkSize, to = min(cumulative * chunkSize, totalBytes)
                if configuration.digest == .inline { buffer.withUnsafeBytes(from..<to) { hasher.update(bufferPointer: $0) } }
                directives.append(.progress(transferID: transferID, bytes: to, of: totalBytes))
            }
        }
        unacknowledged += 1
        if unacknowledged >= 2 || receivedCount == chunkCount || receivedCount == 1 { ackAtOnce = true }
        // An acknowledgement is never more than three times the datagram that
        // caused it (a stranger's forged chunk must not buy a larger answer).
        ackBudget = Self.ranges(within: Wire.headerSize + TransferMessage.chunkHeaderSize + chunk.payload.count)
        if ackAtOnce {
            directives.append(.send(.ack(ack(causedBy: sequence))))
        } else if ackDue == nil {
            ackDue = now + Self.maxAckDelay
        }
        if !isFinished { directives.append(.armTimer(nextDeadline)) }
        return directives
    }

    /// How many SACK ranges keep an acknowledgement within three times the
    /// datagram (of `bytes`) that caused it.
    static func ranges(within bytes: Int) -> Int {
        let fixed = Wire.headerSize + TransferMessage.ackHeaderSize
        return max(0, min(TransferMessage.Ack.maxRanges, (3 * bytes - fixed) / 8))
    }

    private var nextDeadline: Instant {
        let idle = lastActivity + configuration.idleTimeout
        return ackDue.map { min($0, idle) } ?? idle
    }

    private mutating func onEnd(_ end: TransferMessage.End, now: Instant) -> [TransferDirective] {
        // The end must name this receiver's epoch, which only its acknowledgements
        // carried: a sender that never heard them (a forged source address) cannot
        // finish a transfer, so a delivery's source has shown that it receives.
        ackBudget = Self.ranges(within: Wire.headerSize + TransferMessage.endSize)
        guard end.epoch == epoch else { return [.send(.ack(ack(causedBy: largest)))] }
        lastActivity = now
        guard cumulative == chunkCount else {
            // The sender believes everything arrived; say again what did.
            return [.send(.ack(ack(causedBy: largest)))]
        }
        switch phase {
        case .finished(let status):
            return [.send(.done(.init(transferID: transferID, status: status)))]   // a repeated end
        case .verifying:
            return []   // the answer follows the digest
        case .receiving:
            guard end.totalBytes == UInt64(totalBytes) else { return finish(matching: false) }
            switch configuration.digest {
            case .inline:
                let digest = Array(hasher.finalize())
                return finish(matching: digest == end.digest)
            case .external:
                phase = .verifying(expected: end.digest)
                return [.verifyDigest(transferID: transferID)]
            }
        }
    }

    private mutating func finish(matching: Bool) -> [TransferDirective] {
        guard matching else {
            phase = .finished(.digestMismatch)
            return [.send(.done(.init(transferID: transferID, status: .digestMismatch))),
                    .fail(transferID: transferID, TransferError(.digestMismatch, "the object's digest does not match: discarded"))]
        }
        phase = .finished(.delivered)
        return [.send(.done(.init(transferID: transferID, status: .delivered))), .deliver(transferID: transferID, object: buffer)]
    }

    /// The cumulative point and up to 32 received ranges above it, newest
    /// first. The scan goes a word of 64 chunks at a time: a duplicate chunk
    /// of a large transfer costs microseconds, not a walk over every chunk.
    private mutating func ack(causedBy sequence: Int) -> TransferMessage.Ack {
        unacknowledged = 0
        ackDue = nil
        var ranges: [Range<UInt32>] = []
        var upper = largest + 1
        while ranges.count < ackBudget, let top = received.lastPresent(below: upper, floor: cumulative + 1) {
            let lower = received.runStart(endingAt: top, floor: cumulative + 1)
            ranges.append(UInt32(lower)..<UInt32(top + 1))
            upper = lower
        }
        ackBudget = TransferMessage.Ack.maxRanges
        return .init(transferID: transferID, epoch: epoch, cumulative: UInt32(cumulative), largest: UInt32(sequence), ranges: ranges)
    }
}
