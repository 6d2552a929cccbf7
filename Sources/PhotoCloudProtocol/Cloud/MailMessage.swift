import Crypto

/// What peers and servers say about the mailbox (docs/protocol.md,
/// "Mailbox"). A peer's messages travel as queries (`QueryHeader`: a nonce
/// the answer repeats, and the server's cookie once it has one); servers
/// answer signed. Storing needs no proof beyond the item itself (its
/// envelope is signed by its sender, whom the server knows); fetching and
/// acknowledging are signed by the recipient (`MailProof`). Servers catch up
/// with each other on the cluster scheme.
public enum MailMessage: Sendable, Equatable {
    /// Sender's daemon -> every server: hold `item` for its recipient.
    case store(QueryHeader, MailItem)
    /// Server -> asker (signed): where item `id` stands here.
    case status(nonce: UInt64, id: MailID, state: State)
    /// Recipient's daemon -> a server: the items held for me, from `offset`.
    case fetch(QueryHeader, MailProof, offset: UInt32)
    /// Server -> recipient (signed): `total` items held; these, from `offset`.
    case list(nonce: UInt64, total: UInt32, offset: UInt32, items: [MailItem])
    /// Recipient -> a server: send item `id`'s object as transfer `transfer` to the data endpoint my record publishes,
    /// for which `cookie` is the server's (sent there in an `addressCheck`: that endpoint has shown it receives).
    case fetchObject(QueryHeader, MailProof, id: MailID, transfer: UInt64, cookie: [UInt8])
    /// Recipient -> every server: these items are applied; delete them.
    case acknowledge(QueryHeader, MailProof, ids: [MailID])
    /// Server -> recipient (signed): `count` of them were held here and are deleted.
    case acknowledged(nonce: UInt64, count: UInt16)
    /// Server -> server: what you hold and what you buried, from `offset` (the cluster scheme).
    case syncRequest(offset: UInt32)
    /// Server -> server: `total` ids held from `offset`, and tombstones (sent whole on the first page).
    case syncList(total: UInt32, offset: UInt32, held: [MailID], tombstones: [MailID])
    /// Server -> server: send me these items.
    case syncFetch(ids: [MailID])
    /// Server -> server: the items asked for (their objects follow by `syncObject`).
    case syncItems([MailItem])
    /// Server -> server: send item `id`'s object as transfer `transfer` to my data endpoint.
    case syncObject(id: MailID, transfer: UInt64)

    public enum State: Sendable, Equatable {
        /// Durably held here (or delivered already).
        case stored
        /// Being written, or waiting: ask again in a moment.
        case pending
        /// Send the object as transfer `transfer` to this server's data endpoint.
        case sendObject(transfer: UInt64)
        case refused(String)
    }

    /// Per datagram at most (a list is also kept within about 48 KB by its sender), and ids of 16 bytes.
    public static let itemsPerList = 100
    public static let idsPerMessage = 1_000
    public static let maxReason = 160

    public var type: MessageType {
        switch self {
        case .store: .mailStore
        case .status: .mailStatus
        case .fetch: .mailFetch
        case .list: .mailList
        case .fetchObject: .mailFetchObject
        case .acknowledge: .mailAcknowledge
        case .acknowledged: .mailAcknowledged
        case .syncRequest: .mailSyncRequest
        case .syncList: .mailSyncList
        case .syncFetch: .mailSyncFetch
        case .syncItems: .mailSyncItems
        case .syncObject: .mailSyncObject
        }
    }

