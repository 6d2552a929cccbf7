import Foundation
import GRDB
import PhotoCloudProtocol

/// A user's state on disk (`HOME/USER/peer.sqlite`, objects beside it in
/// `objects/`): the album with its previews, the inbox of received photos
/// (kept as the stego PNG that came, sealed; opened at each view) with the
/// views left, requests both ways, the grants given with their versions,
/// and the keys of other users pinned on first use. SQLite through GRDB:
/// WAL, synchronous commits, migrations from the first version on. A row
/// commits after the files it names are on disk.
public final class PeerStore: Sendable {
    public static let fileName = "peer.sqlite"

    public struct AlbumEntry: Sendable, Equatable {
        public var photo: PhotoID
        public var title: String
        public var bytes: Int
        public var file: String
        public var preview: String
        public var addedAt: Date
    }

    public struct InboxEntry: Sendable, Equatable {
        public var photo: PhotoID
        public var owner: String
        public var title: String
        public var stego: String
        public var rights: ViewRights
        public var receivedAt: Date
    }

    public enum RequestState: String, Sendable, Codable {
        case pending, approved, denied
    }

    public struct PhotoRequest: Sendable, Equatable {
        public var id: RequestKey
        /// The other user: who asked (incoming) or the owner (outgoing).
        public var peer: String
        public var photo: PhotoID
        public var views: UInt32
        public var state: RequestState
        public var at: Date

        public init(id: RequestKey, peer: String, photo: PhotoID, views: UInt32, state: RequestState, at: Date) {
            self.id = id
            self.peer = peer
            self.photo = photo
            self.views = views
            self.state = state
            self.at = at
        }
    }

    public enum PinOutcome: Sendable, Equatable {
        case pinned, same, changed
    }

    private let database: DatabaseQueue
    public let objects: ObjectFiles
    public let path: String
    /// Photos and requests that came in, views that changed, requests answered: after each is written.
    public let changes = StoreChanges()

    public init(folder: String) throws(StoreError) {
        path = (folder as NSString).appendingPathComponent(Self.fileName)
        objects = try ObjectFiles(folder: (folder as NSString).appendingPathComponent("objects"))
        database = try ServerStore.openDatabase(path, migrator: Self.migrator)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: album, inbox, requests, grants, pinned keys") { db in
            try db.create(table: "album") { t in
                t.primaryKey("photo", .blob)
                t.column("title", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("file", .text).notNull()
                t.column("preview", .text).notNull()
                t.column("addedAt", .double).notNull()
            }
            try db.create(table: "inbox") { t in
                t.primaryKey("photo", .blob)
                t.column("owner", .text).notNull()
                t.column("title", .text).notNull()
                t.column("stego", .text).notNull()
                t.column("viewsLeft", .integer).notNull()
                t.column("version", .integer).notNull()
                t.column("receivedAt", .double).notNull()
            }
            for table in ["incomingRequest", "outgoingRequest"] {
                try db.create(table: table) { t in
                    t.primaryKey("id", .blob)
                    t.column("peer", .text).notNull()
                    t.column("photo", .blob).notNull()
                    t.column("views", .integer).notNull()
                    t.column("state", .text).notNull()
                    t.column("at", .double).notNull()
                }
            }
            try db.create(table: "grantGiven") { t in
                t.column("photo", .blob).notNull()
                t.column("receiver", .text).notNull()
                t.column("views", .integer).notNull()
                t.column("version", .integer).notNull()
                t.primaryKey(["photo", "receiver"])
            }
            try db.create(table: "pinnedKey") { t in
                t.primaryKey("user", .text)
                t.column("signingKey", .blob).notNull()
                t.column("agreementKey", .blob).notNull()
                t.column("pinnedAt", .double).notNull()
            }
        }
        return migrator
    }

    /// The migrations this build knows, in order (a newer database refuses to open).
    public static var migrations: [String] { migrator.migrations }

    // MARK: Album

    /// Puts a photo in the album (its file and preview first); false if it was there already.
    @discardableResult
    public func addToAlbum(photo: PhotoID, title: String, file: [UInt8], preview: [UInt8]) throws(StoreError) -> Bool {
        let fileName = try objects.put(file), previewName = try objects.put(preview)
        return try write("add \(photo) to the album") { db in
            try db.execute(sql: "INSERT OR IGNORE INTO album (photo, title, bytes, file, preview, addedAt) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [Data(photo.bytes), title, file.count, fileName, previewName, Date().timeIntervalSince1970])
            return db.changesCount > 0
        }
    }

    public func album() throws(StoreError) -> [AlbumEntry] {
        try read("read the album") { db in try Row.fetchAll(db, sql: "SELECT * FROM album ORDER BY addedAt, photo").compactMap(Self.albumEntry) }
    }

    public func albumEntry(_ photo: PhotoID) throws(StoreError) -> AlbumEntry? {
        try read("read the album") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM album WHERE photo = ?", arguments: [Data(photo.bytes)]).flatMap(Self.albumEntry)
        }
    }

