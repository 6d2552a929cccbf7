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
        nanoseconds > earlier.nanoseconds ? .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds)) : .zero
    }

    public var description: String { "t+\(Double(nanoseconds) / 1e6)ms" }
}

extension Duration {
    /// Whole nanoseconds, clamped to 0 for negative durations and to
    /// `UInt64.max` for ones beyond 584 years.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .max }
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return carry ? .max : total
    }
}
