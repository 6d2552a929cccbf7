import Crypto

/// Who is online: the records peers register with every server, as a pure
/// state machine (time injected).
///
/// A record binds a user name to a signing key (Ed25519) on first use, with
/// the user's agreement key (X25519) and peer-to-peer endpoint; every record
/// is signed by that signing key and carries a sequence number, so a server
/// takes only records the name's owner made, and only newer ones (a replay is
/// stale). Peers re-register every second: that is their heartbeat. A user
/// not heard for `expiry` is offline; one that says it is leaving, at once.
/// Servers pass their records to a restarted server (`merge`), which checks
/// each signature itself.
public struct Directory: Sendable {
    public struct Record: Sendable, Equatable {
        public var name: String
        public var signingKey: [UInt8]
        public var agreementKey: [UInt8]
        /// Where the user's peer takes direct transfers ("host:port"), empty when leaving.
        public var endpoint: String
        /// Larger in every record the user makes (milliseconds since 1970 serve).
        public var sequence: UInt64
        public var leaving: Bool
        public var signature: [UInt8]

        public init(name: String, signingKey: [UInt8], agreementKey: [UInt8], endpoint: String, sequence: UInt64,
                    leaving: Bool = false, signature: [UInt8] = []) {
            self.name = name
            self.signingKey = signingKey
            self.agreementKey = agreementKey
            self.endpoint = endpoint
            self.sequence = sequence
            self.leaving = leaving
            self.signature = signature
        }

        /// The bytes the signature covers.
        public var signedBytes: [UInt8] {
            var bytes = Array("photocloud directory v1".utf8)
            bytes.appendString(name)
            bytes += signingKey + agreementKey
            bytes.appendString(endpoint)
            bytes.appendBigEndian(sequence)
            bytes.append(leaving ? 1 : 0)
            return bytes
        }

        /// Signed with `key`, whose public half must be `signingKey`.
        public func signed(with key: Curve25519.Signing.PrivateKey) throws -> Record {
            var record = self
            record.signature = Array(try key.signature(for: signedBytes))
            return record
        }

        public var hasValidSignature: Bool {
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signingKey) else { return false }
            return key.isValidSignature(signature, for: signedBytes)
        }

        /// Names: 1-32 characters of a-z, 0-9, '-', '_', '.'.
        public static func isValidName(_ name: String) -> Bool {
            (1...32).contains(name.utf8.count) && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 || $0 == 46 }
        }
    }

    public enum Outcome: Sendable, Equatable {
        case accepted
        /// Not newer than the record held (a replay or a late duplicate).
        case stale
        case refused(String)
    }

    public struct Entry: Sendable {
        public var record: Record
        /// Nil: not heard within the expiry (a record learnt from another server, old already).
        public var lastHeard: Instant?
    }

    public let expiry: Duration
    public private(set) var entries: [String: Entry] = [:]
    /// Users at most; further new names are refused.
    public let capacity: Int

    public init(expiry: Duration = .milliseconds(3_500), capacity: Int = 100_000) {
        self.expiry = expiry
        self.capacity = capacity
    }

    /// A record from its owner (a registration or heartbeat).
    public mutating func register(_ record: Record, now: Instant) -> Outcome {
        take(record, heard: now)
    }

    /// A record another server held, heard by it `age` ago.
    @discardableResult
    public mutating func merge(_ record: Record, age: Duration, now: Instant) -> Outcome {
        // Instants start at this server's start: an age beyond it is approximated by the start.
        let heard = age >= expiry ? nil : Instant(nanoseconds: now.nanoseconds - min(now.nanoseconds, age.nanoseconds))
        return take(record, heard: heard)
    }

    public func isOnline(_ name: String, now: Instant) -> Bool {
        guard let entry = entries[name], let heard = entry.lastHeard else { return false }
        return !entry.record.leaving && now.since(heard) < expiry
    }

    /// Every known user, online or not, sorted by name.
    public func who(now: Instant) -> (online: [String], offline: [String]) {
        let names = entries.keys.sorted()
        return (names.filter { isOnline($0, now: now) }, names.filter { !isOnline($0, now: now) })
    }

    private mutating func take(_ record: Record, heard: Instant?) -> Outcome {
        guard Record.isValidName(record.name) else { return .refused("\"\(record.name)\" is not a valid user name (1-32 of a-z 0-9 - _ .)") }
        guard record.hasValidSignature else { return .refused("the record for \(record.name) is not signed by the key it carries") }
        if let known = entries[record.name] {
            guard known.record.signingKey == record.signingKey else {
                return .refused("the name \(record.name) belongs to another key; choose another name")
            }
            guard record.sequence > known.record.sequence else {
                if record.sequence == known.record.sequence, let heard, heard > known.lastHeard ?? .zero { entries[record.name]?.lastHeard = heard }
                return .stale
            }
        } else if entries.count >= capacity {
            return .refused("the directory is full")
        }
        let previous = entries[record.name]?.lastHeard
        entries[record.name] = Entry(record: record, lastHeard: [heard, previous].compactMap { $0 }.max())
        return .accepted
    }
}
