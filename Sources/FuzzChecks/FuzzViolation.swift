/// The one error type of FuzzChecks: an input broke a property a fuzz target
/// checks (a value that does not survive re-encoding, an acknowledgement that
/// names a chunk that never came, a delivery whose digest does not match).
/// The fuzz targets turn it into a crash, so libFuzzer saves the input; the
/// regression tests turn it into a failed test.
///
/// A trap inside the code under test (an index out of range, an overflow, a
/// failed precondition) is not one of these: it crashes the fuzzer and the
/// test process alike, which is the finding.
public struct FuzzViolation: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A decoded value re-encodes to bytes that decode to something else, or not at all.
        case roundTrip
        /// Two ways of decoding the same bytes disagree.
        case inconsistent
        /// A state machine did what its contract rules out.
        case invariant
        /// More memory or work than the documented bound.
        case bound
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Throws a violation of `code` when `condition` is false.
@inline(__always)
func require(_ condition: Bool, _ code: FuzzViolation.Code, _ message: @autoclosure () -> String) throws(FuzzViolation) {
    guard condition else { throw FuzzViolation(code, message()) }
}
