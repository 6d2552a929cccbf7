/// The messages of the reliable transfer (docs/protocol.md, "Transfer"), as
/// the bodies of Wire envelopes. Decoding checks every field.
public enum TransferMessage: Sendable, Equatable {
    /// Sender -> receiver: one chunk of the object.
    case chunk(Chunk)
    /// Receiver -> sender: what has arrived.
    case ack(Ack)
    /// Sender -> receiver: every chunk is acknowledged; here is the digest.
    case end(End)
    /// Receiver -> sender: the outcome (or a refusal, at any time).
    case done(Done)

    public struct Chunk: Sendable, Equatable {
        public var transferID: UInt64
        public var sequence: UInt32
        public var chunkCount: UInt32
        public var totalBytes: UInt64
        public var chunkSize: UInt32
        public var flags: Flags
        public var payload: ArraySlice<UInt8>

        public struct Flags: OptionSet, Sendable, Equatable {
            public let rawValue: UInt8
            public init(rawValue: UInt8) { self.rawValue = rawValue }
            /// Acknowledge at once: the sender will send nothing more until it
            /// hears back (its window is full, this is the last chunk, or a
            /// retransmission). Otherwise the receiver acknowledges every
            /// second chunk, or after `TransferReceiver.maxAckDelay`.
            public static let ackNow = Flags(rawValue: 1)
        }

        public init(transferID: UInt64, sequence: UInt32, chunkCount: UInt32, totalBytes: UInt64, chunkSize: UInt32,
                    flags: Flags = [], payload: ArraySlice<UInt8>) {
            self.transferID = transferID
            self.sequence = sequence
            self.chunkCount = chunkCount
            self.totalBytes = totalBytes
            self.chunkSize = chunkSize
            self.flags = flags
            self.payload = payload
        }
    }

    public struct Ack: Sendable, Equatable {
        public var transferID: UInt64
        /// The receiver's incarnation of this transfer, chosen at random when it
        /// first saw it (never 0). A sender that sees it change knows the receiver
        /// restarted and lost what it had acknowledged; `0` says "I hold nothing
        /// of this transfer" (an end for a transfer the receiver does not know).
        public var epoch: UInt32
        /// Every chunk below this has arrived.
        public var cumulative: UInt32
        /// The highest sequence number seen, and the chunk whose arrival caused this ack.
        public var largest: UInt32
        /// Ranges (lower inclusive, upper exclusive) received above `cumulative`, newest first.
        public var ranges: [Range<UInt32>]

        public init(transferID: UInt64, epoch: UInt32, cumulative: UInt32, largest: UInt32, ranges: [Range<UInt32>]) {
            self.transferID = transferID
            self.epoch = epoch
            self.cumulative = cumulative
            self.largest = largest
            self.ranges = ranges
        }

        public static let maxRanges = 32
    }

    public struct End: Sendable, Equatable {
        public var transferID: UInt64
        public var totalBytes: UInt64
        /// SHA-256 of the whole object.
        public var digest: [UInt8]
        /// The receiver's epoch, as its acknowledgements told it: the proof that
        /// the sender receives at the address it sends from (a forged source
        /// address never sees an acknowledgement). 0 when none came.
        public var epoch: UInt32

        public init(transferID: UInt64, totalBytes: UInt64, digest: [UInt8], epoch: UInt32) {
            self.transferID = transferID
            self.totalBytes = totalBytes
            self.digest = digest
            self.epoch = epoch
        }
    }

    public struct Done: Sendable, Equatable {
        public enum Status: UInt8, Sendable, Error {
            case delivered = 0
            case digestMismatch = 1
            case tooLarge = 2
            case malformed = 3
            case unknownTransfer = 4
            /// The receiver did not ask for this object and takes nothing unannounced from this source now.
            case unexpected = 5
            /// The receiver holds as much as it will in flight; try again later.
            case busy = 6
        }
        public var transferID: UInt64
        public var status: Status

        public init(transferID: UInt64, status: Status) {
            self.transferID = transferID
            self.status = status
        }
    }

    public var transferID: UInt64 {
        switch self {
        case .chunk(let m): return m.transferID
        case .ack(let m): return m.transferID
        case .end(let m): return m.transferID
        case .done(let m): return m.transferID
        }
    }

    public var type: MessageType {
        switch self {
        case .chunk: return .transferChunk
        case .ack: return .transferAck
        case .end: return .transferEnd
        case .done: return .transferDone
        }
    }

