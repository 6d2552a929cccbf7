/// Latency samples and their percentiles.
public struct LatencySamples: Sendable {
    public private(set) var microseconds: [Double] = []

    public init(capacity: Int = 0) { microseconds.reserveCapacity(capacity) }

    public mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        microseconds.append(Double(seconds) * 1e6 + Double(attoseconds) / 1e12)
    }

    /// The p-th percentile (0...100) by nearest rank; 0 with no samples.
    public func percentile(_ p: Double) -> Double {
        guard !microseconds.isEmpty else { return 0 }
        let sorted = microseconds.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}

extension Duration {
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
