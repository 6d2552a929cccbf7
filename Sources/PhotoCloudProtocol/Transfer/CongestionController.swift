/// NewReno congestion control in bytes, as RFC 9002 section 7 describes it
/// (slow start, congestion avoidance, one reduction per recovery period, a
/// collapse to the minimum window after a retransmission timeout), with the
/// reduction of TCP Westwood+: on loss the window goes to the bandwidth the
/// path delivered over the last round trip times the minimum round trip,
/// i.e. what the path holds without a queue. Random loss on an uncongested
/// path (the rate keeps up, the round trip stays at its minimum) then costs
/// nothing, where NewReno would hold the window near 1.2 / sqrt(loss)
/// chunks; a congested path (a queue inflates the round trip) is backed off
/// to its capacity. It also
/// paces: a token bucket filled at 2 (slow start) or 1.25 x cwnd / SRTT that
/// holds at most a few chunks, so a window is spread over a round trip
/// instead of sent at once.
public struct CongestionController: Sendable {
    public let maxDatagram: Int
    public private(set) var window: Int
    public private(set) var slowStartThreshold = Int.max
    public private(set) var bytesInFlight = 0
    private var recoveryStart: Instant?
    private var tokens: Double
    private var tokensUpdated: Instant = .zero
    private let burst: Double
    /// Bytes acknowledged recently, for the delivery rate.
    private var deliveries: [(at: Instant, bytes: Int)] = []
    private var deliveredStart = 0

    public init(maxDatagram: Int, initialWindowDatagrams: Int = 10, burstDatagrams: Int = 10) {
        self.maxDatagram = maxDatagram
        window = maxDatagram * initialWindowDatagrams
        burst = Double(maxDatagram * burstDatagrams)
        tokens = burst
    }

    public var minimumWindow: Int { 2 * maxDatagram }

    public func canSend(_ bytes: Int) -> Bool { bytesInFlight + bytes <= window }

    public mutating func onSent(_ bytes: Int, now: Instant) {
        bytesInFlight += bytes
        tokens -= Double(bytes)
    }

    public mutating func onAcked(_ bytes: Int, sentAt: Instant, now: Instant) {
        bytesInFlight = max(0, bytesInFlight - bytes)
        deliveries.append((now, bytes))
        if let start = recoveryStart, sentAt <= start { return }   // still recovering
        if window < slowStartThreshold {
            window += bytes
        } else {
            window += max(1, maxDatagram * bytes / window)
        }
    }

    /// A chunk was declared lost (it leaves the flight either way).
    public mutating func onLost(_ bytes: Int, sentAt: Instant, now: Instant, rtt: RTTEstimator) {
        bytesInFlight = max(0, bytesInFlight - bytes)
        if let start = recoveryStart, sentAt <= start { return }   // one reduction per round trip
        recoveryStart = now
        let capacity = pathCapacity(now: now, rtt: rtt) ?? window * 7 / 10
        guard capacity < window * 9 / 10 else { return }   // the path keeps up: random loss
        slowStartThreshold = max(capacity, minimumWindow)
        window = slowStartThreshold
    }

    /// Delivery rate over the last smoothed round trip times the minimum round trip.
    private mutating func pathCapacity(now: Instant, rtt: RTTEstimator) -> Int? {
        guard let smoothed = rtt.smoothed, let minimum = rtt.minimum, smoothed > .zero else { return nil }
        while deliveredStart < deliveries.count && now.since(deliveries[deliveredStart].at) > smoothed { deliveredStart += 1 }
        if deliveredStart > 1_024 { deliveries.removeFirst(deliveredStart); deliveredStart = 0 }
        let bytes = deliveries[deliveredStart...].reduce(0) { $0 + $1.bytes }
        guard bytes > 0 else { return nil }
        return Int(Double(bytes) * Double(minimum.nanoseconds) / Double(smoothed.nanoseconds))
    }

    /// No acknowledgement for a whole retransmission timeout.
    public mutating func onTimeout(now: Instant) {
        recoveryStart = now
        slowStartThreshold = max(window * 7 / 10, minimumWindow)
        window = minimumWindow
    }

    // MARK: Pacing

    /// Whether pacing allows `bytes` now; refills the bucket first.
    public mutating func paced(_ bytes: Int, now: Instant, smoothedRTT: Duration?) -> Bool {
        refill(now: now, smoothedRTT: smoothedRTT)
        return tokens >= Double(bytes)
    }

    /// When enough tokens for `bytes` will have accumulated.
    public func nextSendTime(_ bytes: Int, smoothedRTT: Duration?) -> Instant {
        guard let rate = rate(smoothedRTT), tokens < Double(bytes) else { return tokensUpdated }
        let wait = (Double(bytes) - tokens) / rate
        return tokensUpdated + .nanoseconds(Int64(wait * 1e9) + 1)
    }

    private mutating func refill(now: Instant, smoothedRTT: Duration?) {
        defer { tokensUpdated = max(tokensUpdated, now) }
        guard let rate = rate(smoothedRTT) else { tokens = burst; return }
        let elapsed = Double(now.since(tokensUpdated).nanoseconds) / 1e9
        tokens = min(burst, tokens + elapsed * rate)
    }

    /// Bytes a second; nil (no pacing) before the first RTT sample. Twice the
    /// window per round trip in slow start (so the window can double, as
    /// Linux paces), 1.25 times after.
    private func rate(_ smoothedRTT: Duration?) -> Double? {
        guard let rtt = smoothedRTT, rtt > .zero else { return nil }
        let gain = window < slowStartThreshold ? 2.0 : 1.25
        return gain * Double(window) / (Double(rtt.nanoseconds) / 1e9)
    }
}
