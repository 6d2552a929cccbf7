import PhotoCloudProtocol

/// The real clock as the protocol state machines see it: `Instant`s count
/// from the moment the clock was made (each actor has one).
public struct ProtocolClock: Sendable {
    public let origin: ContinuousClock.Instant

    public init(origin: ContinuousClock.Instant = .now) { self.origin = origin }

    public func now() -> Instant { Instant(nanoseconds: (ContinuousClock.now - origin).nanoseconds) }

    /// The real moment of a protocol instant.
    public func real(_ instant: Instant) -> ContinuousClock.Instant { origin + instant.since(.zero) }
}
