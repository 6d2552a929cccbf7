import AsyncUDP
import PhotoCloudProtocol

/// A deterministic network for simulations: messages between numbered nodes
/// are dropped, duplicated, delayed (with jitter) and reordered by the same
/// seeded `FaultPlanner` as the socket fault layer, and partitions cut pairs
/// of nodes apart. Nothing runs by itself:
/// the simulation asks for the next delivery and advances its clock to it,
/// so the same seed always gives the same run.
public struct SimulatedNetwork<Message: Sendable>: Sendable {
    /// The same faults the socket fault layer injects.
    public typealias Faults = FaultProfile

    public struct Delivery: Sendable {
        public var at: Instant
        public var from: Int
        public var to: Int
        public var message: Message
    }

    private var planner: FaultPlanner
    public var faults: Faults { planner.profile }
    public var sent: Int { planner.counters.sent }
    public var dropped: Int { planner.counters.dropped + partitionDrops }
    private var partitionDrops = 0
    private var pending: [(order: UInt64, delivery: Delivery)] = []
    private var nextOrder: UInt64 = 0
    private var cut: Set<[Int]> = []
    /// How a copy of a message is corrupted in flight, for messages that carry
    /// bytes (`FaultPlanner.corrupted` decides whether and where); nil: never.
    public var corrupt: (@Sendable (Message, inout FaultPlanner) -> Message)?
    public var corrupted: Int { planner.counters.corrupted }

    public init(seed: UInt64, faults: Faults = Faults()) {
        planner = FaultPlanner(faults, seed: seed)
    }

    /// Cuts (or restores) the link between two nodes, both ways.
    public mutating func partition(_ a: Int, _ b: Int, cut isCut: Bool = true) {
        if isCut { cut.insert([min(a, b), max(a, b)]) } else { cut.remove([min(a, b), max(a, b)]) }
    }

    public mutating func send(_ message: Message, from: Int, to: Int, now: Instant) {
        guard !cut.contains([min(from, to), max(from, to)]) else {
            partitionDrops += 1
            return
        }
        for delay in planner.plan() {
            let copy = corrupt.map { $0(message, &planner) } ?? message
            schedule(Delivery(at: now + delay, from: from, to: to, message: copy))
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
