/// Directory messages (docs/protocol.md, "Directory"): registrations and
/// `who` on the open scheme (records are signed by their owners), the copy a
/// restarted server asks its peers for on the cluster scheme.
public enum DirectoryMessage: Sendable, Equatable {
    /// Peer -> every server: a signed record (registration and heartbeat).
    case register(Directory.Record)
    /// Server -> peer: taken, or why not.
    case registered(name: String, refusal: String?)
    /// Anyone -> a server: the users it knows, from `offset` on.
    case whoRequest(offset: UInt32)
    /// Server -> asker: `total` users; these, from `offset`, with whether each is online.
    case whoReply(total: UInt32, offset: UInt32, users: [User])
    /// Server -> servers, at start: send me your records.
    case syncRequest
    /// Server -> server: records, each with how long ago it was heard (milliseconds).
    case sync([Held])

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

    public var type: MessageType {
        switch self {
        case .register: .directoryRegister
        case .registered: .directoryRegistered
        case .whoRequest: .whoRequest
        case .whoReply: .whoReply
        case .syncRequest: .directorySyncRequest
        case .sync: .directorySync
        }
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .register(let record):
            Self.append(record, to: &bytes)
        case .registered(let name, let refusal):
            bytes.appendString(name)
            bytes.append(refusal == nil ? 0 : 1)
            bytes.appendString(String((refusal ?? "").prefix(300)))
        case .whoRequest(let offset):
            bytes.appendBigEndian(offset)
        case .whoReply(let total, let offset, let users):
            bytes.appendBigEndian(total)
            bytes.appendBigEndian(offset)
            let list = users.prefix(Self.usersPerReply)
            bytes.appendBigEndian(UInt16(list.count))
            for user in list {
                bytes.appendString(user.name)
                bytes.append(user.online ? 1 : 0)
            }
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
            let refused = try readFlag(&reader, "refusal")
            let reason = try reader.readString(limit: 1_024)
            message = .registered(name: name, refusal: refused ? reason : nil)
        case .whoRequest:
            message = .whoRequest(offset: try reader.readUInt32())
        case .whoReply:
            let total = try reader.readUInt32(), offset = try reader.readUInt32()
            let count = Int(try reader.readUInt16())
            guard count <= usersPerReply, count * 3 <= reader.remaining else { throw WireError(.malformedBody, "a who reply announces \(count) users") }
            var users: [User] = []
            for _ in 0..<count { users.append(User(name: try reader.readString(limit: 64), online: try readFlag(&reader, "online"))) }
            message = .whoReply(total: total, offset: offset, users: users)
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
