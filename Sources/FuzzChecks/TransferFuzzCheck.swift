import Crypto
import PhotoCloudProtocol

/// The `transfer` target's checks: a script of decoded datagrams and timer
/// firings (`TransferFuzzScript`) drives receivers, admitted by a
/// `TransferAdmission` and created by `TransferReceiver.accept` as
/// `TransferEndpoint` does, and one `TransferSender` of a fixed object. Beside
/// "no trap", what each may do:
///
/// - a receiver's acknowledgement names its epoch, a cumulative point and
///   ranges within the chunk count that name only chunks that arrived, decodes
///   as it was sent, and (when a datagram caused it) is at most three times
///   that datagram;
/// - an object is delivered at most once, after an end, with the SHA-256 of
///   that end, and holds the chunks in the order of their sequence numbers
///   (the first copy of each that fit the object's shape);
/// - progress only grows and stays within the object;
/// - admission never holds more than its limits (announced transfers counted by
///   what has arrived, as the endpoint charges them), and every receiver it let in
///   is closed when the receiver finishes;
/// - the sender sends only chunks of its object, ends with the object's
///   digest, completes only after a delivered `done` that followed its end,
///   and says nothing once finished.
public enum TransferFuzzCheck {
    /// The largest object a receiver takes here (memory stays bounded).
    public static let maxBytes = 1 << 20
    public static let receiverEpoch: UInt32 = 7
    public static let senderTransferID: UInt64 = 0x5E4D
    public static let senderChunkSize = 1_000
    /// The sender's object: five chunks, the last one short.
    public static let senderObject: [UInt8] = (0..<4_500).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    public static let admissionLimits = TransferAdmission<Int>.Limits(
        unsolicitedBytes: 64 << 10, unsolicitedPerSource: 2, unsolicitedTotal: 192 << 10, inFlightTotal: 2 << 20, maxExpected: 16)

    /// What a script made the machines do (for tests that seeds reach what they are for).
    public struct Summary: Sendable, Equatable {
        public var delivered = 0
        /// Transfers refused by admission or by the receiver's checks of the first chunk.
        public var refused = 0
        /// Receivers that failed: a digest mismatch, or idle too long.
        public var failed = 0
        public var senderCompleted = false
        public var senderFailed = false
    }

    public static func check(_ input: [UInt8]) throws(FuzzViolation) {
        _ = try run(input)
    }

    @discardableResult
    public static func run(_ input: [UInt8]) throws(FuzzViolation) -> Summary {
        let script = TransferFuzzScript(input)
        var run = try TransferRun(options: script.options)
        for step in script.steps { try run.apply(step) }
        return run.summary
    }
}

/// One run of a script: the machines and what is known of them.
struct TransferRun {
    struct Incoming {
        var receiver: TransferReceiver
        /// The first chunk's shape, and the first copy of each chunk that fit it.
        let chunkSize: UInt32
        var arrived: [Int: ArraySlice<UInt8>] = [:]
        var progress = 0
        /// The digest of the end the receiver is verifying (external mode) or took last.
        var endDigest: [UInt8]?
        var deliveries = 0
    }

    let options: TransferFuzzScript.Options
    var now = Instant(nanoseconds: 1_000_000_000)
    var admission = TransferAdmission<Int>(limits: TransferFuzzCheck.admissionLimits)
    var incoming: [UInt64: Incoming] = [:]
    var sender: TransferSender
    let senderDigest: [UInt8]
    var senderEnded = false
    var senderFinished = false
    var summary = TransferFuzzCheck.Summary()

    init(options: TransferFuzzScript.Options) throws(FuzzViolation) {
        self.options = options
        senderDigest = Array(SHA256.hash(data: TransferFuzzCheck.senderObject))
        let configuration = TransferSender.Configuration(
            chunkSize: TransferFuzzCheck.senderChunkSize, window: 4,
            digest: options.contains(.senderDigestExternal) ? .external : .inline)
        do {
            sender = try TransferSender(transferID: TransferFuzzCheck.senderTransferID, data: TransferFuzzCheck.senderObject,
                                        digest: options.contains(.senderDigestGiven) ? senderDigest : nil, configuration: configuration)
        } catch {
            throw FuzzViolation(.invariant, "a valid sender configuration is refused: \(error)")
        }
        try onSender(sender.start(now: now))
    }

