import Crypto
import PhotoCloudProtocol

/// Senders on node 0 and a receiving endpoint on node 1 over a
/// `SimulatedNetwork`, driven event by event: messages cross the network as
/// bytes (encoded and decoded each time), timers fire at the instants the
/// state machines ask for. Runs until every transfer has ended or `limit`.
public struct TransferSimulation {
    public struct Outcome: Sendable {
        public var delivered: [UInt64: [UInt8]] = [:]
        public var completed: [UInt64: Instant] = [:]
        public var failed: [UInt64: TransferError] = [:]
        public var receiverFailed: [UInt64: TransferError] = [:]
        public var retransmitted: [UInt64: Int] = [:]
        public var smoothedRTT: [UInt64: Duration] = [:]
        public var finishedAt = Instant.zero
        /// Events processed (the run stops at `maxEvents`, so it is bounded in work as well as time).
        public var events = 0
        /// Most chunks of one transfer sent and not yet acknowledged at any moment.
        public var maxOutstanding: [UInt64: Int] = [:]
        /// Chunk datagrams each transfer's senders sent (every transmission).
        public var chunksSent: [UInt64: Int] = [:]
        /// Acknowledgements the receiver sent per transfer.
        public var acksSent: [UInt64: Int] = [:]
    }

    public var network: SimulatedNetwork<(MessageType, [UInt8])>
    public var receiverConfiguration: TransferReceiver.Configuration
    /// A known bug to plant: a receiver that hands over what it holds even
    /// when the object's digest disagrees.
    public var deliverDespiteDigest = false
    public private(set) var now = Instant.zero
    private var senders: [UInt64: TransferSender] = [:]
    private var senderTimers: [UInt64: Instant] = [:]
    private var receivers: [UInt64: TransferReceiver] = [:]
    private var receiverTimers: [UInt64: Instant] = [:]
    private var outstanding: [UInt64: Set<UInt32>] = [:]
    private var nextEpoch: UInt32 = 0
    public private(set) var outcome = Outcome()

    public init(seed: UInt64, faults: SimulatedNetwork<(MessageType, [UInt8])>.Faults, receiver: TransferReceiver.Configuration = .init()) {
        network = SimulatedNetwork(seed: seed, faults: faults)
        // A flipped bit anywhere in a message's body: what a datagram check would miss (an on-path forger).
        network.corrupt = { message, planner in (message.0, planner.corrupted(message.1)) }
        receiverConfiguration = receiver
    }

    private var started: Set<UInt64> = []

    /// Adds a sender, started by the next `run`. A sender with the id of one
    /// already here replaces it: that one's process restarted, its state is
    /// gone (what is on the network stays there).
    public mutating func add(_ sender: TransferSender) {
        senders[sender.transferID] = sender
        senderTimers[sender.transferID] = nil
        started.remove(sender.transferID)
        outcome.completed[sender.transferID] = nil
        outcome.failed[sender.transferID] = nil
    }

    /// The receiving node restarts: every transfer it held is forgotten.
    public mutating func restartReceiver() {
        receivers = [:]
        receiverTimers = [:]
    }