    private static func albumEntry(_ row: Row) -> AlbumEntry? {
        guard let photo = PhotoID(bytes: Array(row["photo"] as Data)) else { return nil }
        return AlbumEntry(photo: photo, title: row["title"], bytes: row["bytes"], file: row["file"], preview: row["preview"],
                          addedAt: Date(timeIntervalSince1970: row["addedAt"]))
    }

    // MARK: Inbox

    /// Stores a received photo (the stego PNG first) with its rights; a
    /// photo already in the inbox keeps its row and only takes newer rights.
    public func receive(photo: PhotoID, owner: String, title: String, stego: [UInt8], rights: ViewRights) throws(StoreError) {
        let name = try objects.put(stego)
        let changed = try write("store \(photo) in the inbox") { db in
            try db.execute(sql: """
                INSERT INTO inbox (photo, owner, title, stego, viewsLeft, version, receivedAt) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(photo) DO UPDATE SET viewsLeft = excluded.viewsLeft, version = excluded.version
                WHERE excluded.version > inbox.version
                """, arguments: [Data(photo.bytes), owner, title, name, Int64(rights.viewsLeft), Int64(bitPattern: rights.version),
                                 Date().timeIntervalSince1970])
            return db.changesCount > 0
        }
        if changed { changes.post(.photoReceived(photo, from: owner)) }
    }

    public func inbox() throws(StoreError) -> [InboxEntry] {
        try read("read the inbox") { db in try Row.fetchAll(db, sql: "SELECT * FROM inbox ORDER BY receivedAt, photo").compactMap(Self.inboxEntry) }
    }

