import Foundation
import GRDB
import PhotoCloudProtocol

/// What a server keeps on disk besides its token epoch: the directory's
/// bindings (each name with the latest record that changed its keys or
/// endpoint), so that a full restart of the cloud does not free every name.
/// SQLite through GRDB: WAL, synchronous commits, migrations from the first
/// version on. A record is committed before anyone is told it is bound.
public final class ServerStore: Sendable {
    public static let fileName = "server.sqlite"

    private let database: DatabaseQueue
    public let path: String

    /// Opens (creating and migrating) the store in `folder`.
    public init(folder: String) throws(StoreError) {
        path = (folder as NSString).appendingPathComponent(Self.fileName)
        database = try Self.openDatabase(path, migrator: Self.migrator)
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
        return migrator
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
