/// A point in time for the protocol state machines: nanoseconds since an
/// arbitrary origin chosen by whoever drives them (a real clock, or a
/// simulation's manual clock). Time is injected, never read.
public struct Instant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Rounded up to the next whole nanosecond, so that at `t + d`,
    /// `(t + d).since(t) >= d` always holds (a deadline is never a hair early).
    public static func + (instant: Instant, duration: Duration) -> Instant {
        let whole = duration.nanoseconds
        let remainder = duration.components.attoseconds % 1_000_000_000 > 0 ? 1 : 0
        return Instant(nanoseconds: instant.nanoseconds &+ whole &+ UInt64(remainder))
    }

    /// The time from `earlier` to this instant (zero if `earlier` is later).
    public func since(_ earlier: Instant) -> Duration {
        nanoseconds > earlier.nanoseconds ? .nanoseconds(Int64(nanoseconds - earlier.nanoseconds)) : .zero
    }

    public var description: String { "t+\(Double(nanoseconds) / 1e6)ms" }
}

extension Duration {
    /// Whole nanoseconds, clamped to 0 for negative durations.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