    /// Runs for at most `limit` more, or until `stop` holds (it can be called
    /// again to go on).
    public mutating func run(limit: Duration = .seconds(120), maxEvents: Int = 2_000_000,
                             until stop: (Outcome) -> Bool = { _ in false }) -> Outcome {
        let deadline = now + limit
        for id in senders.keys.sorted() where !started.contains(id) {
            started.insert(id)
            let directives = senders[id]!.start(now: now)
            apply(directives, sender: id)
        }
        while now < deadline && outcome.events < maxEvents {
            outcome.events += 1
            let timer = (senderTimers.map { ($0.value, 0, $0.key) } + receiverTimers.map { ($0.value, 1, $0.key) })
                .min { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
            let delivery = network.nextDeliveryTime
            if timer == nil && delivery == nil { break }
            if let delivery, timer == nil || delivery <= timer!.0 {
                let message = network.nextDelivery()!
                now = max(now, message.at)
                deliver(message)
            } else if let (at, side, id) = timer {
                now = max(now, at)
                if side == 0 {
                    senderTimers[id] = nil
                    if senders[id] != nil {
                        let directives = senders[id]!.onTimer(now: now)
                        apply(directives, sender: id)
                    }
                } else {
                    receiverTimers[id] = nil
                    if receivers[id] != nil {
                        let directives = receivers[id]!.onTimer(now: now)
                        apply(directives, receiver: id)
                    }
                }
            }
            if senders.values.allSatisfy(\.isFinished) && network.inFlight == 0 || stop(outcome) { break }
        }
        outcome.finishedAt = now
        for (id, sender) in senders {
            outcome.retransmitted[id] = sender.retransmitted
            outcome.smoothedRTT[id] = sender.rtt.smoothed
        }
        return outcome
    }

    private mutating func deliver(_ delivery: SimulatedNetwork<(MessageType, [UInt8])>.Delivery) {
        guard let message = try? TransferMessage.decode(type: delivery.message.0, body: delivery.message.1) else { return }
        let id = message.transferID
        if delivery.to == 1 {
            if receivers[id] == nil {
                guard case .chunk(let first) = message else {
                    // As the endpoint does: an unknown transfer's end asks for everything again.
                    if case .end = message { send(.ack(.init(transferID: id, epoch: 0, cumulative: 0, largest: 0, ranges: [])), from: 1) }
                    return
                }
                nextEpoch &+= 1
                switch TransferReceiver.accept(first, configuration: receiverConfiguration, epoch: nextEpoch, now: now) {
                case .success(let receiver): receivers[id] = receiver
                case .failure(let status):
                    send(.done(.init(transferID: id, status: status)), from: 1)
                    return
                }
            }
            // Mutated in place: a copy would copy the receiver's buffer on write.
            let directives = receivers[id]!.on(message, now: now)
            apply(directives, receiver: id)
        } else if senders[id] != nil {
            let directives = senders[id]!.on(message, now: now)
            apply(directives, sender: id)
        }
    }

    private mutating func apply(_ directives: [TransferDirective], sender id: UInt64) {
        for directive in directives {
            switch directive {
            case .send(let message):
                if case .chunk(let chunk) = message {
                    outcome.chunksSent[id, default: 0] += 1
                    outstanding[id, default: []].insert(chunk.sequence)
                    outcome.maxOutstanding[id] = max(outcome.maxOutstanding[id] ?? 0, outstanding[id]!.count)
                }
                send(message, from: 0)
            case .armTimer(let at): senderTimers[id] = at
            case .complete: outcome.completed[id] = now; senderTimers[id] = nil
            case .fail(_, let error): outcome.failed[id] = error; senderTimers[id] = nil
            case .deliver, .progress, .verifyDigest: break
            }
        }
    }

    private mutating func apply(_ directives: [TransferDirective], receiver id: UInt64) {
        for directive in directives {
            switch directive {
            case .send(let message):
                if case .ack(let ack) = message {
                    outcome.acksSent[id, default: 0] += 1
                    let unacked = (outstanding[id] ?? []).filter { sequence in
                        sequence >= ack.cumulative && !ack.ranges.contains { $0.contains(sequence) }
                    }
                    outstanding[id] = unacked
                }
                send(message, from: 1)
            case .armTimer(let at): receiverTimers[id] = at
            case .deliver(_, let object): outcome.delivered[id] = object.bytes; receiverTimers[id] = nil
            case .verifyDigest:
                // The driver's job in `DigestMode.external`: here, at once.
                guard let receiver = receivers[id] else { continue }
                let digest = receiver.buffer.withUnsafeBytes { Array(SHA256.hash(data: $0)) }
                let more = receivers[id]!.onDigest(digest, now: now)
                apply(more, receiver: id)
            case .fail(_, let error):
                outcome.receiverFailed[id] = error
                receiverTimers[id] = nil
                if deliverDespiteDigest, error.code == .digestMismatch, let receiver = receivers[id] {
                    outcome.delivered[id] = receiver.buffer.bytes
                }
            case .complete, .progress: break
            }
        }
    }

    private mutating func send(_ message: TransferMessage, from node: Int) {
        network.send((message.type, message.encoded()), from: node, to: 1 - node, now: now)
    }
}
