/// Per-source token buckets in front of an event loop, as a pure value (time
/// injected): each datagram costs units (about the microseconds of work it
/// causes: a signature check costs more than a lookup), each source (a host:
/// the caller passes the address without its port) refills at
/// `perSource.rate` units a second up to `perSource.burst`, and all
/// sources together at `total`. So no one source takes more than its share
/// of the loop, and no crowd of sources (spoofed addresses are free) more than
/// the whole budget, which leaves room for the servers' own traffic (never
/// limited: it is authenticated and bounded by the ring's own timers).
///
/// The table of sources is bounded: when it is full, idle sources (whose
/// bucket has refilled) are forgotten; if none is idle, new sources share one
/// bucket.
public struct RateLimiter<Source: Hashable & Sendable>: Sendable {
    public struct Bucket: Sendable, Equatable {
        /// Units a second.
        public var rate: Double
        /// Units at most in the bucket (what a burst may spend at once).
        public var burst: Double

        public init(rate: Double, burst: Double) {
            self.rate = rate
            self.burst = burst
        }
    }

    public struct Limits: Sendable, Equatable {
        public var perSource: Bucket
        public var total: Bucket
        public var maxSources: Int

        public init(perSource: Bucket = Bucket(rate: 400_000, burst: 200_000), total: Bucket = Bucket(rate: 700_000, burst: 250_000),
                    maxSources: Int = 16_384) {
            self.perSource = perSource
            self.total = total
            self.maxSources = maxSources
        }
    }

    private struct Level: Sendable {
        var tokens: Double
        var at: Instant

        mutating func refill(_ bucket: Bucket, now: Instant) {
            let seconds = Double(now.since(at).nanoseconds) / 1e9
            tokens = min(bucket.burst, tokens + seconds * bucket.rate)
            at = max(at, now)
        }
    }

    public let limits: Limits
    private var sources: [Source: Level] = [:]
    private var crowd: Level
    private var total: Level
    private var nextSweep = Instant.zero
    /// Datagrams refused since the start.
    public private(set) var refused = 0

    public init(limits: Limits = Limits(), now: Instant = .zero) {
        self.limits = limits
        crowd = Level(tokens: limits.perSource.burst, at: now)
        total = Level(tokens: limits.total.burst, at: now)
    }

    public var trackedSources: Int { sources.count }

    /// Takes `cost` units from `source`'s bucket and the total; false (and
    /// nothing taken) when either has too few.
    public mutating func allow(_ source: Source, cost: Double, now: Instant) -> Bool {
        total.refill(limits.total, now: now)
        let known = sources[source] != nil
        if !known, sources.count >= limits.maxSources, now >= nextSweep { forgetIdle(now: now) }
        let tracked = known || sources.count < limits.maxSources
        var level = tracked ? (sources[source] ?? Level(tokens: limits.perSource.burst, at: now)) : crowd
        level.refill(limits.perSource, now: now)
        let allowed = level.tokens >= cost && total.tokens >= cost
        if allowed {
            level.tokens -= cost
            total.tokens -= cost
        } else {
            refused += 1
        }
        if tracked { sources[source] = level } else { crowd = level }
        return allowed
    }

    /// Forgets the sources idle long enough for their bucket to be full again
    /// (at most once a second: a flood of new sources must not buy a scan each).
    private mutating func forgetIdle(now: Instant) {
        nextSweep = now + .seconds(1)
        let full = limits.perSource.burst, bucket = limits.perSource
        sources = sources.filter { _, level in
            var refilled = level
            refilled.refill(bucket, now: now)
            return refilled.tokens < full
        }
    }
}