    mutating func apply(_ step: TransferFuzzScript.Step) throws(FuzzViolation) {
        now = now + step.advance
        switch step.action {
        case .message(let type, let body):
            guard let message = try? TransferMessage.decode(type: type, body: body) else { return }
            let datagram = Wire.headerSize + body.count
            switch message {
            case .chunk, .end: try toReceiver(message, datagram: datagram, from: step.source)
            case .ack, .done: try onSender(sender.on(message, now: now), after: message)
            }
        case .receiverTimers:
            for id in incoming.keys.sorted() {
                guard let directives = incoming[id]?.receiver.onTimer(now: now) else { continue }
                try onReceiver(directives, id: id, datagram: nil)
            }
        case .senderTimer:
            if options.contains(.senderDigestExternal) { try onSender(sender.onDigest(senderDigest, now: now)) }
            try onSender(sender.onTimer(now: now))
        case .expect(let id, let maxBytes, let seconds):
            admission.expect(id, maxBytes: maxBytes % (TransferFuzzCheck.maxBytes + 1), until: now + .seconds(Int(seconds)))
        case .forget(let id):
            admission.forget(id)
            admission.expire(now: now)
        }
        try checkAdmission()
    }

    // MARK: Receivers

    mutating func toReceiver(_ message: TransferMessage, datagram: Int, from source: Int) throws(FuzzViolation) {
        let id = message.transferID
        if incoming[id] == nil {
            guard case .chunk(let first) = message else { return }   // the endpoint answers an epoch-0 ack
            let grant: TransferAdmission<Int>.Grant
            switch admission.admit(id, totalBytes: first.totalBytes, from: source, now: now) {
            case .success(let granted): grant = granted
            case .failure:
                summary.refused += 1
                return
            }
            var configuration = TransferReceiver.Configuration(digest: options.contains(.receiverDigestExternal) ? .external : .inline)
            configuration.maxBytes = if case .expected(let bytes) = grant { bytes } else { admission.limits.unsolicitedBytes }
            try require(configuration.maxBytes <= TransferFuzzCheck.maxBytes, .bound, "admission granted \(configuration.maxBytes) bytes")
            switch TransferReceiver.accept(first, configuration: configuration, epoch: TransferFuzzCheck.receiverEpoch, now: now) {
            case .success(let receiver):
                try require(receiver.totalBytes <= configuration.maxBytes, .bound,
                            "a receiver of \(receiver.totalBytes) bytes was made under a limit of \(configuration.maxBytes)")
                incoming[id] = Incoming(receiver: receiver, chunkSize: first.chunkSize)
            case .failure:
                summary.refused += 1
                admission.close(id)
                return
            }
        }
        guard var transfer = incoming[id] else { return }
        // As the endpoint: a chunk is let in only while there is room, and what arrives is charged.
        if case .chunk(let chunk) = message, !admission.hasRoom(for: chunk.payload.count) { return }
        switch message {
        case .chunk(let chunk):
            let receiver = transfer.receiver
            let sequence = Int(chunk.sequence)
            let fits = chunk.chunkCount == UInt32(receiver.chunkCount) && chunk.totalBytes == UInt64(receiver.totalBytes)
                && chunk.chunkSize == transfer.chunkSize && sequence < receiver.chunkCount
                && chunk.payload.count == min(receiver.totalBytes - sequence * Int(transfer.chunkSize), Int(transfer.chunkSize))
            if fits, !receiver.isFinished, transfer.arrived[sequence] == nil { transfer.arrived[sequence] = chunk.payload }
        case .end(let end):
            if end.epoch == transfer.receiver.epoch && transfer.arrived.count == transfer.receiver.chunkCount && !transfer.receiver.isFinished
                && transfer.endDigest == nil {
                transfer.endDigest = end.digest
            }
        case .ack, .done:
            break
        }
        let before = transfer.receiver.receivedBytes
        let directives = transfer.receiver.on(message, now: now)
        admission.charge(id, bytes: transfer.receiver.receivedBytes - before)
        incoming[id] = transfer
        try onReceiver(directives, id: id, datagram: datagram)
    }

