import Foundation
import GRDB
import ZMQ

/// Where a Clone server keeps its map beyond its own life: each change is written, and on disk,
/// before the server publishes it, so a server killed and restarted serves the same map, and its
/// sequence numbers go on from where they were. The Guide's servers keep the map in memory
/// only, and lose it when both of a pair die.
///
/// The server waits for each write before it publishes the change and reads the next message,
/// so a slow disk slows the server rather than let it publish what is not stored. Each server
/// needs a store of its own: the two of a pair each keep theirs.
public protocol CloneStore: Sendable {
    /// The map and the sequence number as last stored (empty and 0 for a new store). `expires`
    /// is the wall-clock time an ephemeral key goes.
    func load() async throws -> (entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64)
    /// Stores `entry` (a delete, if its value is empty) and the map's sequence number with it.
    func record(_ entry: CloneEntry, expires: Date?, sequence: UInt64) async throws
    /// Replaces the whole map (a passive server taking the active one's snapshot).
    func replace(with entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64) async throws
}

/// The Clone store at `location`: SQLite or PostgreSQL.
public func cloneStore(at location: StoreLocation) async throws -> any CloneStore {
    switch location {
    case .sqlite(let path): try SQLiteCloneStore(path: path)
    case .postgres(let server): try await PostgresCloneStore(server)
    }
}

/// A Clone server's map in an SQLite file, written in WAL mode with `synchronous = FULL`, as
/// Titanic's store is: a change returns once it is committed to disk.
///
///     var server = CloneServer(endpoints: try CloneEndpoints("tcp://*:5556"))
///     server.store = try SQLiteCloneStore(path: "clone.sqlite")
public final class SQLiteCloneStore: CloneStore {
    private let database: DatabaseQueue

    /// Opens (or creates) the database at `path`. Throws if it cannot be opened, or if SQLite
    /// would not confirm write-ahead logging with full synchronous writes.
    public init(path: String) throws {
        database = try DurableDatabase.open(path: path, tables: ["clone_entry", "clone_sequence"]) { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS clone_entry (
                    key TEXT PRIMARY KEY,
                    sequence INTEGER NOT NULL,
                    uuid BLOB NOT NULL,
                    properties TEXT NOT NULL,
                    value BLOB NOT NULL,
                    expires REAL
                );
                CREATE TABLE IF NOT EXISTS clone_sequence (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    sequence INTEGER NOT NULL
                );
                INSERT OR IGNORE INTO clone_sequence (id, sequence) VALUES (1, 0);
                """)
        }
    }

    /// How SQLite keeps this file, as it reports it: write-ahead log and synchronous FULL (2).
    public func durability() async throws -> SQLiteDurability {
        try await DurableDatabase.durability(database)
    }

    public func load() async throws -> (entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64) {
        try await database.read { db in
            let sequence = try Int64.fetchOne(db, sql: "SELECT sequence FROM clone_sequence WHERE id = 1") ?? 0
            let entries = try Row.fetchAll(db, sql: "SELECT key, sequence, uuid, properties, value, expires FROM clone_entry").map { row in
                let expires: Double? = row["expires"]
                return (entry: CloneEntry(key: row["key"], sequence: UInt64(bitPattern: row["sequence"]), uuid: [UInt8](row["uuid"] as Data),
                                          properties: (try? CloneProtocol.properties(row["properties"]).get()) ?? [:], value: Frame([UInt8](row["value"] as Data))),
                        expires: expires.map(Date.init(timeIntervalSince1970:)))
            }
            return (entries, UInt64(bitPattern: sequence))
        }
    }

    public func record(_ entry: CloneEntry, expires: Date?, sequence: UInt64) async throws {
        try await database.write { db in
            try Self.write(entry, expires: expires, in: db)
            try db.execute(sql: "UPDATE clone_sequence SET sequence = ? WHERE id = 1", arguments: [Int64(bitPattern: sequence)])
        }
    }

    public func replace(with entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM clone_entry")
            for (entry, expires) in entries { try Self.write(entry, expires: expires, in: db) }
            try db.execute(sql: "UPDATE clone_sequence SET sequence = ? WHERE id = 1", arguments: [Int64(bitPattern: sequence)])
        }
    }

    private static func write(_ entry: CloneEntry, expires: Date?, in db: Database) throws {
        guard !entry.deletes else {
            return try db.execute(sql: "DELETE FROM clone_entry WHERE key = ?", arguments: [entry.key])
        }
        try db.execute(sql: """
            INSERT OR REPLACE INTO clone_entry (key, sequence, uuid, properties, value, expires) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [entry.key, Int64(bitPattern: entry.sequence), Data(entry.uuid), CloneProtocol.text(of: entry.properties), Data(entry.value.bytes),
                             expires?.timeIntervalSince1970])
    }
}
