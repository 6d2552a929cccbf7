import Synchronization

/// Network faults to emulate on a socket's outgoing datagrams, in process
/// (kernel netem is not available on these machines). Off by default.
///
/// Each datagram independently may be dropped, duplicated, held back so that
/// later ones overtake it (reordered), and delayed by `delay` plus up to
/// `jitter`; each copy that goes out may have one bit flipped (`corrupt`). Decisions come from a generator seeded by `seed`: the same seed
/// and the same sequence of sends give the same decisions.
public struct FaultProfile: Sendable, Equatable {
    public var drop: Double
    public var duplicate: Double
    public var reorder: Double
    /// The chance that a copy going out has one bit flipped (a receiver's
    /// datagram check, or failing that an object's digest, must catch it).
    public var corrupt: Double
    public var delay: Duration
    public var jitter: Duration
    /// How long a reordered datagram is held back beyond its delay.
    public var reorderHold: Duration
    public var seed: UInt64

    public init(
        drop: Double = 0, duplicate: Double = 0, reorder: Double = 0, corrupt: Double = 0,
        delay: Duration = .zero, jitter: Duration = .zero,
        reorderHold: Duration = .milliseconds(2), seed: UInt64 = 1
    ) {
        self.drop = drop
        self.duplicate = duplicate
        self.reorder = reorder
        self.corrupt = corrupt
        self.delay = delay
        self.jitter = jitter
        self.reorderHold = reorderHold
        self.seed = seed
    }

    /// True when the profile changes nothing.
    public var isClean: Bool {
        drop == 0 && duplicate == 0 && reorder == 0 && corrupt == 0 && delay == .zero && jitter == .zero
    }
}

/// What the fault layer did, for benchmarks and tests.
public struct FaultCounters: Sendable, Equatable {
    public var sent = 0
    public var dropped = 0
    public var duplicated = 0
    public var reordered = 0
    public var delayed = 0
    public var corrupted = 0
}

/// The decisions of a `FaultProfile`, as a value: for each datagram, the list
/// of delays after which a copy of it goes out (empty: dropped; two entries:
/// duplicated). Shared by the socket fault layer and the simulated network.
public struct FaultPlanner: Sendable {
    public let profile: FaultProfile
    public private(set) var counters = FaultCounters()
    private var random: SeededRandom

    public init(_ profile: FaultProfile, seed: UInt64? = nil) {
        self.profile = profile
        random = SeededRandom(seed: seed ?? profile.seed)
    }

    /// Decides the fate of the next datagram.
    public mutating func plan() -> [Duration] {
        counters.sent += 1
        if random.chance(profile.drop) {
            counters.dropped += 1
            return []
        }
        var delay = profile.delay
        if profile.jitter > .zero {
            let fraction = Double(random.next() >> 11) * 0x1.0p-53
            delay += profile.jitter * fraction
        }
        if random.chance(profile.reorder) {
            counters.reordered += 1
            delay += profile.reorderHold
        }
        if delay > .zero { counters.delayed += 1 }
        if random.chance(profile.duplicate) {
            counters.duplicated += 1
            return [delay, delay + .microseconds(50)]
        }
        return [delay]
    }

    /// A copy of `bytes` as it goes out: with one bit flipped, at the
    /// profile's `corrupt` chance. Draws nothing when `corrupt` is 0, so the
    /// other decisions of a seed stay what they were.
    public mutating func corrupted(_ bytes: [UInt8]) -> [UInt8] {
        guard profile.corrupt > 0, !bytes.isEmpty, random.chance(profile.corrupt) else { return bytes }
        counters.corrupted += 1
        var copy = bytes
        let index = Int(random.next() % UInt64(copy.count))
        copy[index] ^= UInt8(1) << UInt8(random.next() % 8)
        return copy
    }
}

/// A `FaultPlanner` that many tasks sending on one socket can share.
public final class FaultInjector: Sendable {
    public let profile: FaultProfile
    private let planner: Mutex<FaultPlanner>

    public init(_ profile: FaultProfile) {
        self.profile = profile
        planner = Mutex(FaultPlanner(profile))
    }

    public var counters: FaultCounters { planner.withLock { $0.counters } }

    /// Decides the fate of the next datagram.
    public func plan() -> [Duration] { planner.withLock { $0.plan() } }

    /// A copy of `bytes` as it goes out (see `FaultPlanner.corrupted`).
    public func corrupted(_ bytes: [UInt8]) -> [UInt8] {
        profile.corrupt > 0 ? planner.withLock { $0.corrupted(bytes) } : bytes
    }
}
