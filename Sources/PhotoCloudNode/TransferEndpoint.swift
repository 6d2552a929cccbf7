import AsyncUDP
import Foundation
import Logging
import PhotoCloudProtocol

/// Drives transfer state machines over a UDP socket: many transfers, in both
/// directions, multiplexed by transfer id on one socket. Outgoing objects are
/// sent with `send`; incoming ones arrive on `deliveries`.
///
/// The actor is a thin shell: it decodes datagrams into events for the
/// `TransferSender` or `TransferReceiver` they belong to, carries out the
/// directives that come back (send, arm a timer, deliver, complete, fail), and
/// fires timers from one ticking task while any transfer is active.
public actor TransferEndpoint {
    public struct Delivery: Sendable {
        public var transferID: UInt64
        public var from: SocketAddress
        public var bytes: [UInt8]
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
    }

    /// What a finished send measured.
    public struct TransferReport: Sendable {
        public var bytes: Int
        public var retransmittedChunks: Int
        public var smoothedRTT: Duration?
    }

    public nonisolated let socket: UDPSocket
    /// The actor runs on this loop's thread, so busy cores elsewhere cannot starve it.
    public nonisolated let loop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    public nonisolated let deliveries: AsyncStream<Delivery>
    private let deliveryContinuation: AsyncStream<Delivery>.Continuation
    private let keys: WireKeys
    private let nodeID: UInt64
    private let receiverConfiguration: TransferReceiver.Configuration
    private let logger: Logger
    private let clock = ProtocolClock()
    private var outgoing: [UInt64: Outgoing] = [:]
    private var incoming: [IncomingKey: Incoming] = [:]
    private var finished: [IncomingKey: TransferMessage.Done.Status] = [:]
    /// Oldest first from `finishedHead` (popping the front of an array is a copy of the rest).
    private var finishedOrder: [IncomingKey] = []
    private var finishedHead = 0
    private var nextMessageID: UInt64 = 1
    /// Datagrams dropped because the socket's send buffer was full.
    public private(set) var sendBufferDrops = 0
    private var ticking = false
    /// Every transfer's next deadline (thousands may be open at once: no scans).
    private var timers = TimerQueue<TimerKey>()

    private enum TimerKey: Hashable, Sendable {
        case outgoing(UInt64)
        case incoming(IncomingKey)
    }
    private var receiveLoop: Task<Void, Never>?
    /// One buffer for every received datagram and one for every sent one: a
    /// fresh 64 KB array per datagram cost page faults on both sides.
    private var receiveBuffer = [UInt8](repeating: 0, count: UDPSocket.maxDatagramSize)
    private var sendBuffer: [UInt8] = []

    private struct IncomingKey: Hashable, Sendable {
        var peer: SocketAddress
        var transferID: UInt64
    }

    public init(socket: UDPSocket, loop: EventLoop = .shared, keys: WireKeys = WireKeys(), nodeID: UInt64 = UInt64.random(in: 1...UInt64.max),
                receiver: TransferReceiver.Configuration = .init(), logger: Logger = Logger(label: "photocloud.transfer")) {
        self.socket = socket
        self.loop = loop
        self.keys = keys
        self.nodeID = nodeID
        receiverConfiguration = receiver
        self.logger = logger
        (deliveries, deliveryContinuation) = AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .unbounded)
    }

    /// Starts reading the socket (call once).
    public func start() {
        guard receiveLoop == nil else { return }
        let socket = self.socket
        receiveLoop = Task(executorPreference: loop) { [weak self] in
            await socket.drainWhenReadable { await self?.drainSocket() ?? false }
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
    public func send(_ data: [UInt8], to peer: SocketAddress, configuration: TransferSender.Configuration = .init(),
                     progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> TransferReport {
        let id = UInt64.random(in: 1...UInt64.max)
        let machine = try TransferSender(transferID: id, data: data, configuration: configuration)
        return try await withCheckedThrowingContinuation { continuation in
            outgoing[id] = Outgoing(machine: machine, peer: peer, continuation: continuation, progress: progress)
            let directives = outgoing[id]!.machine.start(now: now())
            applySender(directives, id: id)
        }
    }

    // MARK: Events

    /// Handles every datagram queued now; false once the socket is closed.
    private func drainSocket() -> Bool {
        socket.receiveEach(into: &receiveBuffer) { bytes, address in
            handle(bytes, from: address)
            return true
        }
    }

    private func handle(_ bytes: ArraySlice<UInt8>, from address: SocketAddress) {
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
            let key = IncomingKey(peer: address, transferID: id)
            if incoming[key] == nil {
                if let status = finished[key] {
                    // A late or repeated message of a transfer already decided.
                    if case .end = message { sendMessage(.done(.init(transferID: id, status: status)), to: address) }
                    return
                }
                guard case .chunk(let first) = message else {
                    sendMessage(.done(.init(transferID: id, status: .unknownTransfer)), to: address)
                    return
                }
                switch TransferReceiver.accept(first, configuration: receiverConfiguration, now: at) {
                case .success(let machine):
                    incoming[key] = Incoming(machine: machine, peer: address)
                case .failure(let status):
                    logger.debug("refused transfer \(id) from \(address): \(status)")
                    sendMessage(.done(.init(transferID: id, status: status)), to: address)
                    return
                }
            }
            // Mutated in place: a copy would copy the whole object's buffer on write.
            let directives = incoming[key]!.machine.on(message, now: at)
            applyReceiver(directives, key: key)
        }
    }

    private func tick() {
        let at = now()
        for due in timers.popDue(now: at) {
            switch due {
            case .outgoing(let id):
                guard outgoing[id] != nil else { continue }
                let directives = outgoing[id]!.machine.onTimer(now: at)
                applySender(directives, id: id)
            case .incoming(let key):
                guard incoming[key] != nil else { continue }
                let directives = incoming[key]!.machine.onTimer(now: at)
                applyReceiver(directives, key: key)
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
                    smoothedRTT: transfer.machine.rtt.smoothed))
            case .fail(_, let error):
                outgoing[id] = nil
                timers.cancel(.outgoing(id))
                transfer.continuation.resume(throwing: error)
            case .deliver: break
            }
        }
    }

    private func applyReceiver(_ directives: [TransferDirective], key: IncomingKey) {
        for directive in directives {
            switch directive {
            case .send(let message): sendMessage(message, to: key.peer)
            case .armTimer(let at):
                timers.arm(.incoming(key), at: at)
                startTicking()
            case .deliver(let id, let bytes):
                remember(key, .delivered)
                deliveryContinuation.yield(Delivery(transferID: id, from: key.peer, bytes: bytes))
            case .fail(_, let error):
                logger.notice("incoming transfer \(key.transferID) from \(key.peer) failed: \(error)")
                // A late `end` then learns why: a bad digest, or a transfer given up on.
                remember(key, error.code == .digestMismatch ? .digestMismatch : .unknownTransfer)
            case .complete, .progress: break
            }
        }
    }

    private func remember(_ key: IncomingKey, _ status: TransferMessage.Done.Status) {
        incoming[key] = nil
        timers.cancel(.incoming(key))
        finished[key] = status
        finishedOrder.append(key)
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
        nextMessageID &+= 1
        do {
            try Wire.encode(into: &sendBuffer, type: message.type, sender: nodeID, messageID: nextMessageID, keys: keys,
                            writePayload: message.encode(into:))
        } catch {
            return
        }
        // A full send buffer drops the datagram, as a full router queue would: the
        // protocol sees a loss and backs off, instead of a growing queue of waiters.
        if (try? socket.trySend(sendBuffer, to: peer)) != true { sendBufferDrops += 1 }
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
