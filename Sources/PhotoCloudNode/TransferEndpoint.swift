import AsyncUDP
import Foundation
import Logging
import PhotoCloudProtocol
import Synchronization

/// Drives transfer state machines over a UDP socket: many transfers, in both
/// directions, multiplexed by transfer id on one socket. Outgoing objects are
/// sent with `send`; incoming ones arrive on `deliveries`.
///
/// The actor is a thin shell: it decodes datagrams into events for the
/// `TransferSender` or `TransferReceiver` they belong to, carries out the
/// directives that come back (send, arm a timer, deliver, complete, fail), and
/// fires timers from one ticking task while any transfer is active. Objects of
/// a megabyte or more are hashed off the loop (`DigestPipeline`).
///
/// Incoming transfers are known by transfer id alone, and answered wherever
/// their latest chunk came from: a sender that restarts (on a new port) and
/// sends the same object under the same id resumes where the receiver is.
public actor TransferEndpoint {
    public struct Delivery: Sendable {
        public var transferID: UInt64
        public var from: SocketAddress
        public var object: ObjectBuffer
        /// The object as an array (a copy: large objects are better read with `object.withUnsafeBytes`).
        public var bytes: [UInt8] { object.bytes }
    }

    private struct Outgoing {
        var machine: TransferSender
        var peer: SocketAddress
        var continuation: CheckedContinuation<TransferReport, any Error>
        var progress: (@Sendable (Int, Int) -> Void)?
    }

    private struct Incoming {
        var machine: TransferReceiver
        var peer: SocketAddress
        var digest: DigestPipeline?
        /// Where the end that named this receiver's epoch came from: a source
        /// that has shown it receives (see `TransferMessage.End.epoch`).
        var validated: SocketAddress?
        /// How far a large object's pages were faulted in ahead of the data (`faultInAhead`).
        var populated = 0
    }

    /// What is remembered of a decided incoming transfer, to answer its late messages.
    private struct Finished {
        var status: TransferMessage.Done.Status
        var epoch: UInt32
        var chunkCount: UInt32
    }

    /// What a finished send measured.
    public struct TransferReport: Sendable {
        public var bytes: Int
        public var retransmittedChunks: Int
        /// Chunk datagrams this sender sent (fewer than the object has when it resumed).
        public var chunksSent: Int
        public var smoothedRTT: Duration?
    }

    public nonisolated let socket: UDPSocket
    /// The actor runs on this loop's thread, so busy cores elsewhere cannot starve it.
    public nonisolated let loop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    public nonisolated let deliveries: AsyncStream<Delivery>
    private let deliveryContinuation: AsyncStream<Delivery>.Continuation
    private let keys: WireKeys
    private var origin: WireOrigin
    private let receiverConfiguration: TransferReceiver.Configuration
    /// Which incoming transfers may allocate: announced ones, and a small budget for the rest.
    /// Behind a lock so that the control plane can announce an object
    /// synchronously, before it tells the sender to send (no race with the
    /// first chunk).
    private let admission: Mutex<TransferAdmission<SocketAddress>>
    private var nextExpiry = Instant.zero
    /// Answers to datagrams of no open transfer (a refusal, an end of an
    /// unknown transfer) per host: a flood of them gets few answers.
    private var strangers = RateLimiter<SocketAddress>(limits: .init(perSource: .init(rate: 2_000, burst: 500),
                                                                     total: .init(rate: 20_000, burst: 5_000)))
    private let logger: Logger
    private let clock = ProtocolClock()
    private var outgoing: [UInt64: Outgoing] = [:]
    private var incoming: [UInt64: Incoming] = [:]
    private var finished: [UInt64: Finished] = [:]
    /// Oldest first from `finishedHead` (popping the front of an array is a copy of the rest).
    private var finishedOrder: [UInt64] = []
    private var finishedHead = 0
    /// Datagrams dropped because the socket's send buffer was full.
    public private(set) var sendBufferDrops = 0
    private var ticking = false
    /// Every transfer's next deadline (thousands may be open at once: no scans).
    private var timers = TimerQueue<TimerKey>()

    private enum TimerKey: Hashable, Sendable {
        case outgoing(UInt64)
        case incoming(UInt64)
    }
    private var receiveLoop: Task<Void, Never>?
    /// One buffer for every received datagram and one for every sent one: a
    /// fresh 64 KB array per datagram cost page faults on both sides.
    private var receiveBuffer = [UInt8](repeating: 0, count: UDPSocket.maxDatagramSize)
    private var sendBuffer: [UInt8] = []
    /// Address checks that arrive here (`MessageType.addressCheck`, a server's
    /// cookie for this endpoint), handed to whoever owns the endpoint (as a
    /// view of the receive buffer: the hook copies what it keeps).
    private let addressChecks: (@Sendable (ArraySlice<UInt8>, SocketAddress) -> Void)?
    /// Answers that came in one datagram (`MessageType.encryptAnswer`), handed likewise.
    private let answers: (@Sendable (ArraySlice<UInt8>, SocketAddress) -> Void)?

    /// `receiver` sets timeouts and digests of incoming transfers; `admission`
    /// how large they may be: an announced one (`expect`) up to its
    /// announcement, any other within the budget for strangers.
    public init(socket: UDPSocket, loop: EventLoop = .shared, keys: WireKeys = WireKeys(), nodeID: UInt64 = UInt64.random(in: 1...UInt64.max),
                receiver: TransferReceiver.Configuration = .init(), admission: TransferAdmission<SocketAddress>.Limits = .init(),
                logger: Logger = Logger(label: "photocloud.transfer"), addressChecks: (@Sendable (ArraySlice<UInt8>, SocketAddress) -> Void)? = nil,
                answers: (@Sendable (ArraySlice<UInt8>, SocketAddress) -> Void)? = nil) {
        self.socket = socket
        self.addressChecks = addressChecks
        self.answers = answers
        self.loop = loop
        self.keys = keys
        origin = WireOrigin(sender: nodeID)
        receiverConfiguration = receiver
        self.admission = Mutex(TransferAdmission(limits: admission))
        self.logger = logger
        (deliveries, deliveryContinuation) = AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .unbounded)
    }

    /// Starts reading the socket (call once).
    public func start() {
        guard receiveLoop == nil else { return }
        let socket = self.socket
        receiveLoop = Task(executorPreference: loop) { [weak self] in
            await socket.drainWhenReadable { await self?.drainSocket() ?? .stopped }
        }
    }

    /// Stops reading, fails transfers in progress, closes the socket.
    public func close() {
        receiveLoop?.cancel()
        socket.close()
        for (_, transfer) in outgoing {
            transfer.continuation.resume(throwing: TransferError(.noProgress, "the transfer endpoint was closed"))
        }
        outgoing = [:]
        deliveryContinuation.finish()
    }

    /// Sends `data` to the endpoint at `peer`; returns when the receiver has
    /// confirmed an intact copy, throws `TransferError` otherwise.
    ///
    /// `transferID` names this object from this sender (random if not given):
    /// sending it again under the same id, for example after a restart, resumes
    /// with what the receiver already holds. `digest`, if the caller has the
    /// object's SHA-256 already, is not computed again.
    public func send(_ data: [UInt8], to peer: SocketAddress, transferID: UInt64? = nil, digest: [UInt8]? = nil,
                     configuration: TransferSender.Configuration = .init(),
                     progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> TransferReport {
        let id = transferID ?? UInt64.random(in: 1...UInt64.max)
        guard outgoing[id] == nil else { throw TransferError(.invalidArgument, "transfer \(id) is already being sent") }
        var configuration = configuration
        let pipeline = digest == nil && data.count >= DigestPipeline.threshold ? DigestPipeline() : nil
        if pipeline != nil { configuration.digest = .external }
        let machine = try TransferSender(transferID: id, data: data, digest: digest, configuration: configuration)
        if let pipeline {
            pipeline.hash(data)
            pipeline.finish { [weak self] digest in
                Task { await self?.senderDigest(digest, id: id) }
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            outgoing[id] = Outgoing(machine: machine, peer: peer, continuation: continuation, progress: progress)
            let directives = outgoing[id]!.machine.start(now: now())
            applySender(directives, id: id)
        }
    }

    /// Announces an object this node asked for: a transfer `id` of at most
    /// `maxBytes` is taken in full if its first chunk comes within `within`.
    /// Asked for anew, an object delivered before under this id is taken again.
    public nonisolated func expect(_ id: UInt64, maxBytes: Int, within: Duration) {
        expect([id], maxBytes: maxBytes, within: within)
    }

    /// Announces several objects at once (one of which will come).
    public nonisolated func expect(_ ids: [UInt64], maxBytes: Int, within: Duration) {
        let until = clock.now() + within
        admission.withLock { admission in
            for id in ids { admission.expect(id, maxBytes: maxBytes, until: until) }
        }
    }

    /// The announced object is no longer wanted: its announcement goes, and
    /// so does its transfer if one is under way (its memory is freed).
    public func abandon(_ id: UInt64) {
        admission.withLock { $0.forget(id) }
        guard let transfer = incoming[id] else { return }
        remember(id, transfer.machine, .unknownTransfer)
    }

    private func senderDigest(_ digest: [UInt8], id: UInt64) {
        guard outgoing[id] != nil else { return }
        let directives = outgoing[id]!.machine.onDigest(digest, now: now())
        applySender(directives, id: id)
    }

    /// Faults in a large object's pages ahead of the receiver, off its loop
    /// (see `ObjectBuffer.populate`), so that its writes do not stop for the
    /// kernel: never further ahead than what has arrived (at most 8 MiB), so
    /// the memory a sender makes this node commit stays within twice what it
    /// sent. Huge pages for that window once 4 MiB have arrived in order.
    private func faultInAhead(_ id: UInt64, arrived: Int) {
        guard let transfer = incoming[id], transfer.machine.buffer.isLarge else { return }
        let step = 4 << 20
        let object = transfer.machine.buffer
        let target = min(object.count, arrived + min(2 * step, arrived))
        guard target >= transfer.populated + step || (target == object.count && target > transfer.populated) else { return }
        let from = transfer.populated
        // Huge pages only for the window about to be filled, once 4 MiB have come in order:
        // chunks far ahead of the data land in small pages.
        if arrived >= step { object.adviseHugePages(from..<target) }
        incoming[id]?.populated = target
        DispatchQueue.global().async { object.populate(from..<target) }
    }

    private func receiverDigest(_ digest: [UInt8], id: UInt64) {
        guard incoming[id] != nil else { return }
        let directives = incoming[id]!.machine.onDigest(digest, now: now())
        applyReceiver(directives, id: id)
    }

    // MARK: Events

    /// Handles a batch of the datagrams queued now.
    private func drainSocket() -> UDPSocket.Drained {
        socket.receiveEach(into: &receiveBuffer) { bytes, address in
            handle(bytes, from: address)
            return true
        }
    }

    private func handle(_ bytes: ArraySlice<UInt8>, from address: SocketAddress) {
        switch Wire.type(of: bytes) {
        case .addressCheck?:
            addressChecks?(bytes, address)   // its owner checks who sent it
            return
        case .encryptAnswer?:
            answers?(bytes, address)
            return
        default:
            break
        }
        guard let frame = try? Wire.decodeFrame(bytes, keys: keys),
              let message = try? TransferMessage.decode(type: frame.type, body: frame.payload) else { return }
        let id = message.transferID
        let at = now()
        switch message {
        case .ack, .done:
            guard outgoing[id]?.peer == address else { return }
            // Mutated in place: a copy of the machine would copy its arrays.
            let directives = outgoing[id]!.machine.on(message, now: at)
            applySender(directives, id: id)
        case .chunk, .end:
            if incoming[id] == nil {
                if let decided = finished[id], decided.status != .unknownTransfer, !admission.withLock({ $0.isExpected(id, now: at) }) {
                    if answersStranger(address, now: at) { answerDecided(message, decided, to: address) }
                    return
                }
                guard case .chunk(let first) = message else {
                    // An end for a transfer this endpoint holds nothing of (it restarted,
                    // or gave up on it): epoch 0 asks the sender for every chunk again.
                    if answersStranger(address, now: at) {
                        sendMessage(.ack(.init(transferID: id, epoch: 0, cumulative: 0, largest: 0, ranges: [])), to: address)
                    }
                    return
                }
                let grant: TransferAdmission<SocketAddress>.Grant
                switch admission.withLock({ $0.admit(id, totalBytes: first.totalBytes, from: address, now: at) }) {
                case .success(let granted): grant = granted
                case .failure(let status):
                    logger.debug("refused transfer \(id) from \(address): \(status)")
                    if answersStranger(address, now: at) { sendMessage(.done(.init(transferID: id, status: status)), to: address) }
                    return
                }
                var configuration = receiverConfiguration
                configuration.maxBytes = if case .expected(let maxBytes) = grant { maxBytes } else { admission.withLock { $0.limits.unsolicitedBytes } }
                let large = first.totalBytes >= UInt64(DigestPipeline.threshold)
                if large { configuration.digest = .external }
                switch TransferReceiver.accept(first, configuration: configuration, epoch: UInt32.random(in: 1...UInt32.max), now: at) {
                case .success(let machine):
                    finished[id] = nil   // asked for anew: an earlier copy under this id does not count
                    incoming[id] = Incoming(machine: machine, peer: address, digest: large ? DigestPipeline() : nil)
                case .failure(let status):
                    admission.withLock { $0.close(id) }
                    logger.debug("refused transfer \(id) from \(address): \(status)")
                    sendMessage(.done(.init(transferID: id, status: status)), to: address)
                    return
                }
            }
            if case .chunk(let chunk) = message, !admission.withLock({ $0.hasRoom(for: chunk.payload.count) }) {
                return   // the node holds as much as it will: the sender tries again later
            }
            incoming[id]!.peer = address   // a restarted sender may come from a new port
            if case .end(let end) = message, end.epoch == incoming[id]!.machine.epoch { incoming[id]!.validated = address }
            let before = incoming[id]!.machine.receivedBytes
            let directives = incoming[id]!.machine.on(message, now: at)
            let arrived = incoming[id]!.machine.receivedBytes - before
            if arrived > 0 { admission.withLock { $0.charge(id, bytes: arrived) } }
            applyReceiver(directives, id: id)
        }
    }

    /// Whether a datagram of no open transfer from `address` may be answered
    /// now (a few thousand a second per host): a flood of them costs the loop
    /// its decoding only, and sends little back.
    private func answersStranger(_ address: SocketAddress, now: Instant) -> Bool {
        strangers.allow(address.with(port: 0), cost: 1, now: now)
    }

    /// A late or repeated message of a transfer already decided: an end learns
    /// the outcome; a chunk of a delivered object (its sender restarted) learns
    /// that everything is here.
    private func answerDecided(_ message: TransferMessage, _ decided: Finished, to address: SocketAddress) {
        switch message {
        case .end(let end):
            sendMessage(.done(.init(transferID: end.transferID, status: decided.status)), to: address)
        case .chunk(let chunk) where decided.status == .delivered && chunk.chunkCount == decided.chunkCount:
            sendMessage(.ack(.init(transferID: chunk.transferID, epoch: decided.epoch, cumulative: decided.chunkCount,
                                   largest: chunk.sequence, ranges: [])), to: address)
        default:
            break
        }
    }

    private func tick() {
        let at = now()
        if at >= nextExpiry {
            nextExpiry = at + .seconds(1)
            admission.withLock { $0.expire(now: at) }
        }
        for due in timers.popDue(now: at) {
            switch due {
            case .outgoing(let id):
                guard outgoing[id] != nil else { continue }
                let directives = outgoing[id]!.machine.onTimer(now: at)
                applySender(directives, id: id)
            case .incoming(let id):
                guard incoming[id] != nil else { continue }
                let directives = incoming[id]!.machine.onTimer(now: at)
                applyReceiver(directives, id: id)
            }
        }
    }

    // MARK: Directives

    private func applySender(_ directives: [TransferDirective], id: UInt64) {
        for directive in directives {
            guard let transfer = outgoing[id] else { return }
            switch directive {
            case .send(let message): sendMessage(message, to: transfer.peer)
            case .armTimer(let at):
                timers.arm(.outgoing(id), at: at)
                startTicking()
            case .progress(_, let bytes, let total): transfer.progress?(bytes, total)
            case .complete:
                outgoing[id] = nil
                timers.cancel(.outgoing(id))
                transfer.continuation.resume(returning: TransferReport(
                    bytes: transfer.machine.totalBytes, retransmittedChunks: transfer.machine.retransmitted,
                    chunksSent: transfer.machine.chunksSent,
                    smoothedRTT: transfer.machine.rtt.smoothed))
            case .fail(_, let error):
                outgoing[id] = nil
                timers.cancel(.outgoing(id))
                transfer.continuation.resume(throwing: error)
            case .deliver, .verifyDigest: break
            }
        }
    }

    private func applyReceiver(_ directives: [TransferDirective], id: UInt64) {
        for directive in directives {
            guard let transfer = incoming[id] else { return }
            switch directive {
            case .send(let message): sendMessage(message, to: transfer.peer)
            case .armTimer(let at):
                timers.arm(.incoming(id), at: at)
                startTicking()
            case .progress(_, let bytes, let total):
                // The prefix below `bytes` is written: hash it off the loop, a megabyte at a time.
                if let digest = transfer.digest, bytes - digest.submitted >= DigestPipeline.step || bytes == total {
                    digest.hash(transfer.machine.buffer, through: bytes)
                }
                faultInAhead(id, arrived: bytes)
            case .verifyDigest:
                guard let digest = transfer.digest else { continue }
                digest.hash(transfer.machine.buffer, through: transfer.machine.totalBytes)
                digest.finish { [weak self] digest in
                    Task { await self?.receiverDigest(digest, id: id) }
                }
            case .deliver(let id, let object):
                remember(id, transfer.machine, .delivered)
                deliveryContinuation.yield(Delivery(transferID: id, from: transfer.validated ?? transfer.peer, object: object))
            case .fail(_, let error):
                logger.notice("incoming transfer \(id) from \(transfer.peer) failed: \(error)")
                // A late `end` then learns why: a bad digest, or a transfer given up on.
                remember(id, transfer.machine, error.code == .digestMismatch ? .digestMismatch : .unknownTransfer)
            case .complete: break
            }
        }
    }

    private func remember(_ id: UInt64, _ machine: TransferReceiver, _ status: TransferMessage.Done.Status) {
        incoming[id] = nil
        admission.withLock { $0.close(id) }
        timers.cancel(.incoming(id))
        finished[id] = Finished(status: status, epoch: machine.epoch, chunkCount: UInt32(machine.chunkCount))
        finishedOrder.append(id)
        if finishedOrder.count - finishedHead > 4_096 {
            finished[finishedOrder[finishedHead]] = nil
            finishedHead += 1
            if finishedHead >= 4_096 {
                finishedOrder.removeFirst(finishedHead)
                finishedHead = 0
            }
        }
    }

    private func sendMessage(_ message: TransferMessage, to peer: SocketAddress) {
        do {
            try Wire.encode(into: &sendBuffer, header: origin.next(message.type), keys: keys,
                            writePayload: message.encodeHead(into:), trailer: message.trailer)
        } catch {
            return
        }
        // A full send buffer drops the datagram, as a full router queue would: the
        // protocol sees a loss and backs off, instead of a growing queue of waiters.
        if (try? socket.trySend(sendBuffer, message.trailer, to: peer)) != true { sendBufferDrops += 1 }
    }

    // MARK: Timers

    private func startTicking() {
        guard !ticking else { return }
        ticking = true
        Task(executorPreference: loop) { [weak self] in
            while let self, await self.tickOnce() {
                try? await Task.sleep(for: .microseconds(500))
            }
        }
    }

    /// Fires due timers; false when nothing is waiting any more.
    private func tickOnce() -> Bool {
        tick()
        let active = !timers.isEmpty
        if !active { ticking = false }
        return active
    }

    func now() -> Instant { clock.now() }
}

extension TransferEndpoint {
    /// Address checks the way a client's endpoint takes them: the hook to
    /// give `init(addressChecks:)` and the stream it feeds (the newest
    /// `buffer`). Only what could be a server's check is handed on (exactly
    /// `size` bytes, from one of `servers`): a flood of junk neither pushes the
    /// genuine ones out of the buffer nor costs a tag check each. The owner
    /// still checks each one's tag or signature.
    public static func addressCheckStream(size: Int, from servers: Set<SocketAddress>, buffer: Int)
        -> (checks: AsyncStream<([UInt8], SocketAddress)>, hook: @Sendable (ArraySlice<UInt8>, SocketAddress) -> Void) {
        handOffStream(sizes: size...size, from: servers, buffer: buffer)
    }

    /// The same for any datagram the endpoint hands on (`addressChecks`,
    /// `answers`): of a size in `sizes`, from one of `sources`, copied out of
    /// the receive buffer only then.
    public static func handOffStream(sizes: ClosedRange<Int>, from sources: Set<SocketAddress>, buffer: Int)
        -> (checks: AsyncStream<([UInt8], SocketAddress)>, hook: @Sendable (ArraySlice<UInt8>, SocketAddress) -> Void) {
        let (checks, arrived) = AsyncStream.makeStream(of: ([UInt8], SocketAddress).self, bufferingPolicy: .bufferingNewest(buffer))
        return (checks, { bytes, from in
            guard sizes.contains(bytes.count), sources.contains(from) else { return }
            arrived.yield((Array(bytes), from))
        })
    }
}
