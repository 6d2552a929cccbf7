/// One server's view of the cluster, as `photocloud status` shows it: asked
/// for with a `statusRequest` (open scheme, a `QueryHeader`), answered with a
/// `statusReply` (signed) carrying the query's nonce and this.
public struct ClusterStatus: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: UInt64
        public var alive: Bool
        /// Requests accepted since that server started, and waiting to be claimed.
        public var accepted: UInt64
        public var pending: UInt32

        public init(id: UInt64, alive: Bool, accepted: UInt64, pending: UInt32) {
            self.id = id
            self.alive = alive
            self.accepted = accepted
            self.pending = pending
        }
    }

    public var reporter: UInt64
    /// The furthest token position the reporter has seen, and who holds it (if known).
    public var seen: TokenPosition
    public var holder: UInt64?
    public var servers: [Entry]
    /// The reporter's mailbox: items held for offline users, and their bytes.
    public var mailItems: UInt32
    public var mailBytes: UInt64

    public init(reporter: UInt64, seen: TokenPosition, holder: UInt64?, servers: [Entry], mailItems: UInt32 = 0, mailBytes: UInt64 = 0) {
        self.reporter = reporter
        self.seen = seen
        self.holder = holder
        self.servers = servers
        self.mailItems = mailItems
        self.mailBytes = mailBytes
    }

    public static let maxServers = 1_024

    /// The reply to the query with `nonce`.
    public func encoded(nonce: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(nonce)
        bytes.appendBigEndian(reporter)
        RingMessage.append(seen, to: &bytes)
        bytes.appendBigEndian(holder ?? 0)
        let list = servers.prefix(Self.maxServers)
        bytes.appendBigEndian(UInt16(list.count))
        for entry in list {
            bytes.appendBigEndian(entry.id)
            bytes.append(entry.alive ? 1 : 0)
            bytes.appendBigEndian(entry.accepted)
            bytes.appendBigEndian(entry.pending)
        }
        bytes.appendBigEndian(mailItems)
        bytes.appendBigEndian(mailBytes)
        return bytes
    }

    /// A reply's nonce and status.
    public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> (nonce: UInt64, status: ClusterStatus) {
        var reader = ByteReader(body)
        let nonce = try reader.readUInt64()
        let reporter = try reader.readUInt64()
        let seen = try RingMessage.readPosition(&reader)
        let holder = try reader.readUInt64()
        let count = Int(try reader.readUInt16())
        guard count <= maxServers, count * 21 + 12 <= reader.remaining else {
            throw WireError(.malformedBody, "a status of \(count) servers does not fit the message")
        }
        var servers: [Entry] = []
        for _ in 0..<count {
            let id = try reader.readUInt64()
            let alive = try reader.readUInt8()
            guard alive <= 1 else { throw WireError(.malformedBody, "a status's alive flag is \(alive)") }
            servers.append(Entry(id: id, alive: alive == 1, accepted: try reader.readUInt64(), pending: try reader.readUInt32()))
        }
        let mailItems = try reader.readUInt32(), mailBytes = try reader.readUInt64()
        try reader.expectEnd()
        return (nonce, ClusterStatus(reporter: reporter, seen: seen, holder: holder == 0 ? nil : holder, servers: servers,
                                     mailItems: mailItems, mailBytes: mailBytes))
    }
}
