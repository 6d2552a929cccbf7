import AsyncUDP
import PhotoCloudProtocol

/// A deterministic network for simulations: messages between numbered nodes
/// are dropped, duplicated, delayed (with jitter) and reordered by a seeded
/// generator, and partitions cut pairs of nodes apart. Nothing runs by itself:
/// the simulation asks for the next delivery and advances its clock to it,
/// so the same seed always gives the same run.
public struct SimulatedNetwork<Message: Sendable>: Sendable {
    public struct Faults: Sendable {
        public var drop: Double
        public var duplicate: Double
        public var reorder: Double
        public var delay: Duration
        public var jitter: Duration
        /// Extra delay of a reordered message.
        public var reorderHold: Duration

        public init(drop: Double = 0, duplicate: Double = 0, reorder: Double = 0, delay: Duration = .microseconds(100),
                    jitter: Duration = .zero, reorderHold: Duration = .milliseconds(2)) {
            self.drop = drop
            self.duplicate = duplicate
            self.reorder = reorder
            self.delay = delay
            self.jitter = jitter
            self.reorderHold = reorderHold
        }
    }

    public struct Delivery: Sendable {
        public var at: Instant
        public var from: Int
        public var to: Int
        public var message: Message
    }

    public var faults: Faults
    public private(set) var random: SeededRandom
    public private(set) var sent = 0
    public private(set) var dropped = 0
    private var pending: [(order: UInt64, delivery: Delivery)] = []
    private var nextOrder: UInt64 = 0
    private var cut: Set<[Int]> = []

    public init(seed: UInt64, faults: Faults = Faults()) {
        self.faults = faults
        random = SeededRandom(seed: seed)
    }

    /// Cuts (or restores) the link between two nodes, both ways.
    public mutating func partition(_ a: Int, _ b: Int, cut isCut: Bool = true) {
        if isCut { cut.insert([min(a, b), max(a, b)]) } else { cut.remove([min(a, b), max(a, b)]) }
    }

    public mutating func send(_ message: Message, from: Int, to: Int, now: Instant) {
        sent += 1
        guard !cut.contains([min(from, to), max(from, to)]), !random.chance(faults.drop) else {
            dropped += 1
            return
        }
        let copies = random.chance(faults.duplicate) ? 2 : 1
        for _ in 0..<copies {
            var delay = faults.delay
            if faults.jitter > .zero { delay += faults.jitter * (Double(random.next() >> 11) * 0x1.0p-53) }
            if random.chance(faults.reorder) { delay += faults.reorderHold }
            schedule(Delivery(at: now + delay, from: from, to: to, message: message))
        }
    }

    /// When the next message arrives, if any is in flight.
    public var nextDeliveryTime: Instant? { pending.first?.delivery.at }

    /// Removes and returns the next message to arrive (earliest, then first sent).
    public mutating func nextDelivery() -> Delivery? {
        pending.isEmpty ? nil : pending.removeFirst().delivery
    }

    public var inFlight: Int { pending.count }

    private mutating func schedule(_ delivery: Delivery) {
        nextOrder += 1
        // Sorted by time, then by order sent: binary search for the insertion point.
        var low = 0, high = pending.count
        while low < high {
            let mid = (low + high) / 2
            let other = pending[mid]
            if other.delivery.at < delivery.at || (other.delivery.at == delivery.at && other.order < nextOrder) {
                low = mid + 1
            } else {
                high = mid
            }
        }
        pending.insert((nextOrder, delivery), at: low)
    }
}