    /// The body without the query header (what a `ClusterPoll` sends after it), and the header itself.
    public func encodedBody() -> [UInt8] {
        var bytes: [UInt8] = []
        func ids(_ list: [MailID]) {
            let kept = list.prefix(Self.idsPerMessage)
            bytes.appendBigEndian(UInt16(kept.count))
            for id in kept { bytes += id.bytes }
        }
        switch self {
        case .store(_, let item):
            item.append(to: &bytes)
        case .status(let nonce, let id, let state):
            bytes.appendBigEndian(nonce)
            bytes += id.bytes
            switch state {
            case .stored: bytes.append(0)
            case .pending: bytes.append(1)
            case .sendObject(let transfer):
                bytes.append(2)
                bytes.appendBigEndian(transfer)
            case .refused(let reason):
                bytes.append(3)
                bytes.appendString(String(reason.utf8Prefix(Self.maxReason)))
            }
        case .fetch(_, let proof, let offset):
            bytes.appendBigEndian(offset)
            proof.append(to: &bytes)
        case .list(let nonce, let total, let offset, let items):
            bytes.appendBigEndian(nonce)
            bytes.appendBigEndian(total)
            bytes.appendBigEndian(offset)
            let kept = items.prefix(Self.itemsPerList)
            bytes.append(UInt8(kept.count))
            for item in kept { item.append(to: &bytes) }
        case .fetchObject(_, let proof, let id, let transfer, let cookie):
            bytes += id.bytes
            bytes.appendBigEndian(transfer)
            EncryptionMessage.appendCookie(cookie, to: &bytes)
            proof.append(to: &bytes)
        case .acknowledge(_, let proof, let list):
            ids(list)
            proof.append(to: &bytes)
        case .acknowledged(let nonce, let count):
            bytes.appendBigEndian(nonce)
            bytes.appendBigEndian(count)
        case .syncRequest(let offset):
            bytes.appendBigEndian(offset)
        case .syncList(let total, let offset, let held, let tombstones):
            bytes.appendBigEndian(total)
            bytes.appendBigEndian(offset)
            ids(held)
            ids(tombstones)
        case .syncFetch(let list):
            ids(list)
        case .syncItems(let items):
            let kept = items.prefix(Self.itemsPerList)
            bytes.append(UInt8(kept.count))
            for item in kept { item.append(to: &bytes) }
        case .syncObject(let id, let transfer):
            bytes += id.bytes
            bytes.appendBigEndian(transfer)
        }
        return bytes
    }

    /// The query header, for the messages a peer sends.
    public var query: QueryHeader? {
        switch self {
        case .store(let query, _), .fetch(let query, _, _), .fetchObject(let query, _, _, _, _), .acknowledge(let query, _, _): query
        default: nil
        }
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        query?.append(to: &bytes)
        return bytes + encodedBody()
    }

    /// Total: any bytes decode or throw.
    public static func decode(type: MessageType, body: ArraySlice<UInt8>) throws(WireError) -> MailMessage {
        var reader = ByteReader(body)
        func id() throws(WireError) -> MailID { MailID(bytes: try reader.readBytes(MailID.size))! }
        func ids() throws(WireError) -> [MailID] {
            let count = Int(try reader.readUInt16())
            guard count <= idsPerMessage else { throw WireError(.malformedBody, "\(count) mail ids in one message") }
            var list: [MailID] = []
            for _ in 0..<count { list.append(try id()) }
            return list
        }
        func items() throws(WireError) -> [MailItem] {
            let count = Int(try reader.readUInt8())
            guard count <= itemsPerList else { throw WireError(.malformedBody, "\(count) mail items in one message") }
            var list: [MailItem] = []
            for _ in 0..<count { list.append(try MailItem.read(&reader)) }
            return list
        }
        let message: MailMessage
        switch type {
        case .mailStore:
            message = .store(try QueryHeader.read(&reader), try MailItem.read(&reader))
        case .mailStatus:
            let nonce = try reader.readUInt64(), id = try id()
            let state: State
            switch try reader.readUInt8() {
            case 0: state = .stored
            case 1: state = .pending
            case 2: state = .sendObject(transfer: try reader.readUInt64())
            case 3: state = .refused(try reader.readString(limit: maxReason))
            case let other: throw WireError(.malformedBody, "unknown mail state \(other)")
            }
            message = .status(nonce: nonce, id: id, state: state)
        case .mailFetch:
            let query = try QueryHeader.read(&reader)
            let offset = try reader.readUInt32()
            message = .fetch(query, try MailProof.read(&reader), offset: offset)
        case .mailList:
            let nonce = try reader.readUInt64(), total = try reader.readUInt32(), offset = try reader.readUInt32()
            message = .list(nonce: nonce, total: total, offset: offset, items: try items())
        case .mailFetchObject:
            let query = try QueryHeader.read(&reader)
            let id = try id(), transfer = try reader.readUInt64()
            let cookie = try EncryptionMessage.readCookie(&reader)
            message = .fetchObject(query, try MailProof.read(&reader), id: id, transfer: transfer, cookie: cookie)
        case .mailAcknowledge:
            let query = try QueryHeader.read(&reader)
            let list = try ids()
            message = .acknowledge(query, try MailProof.read(&reader), ids: list)
        case .mailAcknowledged:
            message = .acknowledged(nonce: try reader.readUInt64(), count: try reader.readUInt16())
        case .mailSyncRequest:
            message = .syncRequest(offset: try reader.readUInt32())
        case .mailSyncList:
            let total = try reader.readUInt32(), offset = try reader.readUInt32()
            let held = try ids()
            message = .syncList(total: total, offset: offset, held: held, tombstones: try ids())
        case .mailSyncFetch:
            message = .syncFetch(ids: try ids())
        case .mailSyncItems:
            message = .syncItems(try items())
        case .mailSyncObject:
            message = .syncObject(id: try id(), transfer: try reader.readUInt64())
        default:
            throw WireError(.unknownType, "\(type) is not a mailbox message")
        }
        try reader.expectEnd()
        return message
    }
}

