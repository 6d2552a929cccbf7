import Histogram

/// Latency samples and their percentiles, in an HDR histogram (as wrk2 keeps
/// them): nanoseconds up to an hour at three significant digits, so a
/// percentile is within 0.1% of the sample's value, in memory that does not
/// grow with the run.
public struct LatencySamples: Sendable {
    private var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)

    public init() {}

    public var count: Int { Int(histogram.totalCount) }

    public mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + max(0, attoseconds) / 1_000_000_000
        histogram.record(UInt64(min(nanoseconds, 3_600_000_000_000)))
    }

    /// The p-th percentile (0...100) in microseconds; 0 with no samples.
    public func percentile(_ p: Double) -> Double {
        guard histogram.totalCount > 0 else { return 0 }
        let nanoseconds = p >= 100 ? histogram.max : histogram.valueAtPercentile(p)
        return Double(nanoseconds) / 1_000
    }
}

extension Duration {
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
