/// The one error type of PhotoCloudNode: configuration and runtime failures,
/// each a sentence that says what happened and what to do.
public struct NodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case clusterFile
        case io
        case network
        /// No server of the cloud knows the user name.
        case unknownUser
        /// A peer's daemon did not answer a call at all (it went away).
        case noAnswer
        /// No daemon listens on the user's control socket: a command may do the work itself.
        case noDaemon
        /// The local control channel failed (a bad frame, a daemon already running, a timeout).
        case localControl
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
