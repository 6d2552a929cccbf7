/// Directory messages (docs/protocol.md, "Directory"): registrations and
/// `who` on the open scheme (records are signed by their owners), the copy a
/// restarted server asks its peers for on the cluster scheme.
public enum DirectoryMessage: Sendable, Equatable {
    /// Peer -> every server: a signed record (registration and heartbeat).
    case register(Directory.Record)
    /// Server -> peer (signed): the record of `sequence`, whose digest
    /// (`Directory.Record.digest`) this is, was taken, or why not. The digest
    /// binds the answer to the very record: one a stranger sent under the
    /// peer's name and sequence (from the peer's address) is not the peer's.
    case registered(name: String, sequence: UInt64, digest: [UInt8], refusal: Refusal?)
    /// Anyone -> a server: the users it knows, from `offset` on.
    case whoRequest(QueryHeader, offset: UInt32)
    /// Server -> asker (signed): `total` users; these, from `offset`, with whether each is online.
    case whoReply(nonce: UInt64, total: UInt32, offset: UInt32, users: [User])
    /// Anyone -> a server: the record of `name` (its keys and endpoints).
    case lookupRequest(QueryHeader, name: String)
    /// Server -> asker (signed): the record it holds for `name` (signed by
    /// its owner), nil if none, and whether the user is online.
    case lookupReply(nonce: UInt64, name: String, record: Directory.Record?, online: Bool)
    /// Server -> servers, at start: send me your records.
    case syncRequest
    /// Server -> server: records, each with how long ago it was heard (milliseconds).
    case sync([Held])

    /// Why a record was not taken; `permanent` if trying again cannot help.
    public struct Refusal: Sendable, Equatable {
        public var reason: String
        public var permanent: Bool

        public init(_ reason: String, permanent: Bool) {
            self.reason = reason
            self.permanent = permanent
        }
    }

    public struct User: Sendable, Equatable {
        public var name: String
        public var online: Bool

        public init(name: String, online: Bool) {
            self.name = name
            self.online = online
        }
    }

    public struct Held: Sendable, Equatable {
        public var record: Directory.Record
        public var ageMilliseconds: UInt32

        public init(record: Directory.Record, ageMilliseconds: UInt32) {
            self.record = record
            self.ageMilliseconds = ageMilliseconds
        }
    }

    /// Per datagram: about 40 bytes a user, 240 a record.
    public static let usersPerReply = 500
    public static let recordsPerSync = 100
    /// A refusal's reason at most, in bytes: a `registered` stays within three times its `register`.
    public static let maxRefusal = 200

