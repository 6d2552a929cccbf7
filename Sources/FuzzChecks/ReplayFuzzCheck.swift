import PhotoCloudProtocol

/// The `replay` target's checks: `ReplayGuard` and `RateLimiter` fed events
/// read from the input, each against a plain model of its contract.
///
/// The input alternates between the two: a byte's low bit picks the machine,
/// and the next bytes are its event. `ReplayGuard` must give the verdict of
/// a model that remembers every counter it accepted (fresh: a member, a boot
/// not below the highest seen, this node's boot echoed, a counter above 0 not
/// accepted before and less than `windowSize` below the highest accepted).
/// `RateLimiter` must never allow more than a bucket holds: over any run, the
/// units allowed are at most `burst + rate x elapsed`, in total and (while the
/// table of sources has room) per source; its refusals are counted; its
/// table stays within `maxSources`.
public enum ReplayFuzzCheck {
    public static let ownBoot: UInt64 = 5
    public static let members: Set<UInt64> = [1, 2, 3]
    /// Small enough that a fuzz input fills the table (and the crowd bucket is used).
    public static let limits = RateLimiter<UInt8>.Limits(perSource: .init(rate: 1_000, burst: 400), total: .init(rate: 2_500, burst: 1_000),
                                                         maxSources: 6)

    public static func check(_ input: [UInt8]) throws(FuzzViolation) {
        var replay = ReplayModel()
        var limiter = LimiterModel()
        var offset = 0
        while offset < input.count {
            let kind = input[offset]
            if kind & 1 == 0 {
                guard offset + 8 <= input.count else { return }
                try replay.step(Array(input[(offset + 1)..<(offset + 8)]))
                offset += 8
            } else {
                guard offset + 4 <= input.count else { return }
                try limiter.step(Array(input[(offset + 1)..<(offset + 4)]))
                offset += 4
            }
        }
    }
}

/// `ReplayGuard` beside the model it must agree with.
struct ReplayModel {
    var guardian = ReplayGuard(ownBoot: ReplayFuzzCheck.ownBoot, members: ReplayFuzzCheck.members)
    var boots: [UInt64: UInt64] = [:]
    var highest: [UInt64: UInt64] = [:]
    var accepted: [UInt64: Set<UInt64>] = [:]
    var lastCounter: [UInt64: UInt64] = [:]

    /// 7 bytes: sender (0-4), boot (4-7, around the own boot), echo (the own boot or not), counter step (4 bytes).
    mutating func step(_ event: [UInt8]) throws(FuzzViolation) {
        let sender = UInt64(event[0] % 5)
        let boot = UInt64(event[1] % 4) + 4
        let echo = event[2] % 8 == 0 ? UInt64(event[2] % 3) + 4 : ReplayFuzzCheck.ownBoot
        let raw = UInt32(event[3]) << 24 | UInt32(event[4]) << 16 | UInt32(event[5]) << 8 | UInt32(event[6])
        // Mostly near the last counter (within or just past the window), sometimes anywhere.
        let last = lastCounter[sender] ?? 0
        let counter: UInt64 = switch raw >> 30 {
        case 0: last &+ UInt64(raw & 0x7FF)
        case 1: last >= UInt64(raw & 0x7FF) ? last - UInt64(raw & 0x7FF) : 0
        case 2: UInt64(raw & 0xFF)
        default: UInt64(raw & 0x3FFF_FFFF) << 20
        }
        lastCounter[sender] = counter
        let verdict = guardian.check(sender: sender, boot: boot, counter: counter, echo: echo)
        let expected = model(sender: sender, boot: boot, counter: counter, echo: echo)
        try require(verdict == expected, .invariant,
                    "ReplayGuard said \(verdict) to sender \(sender) boot \(boot) counter \(counter) echo \(echo); the model says \(expected)")
        try require(guardian.echo(for: sender) == (ReplayFuzzCheck.members.contains(sender) ? boots[sender] ?? 0 : 0), .invariant,
                    "ReplayGuard echoes \(guardian.echo(for: sender)) for sender \(sender), whose boot is \(boots[sender] ?? 0)")
    }

