/// The one error type of PhotoCloudStore: what went wrong with a node's
/// database, in words a user can act on. Nothing is claimed as stored when
/// one is thrown.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The disk (or the file system's quota) is full.
        case full
        /// The database cannot be opened, read or written.
        case io
        /// The database holds something this build cannot read.
        case corrupt
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