    public var type: MessageType {
        switch self {
        case .register: .directoryRegister
        case .registered: .directoryRegistered
        case .whoRequest: .whoRequest
        case .whoReply: .whoReply
        case .syncRequest: .directorySyncRequest
        case .sync: .directorySync
        case .lookupRequest: .lookupRequest
        case .lookupReply: .lookupReply
        }
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .register(let record):
            Self.append(record, to: &bytes)
        case .registered(let name, let sequence, let digest, let refusal):
            bytes.appendString(name)
            bytes.appendBigEndian(sequence)
            bytes.appendFixed(digest, count: Directory.Record.digestSize)
            bytes.append(refusal.map { $0.permanent ? 1 : 2 } ?? 0)
            bytes.appendString(String((refusal?.reason ?? "").utf8Prefix(Self.maxRefusal)))
        case .whoRequest(let query, let offset):
            query.append(to: &bytes)
            bytes.appendBigEndian(offset)
        case .whoReply(let nonce, let total, let offset, let users):
            bytes.appendBigEndian(nonce)
            bytes.appendBigEndian(total)
            bytes.appendBigEndian(offset)
            let list = users.prefix(Self.usersPerReply)
            bytes.appendBigEndian(UInt16(list.count))
            for user in list {
                bytes.appendString(user.name)
                bytes.append(user.online ? 1 : 0)
            }
        case .lookupRequest(let query, let name):
            query.append(to: &bytes)
            bytes.appendString(String(name.utf8Prefix(64)))
        case .lookupReply(let nonce, let name, let record, let online):
            bytes.appendBigEndian(nonce)
            bytes.appendString(String(name.utf8Prefix(64)))
            bytes.append(online ? 1 : 0)
            bytes.append(record == nil ? 0 : 1)
            if let record { Self.append(record, to: &bytes) }
        case .syncRequest:
            break
        case .sync(let held):
            let list = held.prefix(Self.recordsPerSync)
            bytes.appendBigEndian(UInt16(list.count))
            for entry in list {
                Self.append(entry.record, to: &bytes)
                bytes.appendBigEndian(entry.ageMilliseconds)
            }
        }
        return bytes
    }

    public static func decode(type: MessageType, body: ArraySlice<UInt8>) throws(WireError) -> DirectoryMessage {
        var reader = ByteReader(body)
        let message: DirectoryMessage
        switch type {
        case .directoryRegister:
            message = .register(try readRecord(&reader))
        case .directoryRegistered:
            let name = try reader.readString(limit: 64)
            let sequence = try reader.readUInt64()
            let digest = try reader.readBytes(Directory.Record.digestSize)
            let kind = try reader.readUInt8()
            guard kind <= 2 else { throw WireError(.malformedBody, "unknown refusal kind \(kind)") }
            let reason = try reader.readString(limit: maxRefusal)
            guard kind != 0 || reason.isEmpty else { throw WireError(.malformedBody, "an acceptance with a reason") }
            message = .registered(name: name, sequence: sequence, digest: digest, refusal: kind == 0 ? nil : Refusal(reason, permanent: kind == 1))
        case .whoRequest:
            let query = try QueryHeader.read(&reader)
            message = .whoRequest(query, offset: try reader.readUInt32())
        case .whoReply:
            let nonce = try reader.readUInt64()
            let total = try reader.readUInt32(), offset = try reader.readUInt32()
            let count = Int(try reader.readUInt16())
            guard count <= usersPerReply, count * 3 <= reader.remaining else { throw WireError(.malformedBody, "a who reply announces \(count) users") }
            var users: [User] = []
            for _ in 0..<count { users.append(User(name: try reader.readString(limit: 64), online: try readFlag(&reader, "online"))) }
            message = .whoReply(nonce: nonce, total: total, offset: offset, users: users)
        case .lookupRequest:
            let query = try QueryHeader.read(&reader)
            message = .lookupRequest(query, name: try reader.readString(limit: 64))
        case .lookupReply:
            let nonce = try reader.readUInt64()
            let name = try reader.readString(limit: 64)
            let online = try readFlag(&reader, "online")
            let record = try readFlag(&reader, "record") ? try readRecord(&reader) : nil
            message = .lookupReply(nonce: nonce, name: name, record: record, online: online)
        case .directorySyncRequest:
            message = .syncRequest
        case .directorySync:
            let count = Int(try reader.readUInt16())
            guard count <= recordsPerSync, count * 150 <= reader.remaining else { throw WireError(.malformedBody, "a sync announces \(count) records") }
            var held: [Held] = []
            for _ in 0..<count { held.append(Held(record: try readRecord(&reader), ageMilliseconds: try reader.readUInt32())) }
            message = .sync(held)
        default:
            throw WireError(.unknownType, "\(type) is not a directory message")
        }
        try reader.expectEnd()
        return message
    }

    // MARK: Records

    static func append(_ record: Directory.Record, to bytes: inout [UInt8]) {
        bytes.appendString(record.name)
        bytes += record.signingKey + record.agreementKey
        bytes.appendString(record.endpoint)
        bytes.appendBigEndian(record.sequence)
        bytes.append(record.leaving ? 1 : 0)
        bytes += record.signature
    }

    static func readRecord(_ reader: inout ByteReader) throws(WireError) -> Directory.Record {
        let name = try reader.readString(limit: 64)
        let signing = try reader.readBytes(32), agreement = try reader.readBytes(32)
        let endpoint = try reader.readString(limit: 128)
        let sequence = try reader.readUInt64()
        let leaving = try readFlag(&reader, "leaving")
        return Directory.Record(name: name, signingKey: signing, agreementKey: agreement, endpoint: endpoint, sequence: sequence,
                                leaving: leaving, signature: try reader.readBytes(64))
    }

    static func readFlag(_ reader: inout ByteReader, _ what: String) throws(WireError) -> Bool {
        let flag = try reader.readUInt8()
        guard flag <= 1 else { throw WireError(.malformedBody, "the \(what) flag is \(flag)") }
        return flag == 1
    }
}

extension String {
    /// The longest prefix of at most `limit` UTF-8 bytes that ends on a character boundary.
    public func utf8Prefix(_ limit: Int) -> Substring {
        var end = startIndex, used = 0
        for index in indices {
            let next = self.index(after: index)
            used += self[index..<next].utf8.count
            guard used <= limit else { break }
            end = next
        }
        return self[startIndex..<end]
    }
}
