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

        public static let digestSize = 16

        /// The first 16 bytes of SHA-256 of the record as signed and its
        /// signature: what an answer names to say which record it answers.
        public var digest: [UInt8] {
            var hash = SHA256()
            hash.update(data: signedBytes)
            hash.update(data: signature)
            return Array(Array(hash.finalize()).prefix(Self.digestSize))
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
        /// A name new here, now bound to the record's key (to be persisted before it is confirmed).
        case bound
        /// A newer record whose keys or endpoint changed (worth persisting).
        case updated
        /// A newer record that changes only presence (a heartbeat).
        case accepted
        /// Not newer than the record held (a replay or a late duplicate).
        case stale
        /// Never to be taken (another key's name, a bad signature).
        case refused(String)
        /// Not now (the directory is full); the owner may try again later.
        case deferred(String)

        public var isTaken: Bool { self == .bound || self == .updated || self == .accepted }
    }

    public struct Entry: Sendable {
        public var record: Record
        /// Nil: not heard within the expiry (a record learnt from another server, old already).
        public var lastHeard: Instant?
    }

    public let expiry: Duration
    public private(set) var entries: [String: Entry] = [:]
    /// Every name, sorted: `who` reads a page of it instead of sorting per request.
    public private(set) var names: [String] = []
    /// How many names each signing key holds.
    private var namesPerKey: [[UInt8]: Int] = [:]
    /// Users at most; further new names are refused.
    public let capacity: Int
    /// Names one signing key may hold at most.
    public let namesPerKeyLimit: Int

    public init(expiry: Duration = .milliseconds(3_500), capacity: Int = 100_000, namesPerKey: Int = 8) {
        self.expiry = expiry
        self.capacity = capacity
        namesPerKeyLimit = namesPerKey
    }

    /// How far a record's sequence (its owner's clock, in milliseconds) may be
    /// from this server's clock.
    public static let clockTolerance: UInt64 = 60_000

    /// A record from its owner (a registration or heartbeat). With
    /// `wallClock` (this server's clock, milliseconds since 1970), a record
    /// whose sequence is more than `clockTolerance` away is not taken: a
    /// captured heartbeat replayed later, even to a cloud that restarted and
    /// remembers only bindings, does not make its owner look online.
    public mutating func register(_ record: Record, now: Instant, wallClock: UInt64? = nil) -> Outcome {
        if let wallClock {
            let skew = wallClock > record.sequence ? wallClock - record.sequence : record.sequence - wallClock
            guard skew <= Self.clockTolerance else {
                return .deferred("the record's time is \(skew / 1_000) s from this server's clock; check the clock of \(record.name)'s machine")
            }
        }
        return take(record, heard: now, sameRecordRefreshes: false)
    }

    /// A record another server held, heard by it `age` ago.
    @discardableResult
    public mutating func merge(_ record: Record, age: Duration, now: Instant) -> Outcome {
        // Instants start at this server's start: an age beyond it is approximated by the start.
        let heard = age >= expiry ? nil : Instant(nanoseconds: now.nanoseconds - min(now.nanoseconds, age.nanoseconds))
        return take(record, heard: heard, sameRecordRefreshes: true)
    }

    public func isOnline(_ name: String, now: Instant) -> Bool {
        guard let entry = entries[name], let heard = entry.lastHeard else { return false }
        return !entry.record.leaving && now.since(heard) < expiry
    }

    /// Every known user, online or not, sorted by name.
    public func who(now: Instant) -> (online: [String], offline: [String]) {
        (names.filter { isOnline($0, now: now) }, names.filter { !isOnline($0, now: now) })
    }

    /// Up to `limit` users from position `offset` in name order, each with
    /// whether it is online: the cost is the page, not the directory.
    public func page(from offset: Int, limit: Int, now: Instant) -> [(name: String, online: Bool)] {
        guard offset >= 0, offset < names.count, limit > 0 else { return [] }
        return names[offset..<min(names.count, offset + limit)].map { ($0, isOnline($0, now: now)) }
    }

    /// A record this server saved itself (at start): trusted as its own disk, offline until heard.
    public mutating func restore(_ record: Record) {
        guard Record.isValidName(record.name), entries[record.name] == nil, entries.count < capacity else { return }
        entries[record.name] = Entry(record: record, lastHeard: nil)
        insertName(record.name, key: record.signingKey)
    }

    /// Forgets a binding that could not be saved (before anyone was told of it).
    public mutating func unbind(_ name: String, key: [UInt8]) {
        guard entries[name]?.record.signingKey == key else { return }
        entries[name] = nil
        if let index = sortedIndex(of: name), index < names.count, names[index] == name { names.remove(at: index) }
        namesPerKey[key, default: 1] -= 1
        if namesPerKey[key] == 0 { namesPerKey[key] = nil }
    }
    /// `sameRecordRefreshes`: a copy of the record held, heard more recently,
    /// renews presence (another server heard it later); a peer's replay does not.
    private mutating func take(_ record: Record, heard: Instant?, sameRecordRefreshes: Bool) -> Outcome {
        guard Record.isValidName(record.name) else { return .refused("not a valid user name (1-32 of a-z 0-9 - _ .)") }
        guard record.signingKey.count == 32, record.agreementKey.count == 32, record.endpoint.utf8.count <= 128 else {
            return .refused("the record for \(record.name) is malformed")
        }
        let known = entries[record.name]
        if let known {
            guard known.record.signingKey == record.signingKey else {
                return .refused("the name \(record.name) belongs to another key; choose another name")
            }
            // Cheap checks first: a stale record costs no signature check.
            guard record.sequence > known.record.sequence else {
                if sameRecordRefreshes, record.sequence == known.record.sequence, record.signature == known.record.signature,
                   let heard, heard > known.lastHeard ?? .zero { entries[record.name]?.lastHeard = heard }
                return .stale
            }
        } else {
            guard entries.count < capacity else { return .deferred("the directory is full") }
            guard namesPerKey[record.signingKey, default: 0] < namesPerKeyLimit else {
                return .refused("this key holds \(namesPerKeyLimit) names already")
            }
        }
        guard record.hasValidSignature else { return .refused("the record for \(record.name) is not signed by the key it carries") }
        entries[record.name] = Entry(record: record, lastHeard: [heard, known?.lastHeard].compactMap { $0 }.max())
        guard let known else {
            insertName(record.name, key: record.signingKey)
            return .bound
        }
        let changed = known.record.agreementKey != record.agreementKey || known.record.endpoint != record.endpoint
        return changed ? .updated : .accepted
    }

    private mutating func insertName(_ name: String, key: [UInt8]) {
        names.insert(name, at: sortedIndex(of: name) ?? names.count)
        namesPerKey[key, default: 0] += 1
    }

    /// Where `name` is, or would be inserted, in `names` (binary search).
    private func sortedIndex(of name: String) -> Int? {
        var low = 0, high = names.count
        while low < high {
            let middle = (low + high) / 2
            if names[middle] < name { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