    mutating func onReceiver(_ directives: [TransferDirective], id: UInt64, datagram: Int?) throws(FuzzViolation) {
        for directive in directives {
            guard var transfer = incoming[id] else {
                throw FuzzViolation(.invariant, "transfer \(id): \(directive) after the receiver finished")
            }
            let receiver = transfer.receiver
            switch directive {
            case .send(.ack(let ack)):
                try checkAck(ack, of: transfer, datagram: datagram)
            case .send(.done(let done)):
                try require(done.transferID == id, .invariant, "transfer \(id): a done for \(done.transferID)")
            case .send(let other):
                throw FuzzViolation(.invariant, "transfer \(id): a receiver sent \(other)")
            case .progress(_, let bytes, let total):
                // Never backwards (an empty object's only chunk reports 0 of 0).
                try require(total == receiver.totalBytes && bytes <= total && bytes >= transfer.progress, .invariant,
                            "transfer \(id): progress to \(bytes) of \(total) after \(transfer.progress) of \(receiver.totalBytes)")
                transfer.progress = bytes
                incoming[id] = transfer
            case .verifyDigest:
                try require(receiver.chunkCount == transfer.arrived.count, .invariant, "transfer \(id): verifyDigest with chunks missing")
                let digest = receiver.buffer.withUnsafeBytes { Array(SHA256.hash(data: $0)) }
                try onReceiver(incoming[id]!.receiver.onDigest(digest, now: now), id: id, datagram: nil)
            case .deliver(_, let object):
                try checkDelivery(object, of: transfer, id: id)
                transfer.deliveries += 1
                summary.delivered += 1
                incoming[id] = transfer
            case .complete:
                throw FuzzViolation(.invariant, "transfer \(id): a receiver completed")
            case .fail:
                summary.failed += 1
            case .armTimer:
                break
            }
        }
        // Finished (delivered, refused or given up): the endpoint forgets it and frees its memory.
        if let transfer = incoming[id], transfer.receiver.isFinished {
            incoming[id] = nil
            admission.close(id)
        }
    }

    func checkAck(_ ack: TransferMessage.Ack, of transfer: Incoming, datagram: Int?) throws(FuzzViolation) {
        let receiver = transfer.receiver, count = receiver.chunkCount
        try require(ack.transferID == receiver.transferID && ack.epoch == receiver.epoch, .invariant,
                    "an ack of transfer \(ack.transferID) epoch \(ack.epoch) from receiver \(receiver.transferID) epoch \(receiver.epoch)")
        try require(Int(ack.cumulative) <= count && Int(ack.largest) < count, .invariant,
                    "an ack with cumulative \(ack.cumulative), largest \(ack.largest) for \(count) chunks")
        try require((0..<Int(ack.cumulative)).allSatisfy { transfer.arrived[$0] != nil }, .invariant,
                    "an ack's cumulative point \(ack.cumulative) covers a chunk that never arrived")
        for range in ack.ranges {
            try require(Int(range.upperBound) <= count && range.allSatisfy { transfer.arrived[Int($0)] != nil }, .invariant,
                        "an ack range \(range) of \(count) chunks names a chunk that never arrived")
        }
        let encoded = TransferMessage.ack(ack).encoded()
        try require((try? TransferMessage.decode(type: .transferAck, body: encoded)) == .ack(ack), .roundTrip,
                    "a receiver's ack \(ack) does not decode as sent")
        if let datagram {
            try require(Wire.headerSize + encoded.count <= 3 * datagram, .bound,
                        "an ack of \(Wire.headerSize + encoded.count) bytes answers a datagram of \(datagram)")
        }
    }