/// A recipient's signature on what it asks of its mailbox: its name, its
/// clock, and Ed25519 over the message type, the query's nonce and the
/// fields (`statement`), by the key the directory binds to the name.
public struct MailProof: Sendable, Equatable {
    public var user: String
    /// Milliseconds since 1970: a server takes proofs within five minutes of its own clock.
    public var time: UInt64
    public var signature: [UInt8]

    public static let window: UInt64 = 300_000

    public init(user: String, time: UInt64, signature: [UInt8] = []) {
        self.user = user
        self.time = time
        self.signature = signature
    }

    /// What the signature covers: the message `message` with this proof's user and time.
    public static func statement(of message: MailMessage, user: String, time: UInt64) -> [UInt8] {
        var bytes = Array("photocloud mail v1".utf8)
        bytes.append(message.type.rawValue)
        bytes.appendBigEndian(message.query?.nonce ?? 0)
        bytes.appendString(user)
        bytes.appendBigEndian(time)
        switch message {
        case .fetch(_, _, let offset): bytes.appendBigEndian(offset)
        case .fetchObject(_, _, let id, let transfer, _):
            bytes += id.bytes
            bytes.appendBigEndian(transfer)
        case .acknowledge(_, _, let ids): for id in ids { bytes += id.bytes }
        default: break
        }
        return bytes
    }

    /// `message` (whose proof is a placeholder) signed by `user` with `key` at `time`.
    public static func sign(_ message: MailMessage, user: String, time: UInt64, key: Curve25519.Signing.PrivateKey) throws(PeerError) -> MailMessage {
        let signature: [UInt8]
        do { signature = Array(try key.signature(for: statement(of: message, user: user, time: time))) } catch {
            throw PeerError(.crypto, "signing failed")
        }
        let proof = MailProof(user: user, time: time, signature: signature)
        switch message {
        case .fetch(let query, _, let offset): return .fetch(query, proof, offset: offset)
        case .fetchObject(let query, _, let id, let transfer, let cookie): return .fetchObject(query, proof, id: id, transfer: transfer, cookie: cookie)
        case .acknowledge(let query, _, let ids): return .acknowledge(query, proof, ids: ids)
        default: return message
        }
    }

    /// Whether this proof signs `message` with `key` (the user's signing key), at a time near `now`.
    public func isValid(for message: MailMessage, key: [UInt8], now: UInt64) -> Bool {
        guard time <= now &+ Self.window, now <= time &+ Self.window,
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return false }
        return key.isValidSignature(signature, for: Self.statement(of: message, user: user, time: time))
    }

    func append(to bytes: inout [UInt8]) {
        bytes.appendString(user)
        bytes.appendBigEndian(time)
        bytes.appendFixed(signature, count: 64)
    }

    static func read(_ reader: inout ByteReader) throws(WireError) -> MailProof {
        MailProof(user: try reader.readString(limit: 64), time: try reader.readUInt64(), signature: try reader.readBytes(64))
    }
}

extension MailID {
    /// The transfer that carries item `self`'s object to or from `server` (`label` says which way).
    public func objectTransfer(_ label: String, server: UInt64, nonce: UInt64 = 0) -> UInt64 {
        var hash = SHA256()
        hash.update(data: Array("photocloud mail object \(label)".utf8))
        hash.update(data: bytes + server.bigEndianBytes + nonce.bigEndianBytes)
        return Array(hash.finalize()).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