    mutating func model(sender: UInt64, boot: UInt64, counter: UInt64, echo: UInt64) -> ReplayGuard.Verdict {
        guard ReplayFuzzCheck.members.contains(sender) else { return .unknownSender }
        if let known = boots[sender] {
            if boot < known { return .staleBoot }
            if boot > known { forget(sender, boot: boot) }
        } else {
            forget(sender, boot: boot)
        }
        guard echo == ReplayFuzzCheck.ownBoot else { return .wrongEcho }
        let top = highest[sender] ?? 0
        guard counter > 0, accepted[sender]?.contains(counter) != true, counter > top || top - counter < ReplayGuard.windowSize else {
            return .replay
        }
        accepted[sender, default: []].insert(counter)
        highest[sender] = max(top, counter)
        return .fresh
    }

    mutating func forget(_ sender: UInt64, boot: UInt64) {
        boots[sender] = boot
        highest[sender] = 0
        accepted[sender] = []
    }
}

/// `RateLimiter` beside the sums it must stay within.
struct LimiterModel {
    var limiter = RateLimiter<UInt8>(limits: ReplayFuzzCheck.limits, now: .zero)
    var now = Instant.zero
    /// The latest time the limiter was shown (the clock may step back).
    var latest = Instant.zero
    var allowedTotal = 0.0
    var allowedBy: [UInt8: Double] = [:]
    var firstSeen: [UInt8: Instant] = [:]
    var refusals = 0
    /// The table was full at some point: per-source sums no longer hold (a source may spend from the crowd bucket and then its own).
    var crowded = false

    /// 3 bytes: source (0-15), cost (0-255 units), time step.
    mutating func step(_ event: [UInt8]) throws(FuzzViolation) {
        let source = event[0] & 0x0F
        let cost = Double(event[1])
        // Mostly small steps; sometimes a second or more, or back in time (the driver's clock is monotonic, the limiter must not care).
        let delta = event[2]
        switch delta {
        case 0..<200: now = now + .microseconds(Int(delta) * 50)
        case 200..<250: now = now + .milliseconds(Int(delta - 199) * 40)
        default: now = Instant(nanoseconds: now.nanoseconds >= 1_000_000 ? now.nanoseconds - 1_000_000 : 0)
        }
        latest = max(latest, now)
        if firstSeen[source] == nil { firstSeen[source] = now }
        if limiter.trackedSources >= ReplayFuzzCheck.limits.maxSources { crowded = true }
        if limiter.allow(source, cost: cost, now: now) {
            allowedTotal += cost
            allowedBy[source, default: 0] += cost
        } else {
            refusals += 1
        }
        let limits = ReplayFuzzCheck.limits
        try require(limiter.refused == refusals, .invariant, "the limiter counts \(limiter.refused) refusals, there were \(refusals)")
        try require(limiter.trackedSources <= limits.maxSources, .bound, "the limiter tracks \(limiter.trackedSources) sources")
        let elapsed = Double(latest.nanoseconds) / 1e9
        try require(allowedTotal <= limits.total.burst + limits.total.rate * elapsed + 1e-6, .bound,
                    "the limiter allowed \(allowedTotal) units in \(elapsed) s (total bucket \(limits.total.burst) + \(limits.total.rate)/s)")
        if !crowded, let first = firstSeen[source] {
            let since = Double(latest.nanoseconds - min(first.nanoseconds, latest.nanoseconds)) / 1e9
            let spent = allowedBy[source] ?? 0
            try require(spent <= limits.perSource.burst + limits.perSource.rate * since + 1e-6, .bound,
                        "the limiter allowed source \(source) \(spent) units in \(since) s (bucket \(limits.perSource.burst) + \(limits.perSource.rate)/s)")
        }
    }
}
