/// Smoothed round-trip time and retransmission timeout, as RFC 6298 computes
/// them: SRTT and RTTVAR from samples (which the caller takes only from
/// chunks sent once: Karn's rule), RTO = SRTT + max(G, 4 RTTVAR), bounded,
/// doubled on each timeout until a new sample arrives.
public struct RTTEstimator: Sendable, Equatable {
    public var initialRTO: Duration
    public var minimumRTO: Duration
    public var maximumRTO: Duration
    public static let granularity: Duration = .milliseconds(1)

    public private(set) var smoothed: Duration?
    public private(set) var variation: Duration = .zero
    public private(set) var latest: Duration = .zero
    /// The smallest sample seen: the path's round trip without queueing.
    public private(set) var minimum: Duration?
    public private(set) var timeout: Duration

    public init(initialRTO: Duration = .milliseconds(200), minimumRTO: Duration = .milliseconds(5), maximumRTO: Duration = .seconds(2)) {
        self.initialRTO = initialRTO
        self.minimumRTO = minimumRTO
        self.maximumRTO = maximumRTO
        timeout = initialRTO
    }

    public mutating func record(_ sample: Duration) {
        latest = sample
        minimum = min(minimum ?? sample, sample)
        if let srtt = smoothed {
            let difference = srtt > sample ? srtt - sample : sample - srtt
            variation = variation * 3 / 4 + difference / 4
            smoothed = srtt * 7 / 8 + sample / 8
        } else {
            smoothed = sample
            variation = sample / 2
        }
        timeout = min(maximumRTO, max(minimumRTO, (smoothed ?? sample) + max(Self.granularity, variation * 4)))
    }

    /// After a retransmission timeout: the next wait is twice as long (never
    /// beyond `limit`, if given, nor `maximumRTO`; one already longer stays).
    public mutating func backOff(upTo limit: Duration? = nil) {
        let ceiling = min(maximumRTO, limit ?? maximumRTO)
        guard timeout < ceiling else { return }
        timeout = min(ceiling, timeout * 2)
    }
}
