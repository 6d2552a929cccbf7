import Foundation
import PhotoCloudProtocol

/// The real clock as the protocol state machines see it: `Instant`s count
/// from the moment the clock was made (each actor has one).
public struct ProtocolClock: Sendable {
    public let origin: ContinuousClock.Instant

    public init(origin: ContinuousClock.Instant = .now) { self.origin = origin }

    public func now() -> Instant { Instant(nanoseconds: (ContinuousClock.now - origin).nanoseconds) }

    /// Milliseconds since 1970 (the wall clock: what grants, records, proofs
    /// and mail items carry, and what outlasts a restart).
    public static func wallMilliseconds() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1_000)) }

    /// The real moment of a protocol instant.
    public func real(_ instant: Instant) -> ContinuousClock.Instant { origin + instant.since(.zero) }
}