    public func inboxEntry(_ photo: PhotoID) throws(StoreError) -> InboxEntry? {
        try read("read the inbox") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM inbox WHERE photo = ?", arguments: [Data(photo.bytes)]).flatMap(Self.inboxEntry)
        }
    }

    private static func inboxEntry(_ row: Row) -> InboxEntry? {
        guard let photo = PhotoID(bytes: Array(row["photo"] as Data)) else { return nil }
        let views: Int64 = row["viewsLeft"], version: Int64 = row["version"]
        return InboxEntry(photo: photo, owner: row["owner"], title: row["title"], stego: row["stego"],
                          rights: ViewRights(viewsLeft: UInt32(clamping: views), version: UInt64(bitPattern: version)),
                          receivedAt: Date(timeIntervalSince1970: row["receivedAt"]))
    }

    /// Sets the rights of a photo in the inbox if `rights` is newer; true if it was.
    @discardableResult
    public func update(_ photo: PhotoID, rights: ViewRights) throws(StoreError) -> Bool {
        let changed = try write("update the views of \(photo)") { db in
            try db.execute(sql: "UPDATE inbox SET viewsLeft = ?, version = ? WHERE photo = ? AND version < ?",
                           arguments: [Int64(rights.viewsLeft), Int64(bitPattern: rights.version), Data(photo.bytes),
                                       Int64(bitPattern: rights.version)])
            return db.changesCount > 0
        }
        if changed { changes.post(.viewsChanged(photo)) }
        return changed
    }

    /// Counts one view, in one transaction with the check: the rights after
    /// it, or `noViewsLeft` (nothing changes then); a storage failure is a `StoreError`.
    public func consumeView(_ photo: PhotoID) throws -> ViewRights {
        do {
            return try database.write { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT * FROM inbox WHERE photo = ?", arguments: [Data(photo.bytes)]),
                      let entry = Self.inboxEntry(row) else {
                    throw PeerError(.unknown, "no photo \(photo) in the inbox")
                }
                let after = try entry.rights.viewed(photo: photo, owner: entry.owner)
                try db.execute(sql: "UPDATE inbox SET viewsLeft = ? WHERE photo = ?", arguments: [Int64(after.viewsLeft), Data(photo.bytes)])
                return after
            }
        } catch let error as PeerError {
            throw error
        } catch {
            throw ServerStore.storeError(error, doing: "count a view of \(photo)")
        }
    }

    // MARK: Grants given

    /// The next version for a grant of `photo` to `receiver`, recorded with
    /// its views before it is sent (versions are never reused).
    public func recordGrant(photo: PhotoID, receiver: String, views: UInt32) throws(StoreError) -> UInt64 {
        try write("record a grant of \(photo)") { db in
            let last = try Int64.fetchOne(db, sql: "SELECT version FROM grantGiven WHERE photo = ? AND receiver = ?",
                                          arguments: [Data(photo.bytes), receiver]) ?? 0
            // Milliseconds since 1970, and always above the last: a store made anew does not reuse a version.
            let version = max(last + 1, Int64(Date().timeIntervalSince1970 * 1_000))
            try db.execute(sql: """
                INSERT INTO grantGiven (photo, receiver, views, version) VALUES (?, ?, ?, ?)
                ON CONFLICT(photo, receiver) DO UPDATE SET views = excluded.views, version = excluded.version
                """, arguments: [Data(photo.bytes), receiver, Int64(views), version])
            return UInt64(version)
        }
    }

    /// Who was given views of `photo`, and how many.
    public func grantsGiven(_ photo: PhotoID) throws(StoreError) -> [(receiver: String, views: UInt32, version: UInt64)] {
        try read("read the grants") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM grantGiven WHERE photo = ? ORDER BY receiver", arguments: [Data(photo.bytes)]).map {
                let views: Int64 = $0["views"], version: Int64 = $0["version"]
                return ($0["receiver"], UInt32(clamping: views), UInt64(bitPattern: version))
            }
        }
    }

    // MARK: Requests

    public enum Direction: String, Sendable {
        case incoming = "incomingRequest", outgoing = "outgoingRequest"
    }

    /// Records a request (the same id twice is one request); false if it was known.
    @discardableResult
    public func add(_ request: PhotoRequest, _ direction: Direction) throws(StoreError) -> Bool {
        let added = try write("record request \(request.id)") { db in
            try db.execute(sql: "INSERT OR IGNORE INTO \(direction.rawValue) (id, peer, photo, views, state, at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [Data(request.id.bytes), request.peer, Data(request.photo.bytes), Int64(request.views),
                                       request.state.rawValue, request.at.timeIntervalSince1970])
            return db.changesCount > 0
        }
        if added, direction == .incoming { changes.post(.requestReceived(request.id, from: request.peer)) }
        return added
    }

    public func requests(_ direction: Direction, state: RequestState? = nil) throws(StoreError) -> [PhotoRequest] {
        try read("read the requests") { db in
            let rows = if let state {
                try Row.fetchAll(db, sql: "SELECT * FROM \(direction.rawValue) WHERE state = ? ORDER BY at", arguments: [state.rawValue])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM \(direction.rawValue) ORDER BY at")
            }
            return rows.compactMap(Self.request)
        }
    }

    public func request(_ id: RequestKey, _ direction: Direction) throws(StoreError) -> PhotoRequest? {
        try read("read the requests") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM \(direction.rawValue) WHERE id = ?", arguments: [Data(id.bytes)]).flatMap(Self.request)
        }
    }

    public func set(_ id: RequestKey, _ direction: Direction, state: RequestState) throws(StoreError) {
        let changed = try write("update request \(id)") { db in
            try db.execute(sql: "UPDATE \(direction.rawValue) SET state = ? WHERE id = ? AND state != ?",
                           arguments: [state.rawValue, Data(id.bytes), state.rawValue])
            return db.changesCount > 0
        }
        if changed, direction == .outgoing { changes.post(.requestAnswered(id, state)) }
    }

    private static func request(_ row: Row) -> PhotoRequest? {
        guard let id = RequestKey(bytes: Array(row["id"] as Data)), let photo = PhotoID(bytes: Array(row["photo"] as Data)),
              let state = RequestState(rawValue: row["state"]) else { return nil }
        let views: Int64 = row["views"]
        return PhotoRequest(id: id, peer: row["peer"], photo: photo, views: UInt32(clamping: views), state: state,
                            at: Date(timeIntervalSince1970: row["at"]))
    }

    // MARK: Pinned keys

    /// Pins `user`'s keys on first sight; says whether they are the pinned ones.
    public func pin(user: String, signingKey: [UInt8], agreementKey: [UInt8]) throws(StoreError) -> PinOutcome {
        try write("pin \(user)'s keys") { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM pinnedKey WHERE user = ?", arguments: [user]) {
                let same = Array(row["signingKey"] as Data) == signingKey && Array(row["agreementKey"] as Data) == agreementKey
                return same ? .same : .changed
            }
            try db.execute(sql: "INSERT INTO pinnedKey (user, signingKey, agreementKey, pinnedAt) VALUES (?, ?, ?, ?)",
                           arguments: [user, Data(signingKey), Data(agreementKey), Date().timeIntervalSince1970])
            return .pinned
        }
    }

    public func pinned(_ user: String) throws(StoreError) -> (signingKey: [UInt8], agreementKey: [UInt8])? {
        try read("read pinned keys") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM pinnedKey WHERE user = ?", arguments: [user]).map {
                (Array($0["signingKey"] as Data), Array($0["agreementKey"] as Data))
            }
        }
    }

    // MARK: Plumbing

    private func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try database.read(body) } catch { throw ServerStore.storeError(error, doing: what) }
    }

    private func write<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try database.write(body) } catch { throw ServerStore.storeError(error, doing: what) }
    }
}
