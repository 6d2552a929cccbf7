import Crypto

/// The sending side of a transfer as a pure state machine: events in
/// (`start`, `on(message)`, `onTimer`), directives out. Time is injected.
///
/// A sliding window of chunks, acknowledged selectively; loss is detected as
/// RFC 9002 does (a chunk three behind the largest acknowledged, or older than
/// 9/8 of the round trip) and by an RFC 6298 retransmission timeout; NewReno
/// congestion control with pacing limits what is in flight, and `window`
/// caps it (1 is stop-and-wait). When every chunk is acknowledged the sender
/// sends the SHA-256 of the object and completes only when the receiver
/// confirms it.
///
/// Resumption: acknowledgements carry the receiver's epoch. A sender started
/// again with the same transfer id (after its own restart) learns from the
/// first acknowledgement what the receiver already holds and sends only the
/// rest; a receiver that restarted answers with a new epoch, and the sender
/// forgets what the old one had acknowledged and sends it again.
public struct TransferSender: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var chunkSize: Int
        /// Chunks in flight at most (1: stop-and-wait, as the original system).
        /// 64 x 60 KB fits the receive buffer Linux allows by default
        /// (rmem_max 4 MiB, doubled): 128 overflowed it at the start of
        /// every loopback transfer and lost 24 chunks.
        public var window: Int
        public var pacing: Bool
        /// Give up after this long without progress.
        public var idleTimeout: Duration
        public var rtt: RTTEstimator
        /// Who computes the object's digest when it is not given (`external`:
        /// the driver calls `onDigest`, and the end waits for it).
        public var digest: DigestMode

        public init(chunkSize: Int = 60_000, window: Int = 64, pacing: Bool = true,
                    idleTimeout: Duration = .seconds(10), rtt: RTTEstimator = RTTEstimator(), digest: DigestMode = .inline) {
            self.chunkSize = chunkSize
            self.window = window
            self.pacing = pacing
            self.idleTimeout = idleTimeout
            self.rtt = rtt
            self.digest = digest
        }

        public static let maxChunkSize = Wire.maxPayload - TransferMessage.chunkHeaderSize
        /// Smaller chunks are refused (but for an object of one chunk): the
        /// receiver's table of chunks stays a small fraction of the object.
        public static let minChunkSize = 1_000
    }

    private enum Phase: Equatable {
        case sending
        /// Every chunk is acknowledged; the driver is still computing the digest.
        case awaitingDigest
        case ending
        case finished
    }

    public let transferID: UInt64
    public let configuration: Configuration
    public private(set) var rtt: RTTEstimator
    public private(set) var congestion: CongestionController
    public private(set) var retransmitted = 0
    /// Chunk datagrams sent (every transmission).
    public private(set) var chunksSent = 0
    private let data: [UInt8]
    private let chunkCount: Int
    private var phase = Phase.sending
    private var acked: [Bool]
    private var ackedCount = 0
    private var ackedBelow = 0              // every chunk below is acknowledged
    /// Every transmission gets the next packet number; loss is judged in packet
    /// numbers (sending order), not chunk numbers, so a retransmitted chunk is
    /// not declared lost again by acknowledgements of chunks sent before it.
    private var nextPacket = 0
    private var largestAckedPacket = -1
    private var lastSent: [Instant?]        // when each chunk was last sent, nil if not in flight
    private var lastPacket: [Int]
    private var wasRetransmitted: [Bool]
    private var flight: [FlightEntry] = []  // in send order; stale entries skipped
    private var flightStart = 0
    private var inFlightCount = 0
    private var lossQueue: [Int] = []       // chunks to send again, oldest first
    private var nextNew = 0                 // the forward scan: chunks below were sent, acknowledged or in flight
    private var hasher = SHA256()
    private var hashedChunks = 0            // inline digest: chunks hashed so far
    private var digest: [UInt8]?
    private var receiverEpoch: UInt32?
    private var retiredEpochs: Set<UInt32> = []
    private var lastProgress = Instant.zero
    private var endSentAt: Instant?
    private var endTimeout: Duration
    private var pacingBlocked = false

    /// Receiver epochs retired at most before the sender gives up.
    static let maxReceiverRestarts = 16

    /// `digest`, when the caller knows the object's SHA-256 already, saves hashing it again.
    public init(transferID: UInt64, data: [UInt8], digest: [UInt8]? = nil, configuration: Configuration = Configuration()) throws(TransferError) {
        if let digest, digest.count != 32 { throw TransferError(.invalidArgument, "a SHA-256 digest is 32 bytes, not \(digest.count)") }
        guard (Configuration.minChunkSize...Configuration.maxChunkSize).contains(configuration.chunkSize) else {
            throw TransferError(.invalidArgument, "chunk size must be \(Configuration.minChunkSize) to \(Configuration.maxChunkSize) bytes, not \(configuration.chunkSize)")
        }
        guard configuration.window >= 1 else { throw TransferError(.invalidArgument, "the window must be at least 1 chunk") }
        let count = max(1, (data.count + configuration.chunkSize - 1) / configuration.chunkSize)
        guard count <= Int(UInt32.max) else { throw TransferError(.invalidArgument, "the object is too large to send") }
        self.transferID = transferID
        self.configuration = configuration
        self.data = data
        chunkCount = count
        rtt = configuration.rtt
        congestion = CongestionController(maxDatagram: configuration.chunkSize)
        acked = [Bool](repeating: false, count: count)
        lastSent = [Instant?](repeating: nil, count: count)
        lastPacket = [Int](repeating: -1, count: count)
        wasRetransmitted = [Bool](repeating: false, count: count)
        endTimeout = configuration.rtt.initialRTO
        self.digest = digest
    }

    public var isFinished: Bool { phase == .finished }
    public var totalBytes: Int { data.count }

    /// The object's SHA-256, from the driver (`DigestMode.external`).
    public mutating func onDigest(_ digest: [UInt8], now: Instant) -> [TransferDirective] {
        guard self.digest == nil, digest.count == 32 else { return [] }
        self.digest = digest
        guard phase == .awaitingDigest else { return [] }
        var directives: [TransferDirective] = []
        sendEnd(now: now, into: &directives)
        directives.append(.armTimer(nextDeadline(now: now)))
        return directives
    }

    public mutating func start(now: Instant) -> [TransferDirective] {
        lastProgress = now
        var directives: [TransferDirective] = []
        sendAllowed(now: now, into: &directives)
        directives.append(.armTimer(nextDeadline(now: now)))
        return directives
    }

    public mutating func on(_ message: TransferMessage, now: Instant) -> [TransferDirective] {
        guard phase != .finished, message.transferID == transferID else { return [] }
        var directives: [TransferDirective] = []
        switch message {
        case .ack(let ack): onAck(ack, now: now, into: &directives)
        case .done(let done): onDone(done, into: &directives)
        case .chunk, .end: return []
        }
        if phase != .finished { directives.append(.armTimer(nextDeadline(now: now))) }
        return directives
    }

    public mutating func onTimer(now: Instant) -> [TransferDirective] {
        guard phase != .finished else { return [] }
        var directives: [TransferDirective] = []
        if now.since(lastProgress) >= configuration.idleTimeout {
            phase = .finished
            let seconds = Double(configuration.idleTimeout.nanoseconds) / 1e9
            return [.fail(transferID: transferID, TransferError(.noProgress, "the receiver acknowledged nothing for \(seconds) s; giving up"))]
        }
        switch phase {
        case .sending:
            detectLosses(now: now)
            if let oldest = oldestInFlight(), now.since(oldest.sentAt) >= rtt.timeout {
                // Retransmission timeout: resend the oldest chunk, back off, collapse the window.
                markLost(oldest.sequence, now: now)
                rtt.backOff()
                congestion.onTimeout(now: now)
            }
            sendAllowed(now: now, into: &directives)
        case .ending:
            if let sent = endSentAt, now.since(sent) >= endTimeout {
                endTimeout = min(endTimeout * 2, rtt.maximumRTO)
                sendEnd(now: now, into: &directives)
            }
        case .awaitingDigest, .finished:
            break
        }
        directives.append(.armTimer(nextDeadline(now: now)))
        return directives
    }

    // MARK: Acknowledgements

    private mutating func onAck(_ ack: TransferMessage.Ack, now: Instant, into directives: inout [TransferDirective]) {
        let count = UInt32(chunkCount)
        guard ack.cumulative <= count, ack.largest < count, ack.ranges.allSatisfy({ $0.upperBound <= count }),
              !retiredEpochs.contains(ack.epoch) else { return }
        if let known = receiverEpoch, ack.epoch != known {
            // The receiver restarted (or forgot the transfer): only what this ack reports is there.
            // A receiver that "restarts" again and again (or a stranger who says so) ends the transfer.
            guard retiredEpochs.count < Self.maxReceiverRestarts else {
                phase = .finished
                directives.append(.fail(transferID: transferID, TransferError(.noProgress, "the receiver restarted \(Self.maxReceiverRestarts) times; giving up")))
                return
            }
            forgetAcknowledgements(retiring: known)
        }
        receiverEpoch = ack.epoch == 0 ? nil : ack.epoch
        let before = ackedCount
        var sample: Duration?
        func acknowledge(_ sequence: Int) {
            guard !acked[sequence] else { return }
            acked[sequence] = true
            ackedCount += 1
            if let sentAt = lastSent[sequence] {
                if sequence == Int(ack.largest) && !wasRetransmitted[sequence] { sample = now.since(sentAt) }
                congestion.onAcked(chunkLength(sequence), sentAt: sentAt, now: now)
                lastSent[sequence] = nil
                inFlightCount -= 1
            }
        }
        while ackedBelow < Int(ack.cumulative) {
            acknowledge(ackedBelow)
            ackedBelow += 1
        }
        for range in ack.ranges {
            for sequence in max(ackedBelow, Int(range.lowerBound))..<max(ackedBelow, Int(range.upperBound)) { acknowledge(sequence) }
        }
        while ackedBelow < chunkCount && acked[ackedBelow] { ackedBelow += 1 }
        if let sample { rtt.record(sample) }
        largestAckedPacket = max(largestAckedPacket, lastPacket[Int(ack.largest)])
        if ackedCount > before {
            lastProgress = now
            directives.append(.progress(transferID: transferID, bytes: min(data.count, ackedCount * configuration.chunkSize), of: data.count))
        }
        if ackedCount == chunkCount {
            if phase == .sending {
                if digest != nil || configuration.digest == .inline { sendEnd(now: now, into: &directives) } else { phase = .awaitingDigest }
            }
            return
        }
        detectLosses(now: now)
        sendAllowed(now: now, into: &directives)
    }

    /// Every chunk not reported by the receiver's new epoch is to be sent again
    /// (those in flight stay in flight: their acknowledgements will tell).
    private mutating func forgetAcknowledgements(retiring epoch: UInt32) {
        retiredEpochs.insert(epoch)
        acked = [Bool](repeating: false, count: chunkCount)
        ackedCount = 0
        ackedBelow = 0
        nextNew = 0
        lossQueue.removeAll()
        if phase == .ending || phase == .awaitingDigest {
            phase = .sending
            endSentAt = nil
        }
    }

    private mutating func onDone(_ done: TransferMessage.Done, into directives: inout [TransferDirective]) {
        switch done.status {
        case .delivered:
            guard phase == .ending else { return }   // only after our digest went out and was checked
            phase = .finished
            directives.append(.complete(transferID: transferID))
        case .digestMismatch:
            phase = .finished
            directives.append(.fail(transferID: transferID, TransferError(.digestMismatch, "the receiver's copy does not match the object's digest; it was discarded")))
        case .tooLarge:
            phase = .finished
            directives.append(.fail(transferID: transferID, TransferError(.refusedTooLarge, "the receiver refused the transfer: \(data.count) bytes is more than it accepts")))
        case .malformed:
            phase = .finished
            directives.append(.fail(transferID: transferID, TransferError(.malformed, "the receiver refused the transfer as malformed")))
        case .unknownTransfer:
            phase = .finished
            directives.append(.fail(transferID: transferID, TransferError(.unknownTransfer, "the receiver no longer knows this transfer (it gave up on it); send it again")))
        case .unexpected:
            phase = .finished
            directives.append(.fail(transferID: transferID, TransferError(.refused, "the receiver did not ask for this object")))
        case .busy:
            phase = .finished
            directives.append(.fail(transferID: transferID, TransferError(.refused, "the receiver is busy (too much in flight); try again later")))
        }
    }

    // MARK: Loss detection (RFC 9002 section 6.1)

    private var lossDelay: Duration {
        let base = max(rtt.smoothed ?? rtt.initialRTO, rtt.latest)
        return max(RTTEstimator.granularity, base * 9 / 8)
    }

    private mutating func detectLosses(now: Instant) {
        guard largestAckedPacket >= 0 else { return }
        let delay = lossDelay
        var index = flightStart
        while index < flight.count {
            let entry = flight[index]
            index += 1
            guard entry.packet < largestAckedPacket else { break }   // in send order: the rest came later
            guard isLive(entry) else { continue }
            if largestAckedPacket - entry.packet >= 3 || now.since(entry.sentAt) >= delay {
                markLost(entry.sequence, now: now)
            }
        }
    }

    private mutating func markLost(_ sequence: Int, now: Instant) {
        guard let sentAt = lastSent[sequence] else { return }
        lastSent[sequence] = nil
        inFlightCount -= 1
        congestion.onLost(chunkLength(sequence), sentAt: sentAt, now: now, rtt: rtt)
        lossQueue.append(sequence)
    }

    private struct FlightEntry {
        var sequence: Int
        var sentAt: Instant
        var packet: Int
    }

    private func isLive(_ entry: FlightEntry) -> Bool {
        lastPacket[entry.sequence] == entry.packet && lastSent[entry.sequence] != nil && !acked[entry.sequence]
    }

    private mutating func oldestInFlight() -> FlightEntry? {
        while flightStart < flight.count && !isLive(flight[flightStart]) { flightStart += 1 }
        if flightStart > 4_096 && flightStart * 2 > flight.count {
            flight.removeFirst(flightStart)
            flightStart = 0
        }
        return flightStart < flight.count ? flight[flightStart] : nil
    }

    // MARK: Sending

    private mutating func sendAllowed(now: Instant, into directives: inout [TransferDirective]) {
        pacingBlocked = false
        while phase == .sending {
            // Lost chunks first, then new ones.
            while let first = lossQueue.first, acked[first] || lastSent[first] != nil { lossQueue.removeFirst() }
            // The forward scan skips what the receiver already holds (a resumed transfer) or is in flight.
            while nextNew < chunkCount && (acked[nextNew] || lastSent[nextNew] != nil) { nextNew += 1 }
            let sequence: Int
            if let lost = lossQueue.first { sequence = lost } else if nextNew < chunkCount { sequence = nextNew } else { return }
            let length = chunkLength(sequence)
            guard inFlightCount < configuration.window, congestion.canSend(length) || inFlightCount == 0 else { return }
            if configuration.pacing && !congestion.paced(length, now: now, smoothedRTT: rtt.smoothed) {
                pacingBlocked = true
                return
            }
            if sequence == lossQueue.first {
                lossQueue.removeFirst()
            } else {
                nextNew += 1
            }
            let isRetransmission = lastPacket[sequence] >= 0
            if isRetransmission {
                wasRetransmitted[sequence] = true
                retransmitted += 1
            }
            hashInline(through: sequence)
            lastSent[sequence] = now
            lastPacket[sequence] = nextPacket
            inFlightCount += 1
            flight.append(FlightEntry(sequence: sequence, sentAt: now, packet: nextPacket))
            nextPacket += 1
            congestion.onSent(length, now: now)
            chunksSent += 1
            // Ask for an acknowledgement at once when nothing more can go until one comes.
            // (A retransmission too: it fills a gap the sender is waiting on.)
            let waiting = inFlightCount >= configuration.window || !congestion.canSend(configuration.chunkSize)
                || (lossQueue.isEmpty && nextNew >= chunkCount)
            directives.append(.send(chunkMessage(sequence, ackNow: waiting || isRetransmission)))
        }
    }

    /// The inline digest follows the forward scan: every chunk up to `sequence`.
    private mutating func hashInline(through sequence: Int) {
        guard configuration.digest == .inline, digest == nil else { return }
        while hashedChunks <= sequence && hashedChunks < chunkCount {
            hasher.update(data: data[chunkRange(hashedChunks)])
            hashedChunks += 1
        }
    }

    private mutating func sendEnd(now: Instant, into directives: inout [TransferDirective]) {
        if digest == nil {
            hashInline(through: chunkCount - 1)
            digest = Array(hasher.finalize())
        }
        phase = .ending
        endSentAt = now
        directives.append(.send(.end(.init(transferID: transferID, totalBytes: UInt64(data.count), digest: digest ?? [], epoch: receiverEpoch ?? 0))))
    }

    private func chunkRange(_ sequence: Int) -> Range<Int> {
        let start = sequence * configuration.chunkSize
        return start..<min(start + configuration.chunkSize, data.count)
    }

    private func chunkLength(_ sequence: Int) -> Int { chunkRange(sequence).count }

    private func chunkMessage(_ sequence: Int, ackNow: Bool) -> TransferMessage {
        .chunk(.init(transferID: transferID, sequence: UInt32(sequence), chunkCount: UInt32(chunkCount),
                     totalBytes: UInt64(data.count), chunkSize: UInt32(configuration.chunkSize),
                     flags: ackNow ? .ackNow : [], payload: data[chunkRange(sequence)]))
    }

    // MARK: Timer

    private mutating func nextDeadline(now: Instant) -> Instant {
        var deadline = lastProgress + configuration.idleTimeout
        switch phase {
        case .sending:
            if let oldest = oldestInFlight() {
                deadline = min(deadline, oldest.sentAt + rtt.timeout)
                if largestAckedPacket > oldest.packet { deadline = min(deadline, oldest.sentAt + lossDelay) }
            }
            if pacingBlocked {
                deadline = min(deadline, max(now, congestion.nextSendTime(configuration.chunkSize, smoothedRTT: rtt.smoothed)))
            }
        case .ending:
            if let sent = endSentAt { deadline = min(deadline, sent + endTimeout) }
        case .awaitingDigest, .finished:
            break
        }
        return deadline
    }
}