    func checkDelivery(_ object: ObjectBuffer, of transfer: Incoming, id: UInt64) throws(FuzzViolation) {
        try require(transfer.deliveries == 0, .invariant, "transfer \(id) delivered twice")
        guard let digest = transfer.endDigest else { throw FuzzViolation(.invariant, "transfer \(id) delivered before its end") }
        let bytes = object.bytes
        try require(bytes.count == transfer.receiver.totalBytes, .invariant, "transfer \(id) delivered \(bytes.count) of \(transfer.receiver.totalBytes) bytes")
        try require(Array(SHA256.hash(data: bytes)) == digest, .invariant, "transfer \(id) delivered an object whose digest does not match its end")
        var expected: [UInt8] = []
        for sequence in 0..<transfer.receiver.chunkCount { expected += transfer.arrived[sequence] ?? [] }
        try require(bytes == expected, .invariant, "transfer \(id) delivered bytes other than its chunks in order")
    }

    func checkAdmission() throws(FuzzViolation) {
        let limits = admission.limits
        try require(admission.inFlightBytes >= 0 && admission.inFlightBytes <= limits.inFlightTotal, .bound,
                    "admission holds \(admission.inFlightBytes) bytes in flight (limit \(limits.inFlightTotal))")
        try require(admission.unsolicitedInFlight >= 0 && admission.unsolicitedInFlight <= limits.unsolicitedTotal, .bound,
                    "admission holds \(admission.unsolicitedInFlight) unannounced bytes (limit \(limits.unsolicitedTotal))")
        try require(admission.openCount == incoming.count, .invariant,
                    "admission counts \(admission.openCount) open transfers, the receivers are \(incoming.count)")
        try require(admission.expectedCount <= limits.maxExpected, .bound, "admission remembers \(admission.expectedCount) announcements")
        let held = incoming.values.reduce(0) { $0 + $1.receiver.receivedBytes }
        try require(held <= admission.inFlightBytes, .bound, "receivers hold \(held) bytes, admission counts \(admission.inFlightBytes)")
    }

    // MARK: Sender

    mutating func onSender(_ directives: [TransferDirective], after message: TransferMessage? = nil) throws(FuzzViolation) {
        try require(!senderFinished || directives.isEmpty, .invariant, "the sender said \(directives) after it finished")
        let object = TransferFuzzCheck.senderObject, size = TransferFuzzCheck.senderChunkSize
        for directive in directives {
            switch directive {
            case .send(.chunk(let chunk)):
                let start = Int(chunk.sequence) * size
                try require(chunk.transferID == TransferFuzzCheck.senderTransferID && chunk.chunkCount == 5 && chunk.totalBytes == 4_500
                            && chunk.chunkSize == UInt32(size) && start < object.count
                            && chunk.payload.elementsEqual(object[start..<min(start + size, object.count)]), .invariant,
                            "the sender sent a chunk that is not its object's: \(chunk.sequence) of \(chunk.chunkCount)")
            case .send(.end(let end)):
                try require(end.digest == senderDigest && end.totalBytes == 4_500, .invariant, "the sender ended with another object's digest")
                senderEnded = true
            case .send(let other):
                throw FuzzViolation(.invariant, "the sender sent \(other)")
            case .complete:
                guard case .done(let done)? = message, done.status == .delivered, senderEnded else {
                    throw FuzzViolation(.invariant, "the sender completed without a delivered done after its end")
                }
                senderFinished = true
                summary.senderCompleted = true
            case .fail:
                senderFinished = true
                summary.senderFailed = true
            case .progress(_, let bytes, let total):
                try require(total == 4_500 && bytes >= 0 && bytes <= total, .invariant, "sender progress \(bytes) of \(total)")
            case .armTimer:
                break
            case .deliver, .verifyDigest:
                throw FuzzViolation(.invariant, "the sender asked for \(directive)")
            }
        }
        try require(senderFinished == sender.isFinished, .invariant, "the sender finished without saying so, or said so and goes on")
    }
}