    /// The header of a chunk message, before its payload.
    public static let chunkHeaderSize = 29
    /// An acknowledgement without ranges.
    public static let ackHeaderSize = 21
    /// An end message.
    public static let endSize = 52

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedSize)
        encode(into: &bytes)
        return bytes
    }

    /// An upper bound on the encoded size.
    public var encodedSize: Int {
        switch self {
        case .chunk(let chunk): Self.chunkHeaderSize + chunk.payload.count
        case .ack(let ack): Self.ackHeaderSize + 8 * min(ack.ranges.count, Ack.maxRanges)
        case .end: Self.endSize
        case .done: 9
        }
    }

    /// What follows `encodeHead` in the datagram: a chunk's data (empty for
    /// the other messages).
    public var trailer: ArraySlice<UInt8> {
        if case .chunk(let chunk) = self { return chunk.payload }
        return []
    }

    /// Appends the message without its `trailer` (a chunk's data, sent from
    /// where it lies).
    public func encodeHead(into bytes: inout [UInt8]) {
        guard case .chunk(let chunk) = self else { return encode(into: &bytes) }
        bytes.appendBigEndian(transferID)
        Self.appendHeader(of: chunk, to: &bytes)
    }

    /// A chunk's header after the transfer id.
    private static func appendHeader(of chunk: Chunk, to bytes: inout [UInt8]) {
        bytes.appendBigEndian(chunk.sequence)
        bytes.appendBigEndian(chunk.chunkCount)
        bytes.appendBigEndian(chunk.totalBytes)
        bytes.appendBigEndian(chunk.chunkSize)
        bytes.append(chunk.flags.rawValue)
    }

    /// Appends the encoded message to `bytes` (a datagram being framed).
    public func encode(into bytes: inout [UInt8]) {
        bytes.appendBigEndian(transferID)
        switch self {
        case .chunk(let chunk):
            Self.appendHeader(of: chunk, to: &bytes)
            bytes.append(contentsOf: chunk.payload)
        case .ack(let ack):
            bytes.appendBigEndian(ack.epoch)
            bytes.appendBigEndian(ack.cumulative)
            bytes.appendBigEndian(ack.largest)
            let ranges = ack.ranges.prefix(Ack.maxRanges)
            bytes.append(UInt8(ranges.count))
            for range in ranges {
                bytes.appendBigEndian(range.lowerBound)
                bytes.appendBigEndian(range.upperBound)
            }
        case .end(let end):
            bytes.appendBigEndian(end.totalBytes)
            bytes.append(contentsOf: end.digest)
            bytes.appendBigEndian(end.epoch)
        case .done(let done):
            bytes.append(done.status.rawValue)
        }
    }

    public static func decode(type: MessageType, body: [UInt8]) throws(WireError) -> TransferMessage {
        try decode(type: type, body: body[...])
    }

    /// Decodes a body; a chunk's payload stays a slice of `body` (no copy).
    public static func decode(type: MessageType, body: ArraySlice<UInt8>) throws(WireError) -> TransferMessage {
        var reader = ByteReader(body)
        let id = try reader.readUInt64()
        switch type {
        case .transferChunk:
            let sequence = try reader.readUInt32()
            let count = try reader.readUInt32()
            let total = try reader.readUInt64()
            let size = try reader.readUInt32()
            let flags = Chunk.Flags(rawValue: try reader.readUInt8())
            guard flags.rawValue & ~Chunk.Flags.ackNow.rawValue == 0 else { throw WireError(.malformedBody, "unknown chunk flags \(flags.rawValue)") }
            let payload = body[(body.startIndex + Self.chunkHeaderSize)...]
            return .chunk(Chunk(transferID: id, sequence: sequence, chunkCount: count, totalBytes: total, chunkSize: size, flags: flags, payload: payload))
        case .transferAck:
            let epoch = try reader.readUInt32()
            let cumulative = try reader.readUInt32()
            let largest = try reader.readUInt32()
            let count = Int(try reader.readUInt8())
            guard count <= Ack.maxRanges else { throw WireError(.malformedBody, "an ack carries at most \(Ack.maxRanges) ranges, not \(count)") }
            var ranges: [Range<UInt32>] = []
            for _ in 0..<count {
                let lower = try reader.readUInt32(), upper = try reader.readUInt32()
                guard lower < upper else { throw WireError(.malformedBody, "an ack range \(lower)..<\(upper) is empty or reversed") }
                // Newest first, apart, above the cumulative point: together they
                // never name a chunk twice, so reading them costs at most the object.
                guard lower > cumulative, upper < (ranges.last?.lowerBound ?? UInt32.max) else {
                    throw WireError(.malformedBody, "ack ranges overlap, touch, or are out of order")
                }
                ranges.append(lower..<upper)
            }
            try reader.expectEnd()
            return .ack(Ack(transferID: id, epoch: epoch, cumulative: cumulative, largest: largest, ranges: ranges))
        case .transferEnd:
            let total = try reader.readUInt64()
            let digest = try reader.readBytes(32)
            let epoch = try reader.readUInt32()
            try reader.expectEnd()
            return .end(End(transferID: id, totalBytes: total, digest: digest, epoch: epoch))
        case .transferDone:
            guard let status = Done.Status(rawValue: try reader.readUInt8()) else {
                throw WireError(.malformedBody, "unknown transfer status")
            }
            try reader.expectEnd()
            return .done(Done(transferID: id, status: status))
        default:
            throw WireError(.unknownType, "message type \(type) is not part of the transfer protocol")
        }
    }
}
