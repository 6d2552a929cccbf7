import Crypto
import Foundation
import GRDB
import PhotoCloudProtocol

/// What a server keeps on disk besides its token epoch: the directory's
/// bindings (each name with the latest record that changed its keys or
/// endpoint), so that a full restart of the cloud does not free every name;
/// and the mailbox: items held for offline users (their objects as files
/// named by SHA-256 in `mail-objects/`, written and synced before the row
/// commits) and the tombstones of delivered ones.
/// SQLite through GRDB: WAL, synchronous commits, migrations from the first
/// version on. A record or an item is committed before anyone is told it is held.
public final class ServerStore: Sendable {
    public static let fileName = "server.sqlite"

    private let database: DatabaseQueue
    public let path: String
    public let mailObjects: ObjectFiles

    /// Opens (creating and migrating) the store in `folder`.
    public init(folder: String) throws(StoreError) {
        path = (folder as NSString).appendingPathComponent(Self.fileName)
        database = try Self.openDatabase(path, migrator: Self.migrator)
        mailObjects = try ObjectFiles(folder: (folder as NSString).appendingPathComponent("mail-objects"))
    }

    /// The database at `path` (made if new): WAL, synchronous commits, migrated.
    static func openDatabase(_ path: String, migrator: DatabaseMigrator) throws(StoreError) -> DatabaseQueue {
        do {
            var configuration = Configuration()
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            let database = try DatabaseQueue(path: path, configuration: configuration)
            try migrator.migrate(database)
            return database
        } catch {
            throw storeError(error, doing: "open \(path)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: directory bindings") { db in
            try db.create(table: "directory") { table in
                table.primaryKey("name", .text)
                table.column("signingKey", .blob).notNull()
                table.column("agreementKey", .blob).notNull()
                table.column("endpoint", .text).notNull()
                table.column("sequence", .integer).notNull()
                table.column("leaving", .boolean).notNull()
                table.column("signature", .blob).notNull()
            }
        }
        migrator.registerMigration("v2: mailbox") { db in
            try db.create(table: "mail") { table in
                table.primaryKey("id", .blob)
                table.column("recipient", .text).notNull().indexed()
                table.column("sender", .text).notNull()
                table.column("envelope", .blob).notNull()
                table.column("objectBytes", .integer).notNull()
                table.column("objectDigest", .blob).notNull()
                table.column("storedAt", .integer).notNull()
            }
            try db.create(table: "mailTombstone") { table in
                table.primaryKey("id", .blob)
                table.column("at", .integer).notNull()
            }
        }
        migrator.registerMigration("v3: mail item signatures") { db in
            try db.alter(table: "mail") { table in
                table.add(column: "signature", .blob).notNull().defaults(to: Data())
            }
        }
        return migrator
    }

    // MARK: Mailbox

    /// Writes `item` (its object first, if given: a file synced with its
    /// folder) and commits its row; returns once both are on disk.
    public func saveMail(_ item: MailItem, object: [UInt8]?, storedAt: UInt64) async throws(StoreError) {
        if let object {
            guard object.count == Int(item.objectBytes), Array(SHA256.hash(data: object)) == item.objectDigest else {
                throw StoreError(.corrupt, "the object of mail item \(item.id) does not match its digest")
            }
            try mailObjects.put(object)
        }
        do {
            try await database.write { db in
                try db.execute(sql: """
                    INSERT OR IGNORE INTO mail (id, recipient, sender, envelope, objectBytes, objectDigest, storedAt, signature)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [Data(item.id.bytes), item.recipient, item.sender, Data(item.envelope),
                                     Int64(bitPattern: item.objectBytes), Data(item.objectDigest), Int64(bitPattern: storedAt),
                                     Data(item.signature)])
            }
        } catch {
            throw Self.storeError(error, doing: "store mail item \(item.id)")
        }
    }

    /// Every item held, with when it was stored, oldest first; and every tombstone.
    public func mail() throws(StoreError) -> (items: [(item: MailItem, storedAt: UInt64)], tombstones: [(MailID, UInt64)]) {
        do {
            return try database.read { db in
                let items = try Row.fetchAll(db, sql: "SELECT * FROM mail ORDER BY storedAt, id").compactMap { row -> (MailItem, UInt64)? in
                    guard let item = Self.item(row) else { return nil }
                    return (item, UInt64(bitPattern: row["storedAt"]))
                }
                let tombstones = try Row.fetchAll(db, sql: "SELECT id, at FROM mailTombstone").compactMap { row -> (MailID, UInt64)? in
                    MailID(bytes: Array(row["id"] as Data)).map { ($0, UInt64(bitPattern: row["at"])) }
                }
                return (items, tombstones)
            }
        } catch {
            throw Self.storeError(error, doing: "read the mailbox of \(path)")
        }
    }

    /// The items `ids` (those held), in the order asked.
    public func mailItems(_ ids: [MailID]) throws(StoreError) -> [MailItem] {
        do {
            return try database.read { db in
                try ids.compactMap { id in
                    try Row.fetchOne(db, sql: "SELECT * FROM mail WHERE id = ?", arguments: [Data(id.bytes)]).flatMap(Self.item)
                }
            }
        } catch {
            throw Self.storeError(error, doing: "read mail items")
        }
    }

    /// The object of a held item.
    public func mailObject(of item: MailItem) throws(StoreError) -> [UInt8] {
        try mailObjects.get(Hex.encode(item.objectDigest))
    }

    /// Deletes items (delivered or expired), leaving tombstones for the
    /// delivered ones; an object goes once no item names it.
    public func deleteMail(_ ids: [MailID], tombstoneAt: UInt64?) async throws(StoreError) {
        guard !ids.isEmpty else { return }
        let orphans: [String]
        do {
            orphans = try await database.write { db in
                var orphans: [String] = []
                for id in ids {
                    let key = Data(id.bytes)
                    if let digest = try Data.fetchOne(db, sql: "SELECT objectDigest FROM mail WHERE id = ?", arguments: [key]) {
                        try db.execute(sql: "DELETE FROM mail WHERE id = ?", arguments: [key])
                        if !digest.isEmpty, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mail WHERE objectDigest = ?", arguments: [digest]) == 0 {
                            orphans.append(Hex.encode(Array(digest)))
                        }
                    }
                    if let tombstoneAt {
                        try db.execute(sql: "INSERT OR IGNORE INTO mailTombstone (id, at) VALUES (?, ?)", arguments: [key, Int64(bitPattern: tombstoneAt)])
                    }
                }
                return orphans
            }
        } catch {
            throw Self.storeError(error, doing: "delete mail items")
        }
        for name in orphans { mailObjects.remove(name) }
    }

    /// Forgets tombstones beyond the newest `keeping`.
    public func pruneTombstones(keeping: Int) async throws(StoreError) {
        do {
            try await database.write { db in
                try db.execute(sql: "DELETE FROM mailTombstone WHERE id NOT IN (SELECT id FROM mailTombstone ORDER BY at DESC LIMIT ?)", arguments: [keeping])
            }
        } catch {
            throw Self.storeError(error, doing: "prune tombstones")
        }
    }

    private static func item(_ row: Row) -> MailItem? {
        let item = MailItem(recipient: row["recipient"], sender: row["sender"], envelope: Array(row["envelope"] as Data),
                            objectBytes: UInt64(bitPattern: row["objectBytes"]), objectDigest: Array(row["objectDigest"] as Data),
                            signature: Array(row["signature"] as Data))
        // A row whose content no longer names it is damaged: not handed out.
        return item.id.bytes == Array(row["id"] as Data) ? item : nil
    }

    /// Saves `record` (durably, before returning) as its name's binding.
    /// A record for a name bound to another key is refused: the first binding stays.
    public func save(_ record: Directory.Record) async throws(StoreError) {
        do {
            try await database.write { db in
                if let existing = try Data.fetchOne(db, sql: "SELECT signingKey FROM directory WHERE name = ?", arguments: [record.name]),
                   Array(existing) != record.signingKey {
                    throw StoreError(.corrupt, "the name \(record.name) is bound to another key on disk")
                }
                try db.execute(sql: """
                    INSERT INTO directory (name, signingKey, agreementKey, endpoint, sequence, leaving, signature)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET agreementKey = excluded.agreementKey, endpoint = excluded.endpoint,
                        sequence = excluded.sequence, leaving = excluded.leaving, signature = excluded.signature
                    WHERE excluded.sequence > directory.sequence
                    """, arguments: [record.name, Data(record.signingKey), Data(record.agreementKey), record.endpoint,
                                     Int64(bitPattern: record.sequence), record.leaving, Data(record.signature)])
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.storeError(error, doing: "save \(record.name)'s directory record")
        }
    }

    /// Every saved binding.
    public func records() throws(StoreError) -> [Directory.Record] {
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM directory ORDER BY name").map { row in
                    Directory.Record(name: row["name"], signingKey: Array(row["signingKey"] as Data), agreementKey: Array(row["agreementKey"] as Data),
                                     endpoint: row["endpoint"], sequence: UInt64(bitPattern: row["sequence"]), leaving: row["leaving"],
                                     signature: Array(row["signature"] as Data))
                }
            }
        } catch {
            throw Self.storeError(error, doing: "read the directory of \(path)")
        }
    }

    static func storeError(_ error: any Error, doing what: String) -> StoreError {
        if let error = error as? DatabaseError {
            if error.resultCode == .SQLITE_FULL { return StoreError(.full, "cannot \(what): the disk is full; free space and try again") }
            if error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB {
                return StoreError(.corrupt, "cannot \(what): the database is damaged (\(error.message ?? "\(error.resultCode)"))")
            }
            return StoreError(.io, "cannot \(what): \(error.message ?? "\(error.resultCode)")")
        }
        return StoreError(.io, "cannot \(what): \(error)")
    }
}
