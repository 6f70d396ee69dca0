import Foundation
import GRDB
import ZMQ

/// Titanic's requests and replies in an SQLite database file: each change is committed, and on
/// disk (write-ahead log, full synchronous writes), before the call returns. Restart Titanic on
/// the same file and it takes up the requests still pending. Titanic processes on one host can
/// share the file: each request is held by one of them at a time.
///
///     let store = try SQLiteTitanicStore(path: "titanic.sqlite")
public final class SQLiteTitanicStore: TitanicStore {
    private let database: DatabaseQueue

    /// Opens (or creates) the database at `path`. Throws if it cannot be opened, or if SQLite
    /// would not confirm write-ahead logging with full synchronous writes.
    public init(path: String) throws {
        database = try DurableDatabase.open(path: path, tables: ["titanic_request", "titanic_totals"]) { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS titanic_request (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    service TEXT NOT NULL,
                    body BLOB NOT NULL,
                    reply BLOB,
                    stored REAL NOT NULL DEFAULT 0,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    owner TEXT,
                    held_until REAL
                );
                CREATE TABLE IF NOT EXISTS titanic_totals (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    closed INTEGER NOT NULL
                );
                INSERT OR IGNORE INTO titanic_totals (id, closed) VALUES (1, 0);
                """)
            // A file from before requests kept their time, attempts and holder gains the columns.
            let columns = Set(try Row.fetchAll(db, sql: "PRAGMA table_info(titanic_request)").map { $0["name"] as String })
            if !columns.contains("stored") { try db.execute(sql: "ALTER TABLE titanic_request ADD COLUMN stored REAL NOT NULL DEFAULT 0") }
            if !columns.contains("attempts") { try db.execute(sql: "ALTER TABLE titanic_request ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0") }
            if !columns.contains("owner") { try db.execute(sql: "ALTER TABLE titanic_request ADD COLUMN owner TEXT") }
            if !columns.contains("held_until") { try db.execute(sql: "ALTER TABLE titanic_request ADD COLUMN held_until REAL") }
        }
    }

    /// How SQLite keeps this file, as it reports it: write-ahead log and synchronous FULL (2).
    public func durability() async throws -> SQLiteDurability {
        try await DurableDatabase.durability(database)
    }

    public func store(_ request: TitanicRequest, claim: TitanicClaim?) async throws {
        let now = Date()
        try await database.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO titanic_request (id, service, body, stored, owner, held_until) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [request.id, request.service, FrameCoding.encode(request.body), now.timeIntervalSince1970,
                                       claim?.owner, claim.map { Self.until(now, $0.lease) }])
        }
    }

    public func claim(upTo limit: Int, for claim: TitanicClaim, includingOwn: Bool) async throws -> [TitanicRequest] {
        let now = Date()
        return try await database.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT sequence, id, service, body FROM titanic_request
                WHERE reply IS NULL AND (owner IS NULL OR held_until < ? OR (? AND owner = ?))
                ORDER BY sequence LIMIT ?
                """, arguments: [now.timeIntervalSince1970, includingOwn, claim.owner, max(0, limit)])
            for row in rows {
                try db.execute(sql: "UPDATE titanic_request SET owner = ?, held_until = ? WHERE sequence = ?",
                               arguments: [claim.owner, Self.until(now, claim.lease), row["sequence"] as Int64])
            }
            return rows.compactMap { row in
                FrameCoding.decode(row["body"]).map { TitanicRequest(id: row["id"], service: row["service"], body: $0) }
            }
        }
    }

    public func renew(_ claim: TitanicClaim) async throws {
        let until = Self.until(Date(), claim.lease)
        try await database.write { db in
            try db.execute(sql: "UPDATE titanic_request SET held_until = ? WHERE owner = ? AND reply IS NULL", arguments: [until, claim.owner])
        }
    }

    public func holds(_ id: String, for owner: String) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM titanic_request WHERE id = ? AND reply IS NULL AND owner = ?", arguments: [id, owner]) != nil
        }
    }

    public func release(_ owner: String) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE titanic_request SET owner = NULL, held_until = NULL WHERE owner = ?", arguments: [owner])
        }
    }

    private static func until(_ now: Date, _ lease: Duration) -> Double {
        now.timeIntervalSince1970 + seconds(lease)
    }

    public func pending() async throws -> [TitanicRequest] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, service, body FROM titanic_request WHERE reply IS NULL ORDER BY sequence").compactMap { row in
                guard let body = FrameCoding.decode(row["body"]) else { return nil }
                return TitanicRequest(id: row["id"], service: row["service"], body: body)
            }
        }
    }

    public func storeReply(_ reply: Message, for id: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "UPDATE titanic_request SET reply = ? WHERE id = ? AND reply IS NULL",
                           arguments: [FrameCoding.encode(reply), id])
            return db.changesCount == 1
        }
    }

    public func state(of id: String) async throws -> TitanicRequestState {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT reply FROM titanic_request WHERE id = ?", arguments: [id]) else {
                return .unknown
            }
            let reply: Data? = row["reply"]
            return reply.flatMap(FrameCoding.decode).map(TitanicRequestState.answered) ?? .pending
        }
    }

    public func close(_ id: String) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM titanic_request WHERE id = ?", arguments: [id])
            if db.changesCount == 1 { try db.execute(sql: "UPDATE titanic_totals SET closed = closed + 1 WHERE id = 1") }
        }
    }

    /// Not waited to disk: a count for an operator is not worth an fsync per send (the next
    /// durable commit carries it anyway), and a power cut may lose the last few.
    public func recordAttempt(for id: String) async throws {
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            let counted = Result { try db.execute(sql: "UPDATE titanic_request SET attempts = attempts + 1 WHERE id = ?", arguments: [id]) }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try counted.get()
        }
    }

    public func summary() async throws -> TitanicStoreSummary {
        try await database.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) FILTER (WHERE reply IS NULL) AS pending, COUNT(reply) AS answered,
                       MIN(stored) FILTER (WHERE reply IS NULL) AS oldest FROM titanic_request
                """)
            let closed = try Int.fetchOne(db, sql: "SELECT closed FROM titanic_totals WHERE id = 1") ?? 0
            let oldest: Double? = row?["oldest"]
            return TitanicStoreSummary(pending: row?["pending"] ?? 0, answered: row?["answered"] ?? 0, closed: closed,
                                       oldestPending: oldest.map(Date.init(timeIntervalSince1970:)))
        }
    }

    public func items() async throws -> [TitanicStoreItem] {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, service, reply IS NOT NULL AS answered, attempts, stored, CASE WHEN reply IS NULL THEN owner END AS owner
                FROM titanic_request ORDER BY sequence
                """).map { row in
                TitanicStoreItem(id: row["id"], service: row["service"], answered: row["answered"], attempts: row["attempts"],
                                 stored: Date(timeIntervalSince1970: row["stored"]), owner: row["owner"])
            }
        }
    }
}

/// An SQLite database opened for durability: write-ahead log and `synchronous = FULL`, set on
/// the one connection after opening and read back, since some libraries (GRDB's pools among
/// them) quietly lower it to NORMAL, which can lose the last commits to a power cut.
enum DurableDatabase {
    /// Opens `path` and makes sure `schema` is in it. With `tables`, a database that already
    /// holds tables, none of them these, is another program's: it is refused before anything
    /// in it is changed.
    static func open(path: String, tables: Set<String> = [], schema: @escaping @Sendable (Database) throws -> Void) throws -> DatabaseQueue {
        var configuration = Configuration()
        // Another process may hold the file's lock for a moment (a tool reading it, a second
        // store): wait for it rather than fail the write.
        configuration.busyMode = .timeout(10)
        let database: DatabaseQueue
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            if !tables.isEmpty {
                let present = try database.read { db in
                    try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                }
                guard present.isEmpty || !tables.isDisjoint(with: present) else {
                    throw ZMQError.invalidFile(path, reason: "it is another program's database (tables \(present.sorted().joined(separator: ", "))); nothing in it was changed")
                }
            }
        } catch let error as DatabaseError {
            throw ZMQError.invalidFile(path, reason: "not an SQLite database this can use: \(error.message ?? "\(error)")")
        }
        try whileLocked(for: 10) {
            try prepare(database, path: path, schema: schema)
        }
        return database
    }

    /// Turning a new file to WAL takes a lock SQLite does not wait for (the busy timeout is not
    /// consulted), so two stores opening one file together, as a broker pair sharing Titanic
    /// does, would see "database is locked": try again until the other has finished.
    private static func whileLocked(for patience: TimeInterval, _ body: () throws -> Void) throws {
        let deadline = Date(timeIntervalSinceNow: patience)
        var pause: TimeInterval = 0.001
        while true {
            do {
                return try body()
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && Date() < deadline {
                Thread.sleep(forTimeInterval: pause)
                pause = min(pause * 2, 0.1)
            }
        }
    }

    private static func prepare(_ database: DatabaseQueue, path: String,
                                schema: @escaping @Sendable (Database) throws -> Void) throws {
        try database.writeWithoutTransaction { db in
            let journal = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // On macOS a plain fsync leaves the data in the drive's cache: F_FULLFSYNC does not.
            // Elsewhere SQLite ignores these.
            try db.execute(sql: "PRAGMA fullfsync = ON")
            try db.execute(sql: "PRAGMA checkpoint_fullfsync = ON")
            let synchronous = try Int.fetchOne(db, sql: "PRAGMA synchronous")
            guard journal?.lowercased() == "wal", synchronous == 2 else {
                throw ZMQError(code: .invalidFile,
                               message: "SQLite would not keep \(path) durably (journal \(journal ?? "?"), synchronous \(synchronous ?? -1); want wal and 2)")
            }
            try db.inTransaction(.immediate) {
                try schema(db)
                return .commit
            }
        }
    }

    static func durability(_ database: DatabaseQueue) async throws -> SQLiteDurability {
        try await database.read { db in
            SQLiteDurability(journalMode: try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                             synchronous: try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }
}

/// How SQLite says it keeps a database: its journal mode (`wal`) and `synchronous` level
/// (2, FULL: each commit is on disk before it returns).
public struct SQLiteDurability: Sendable, Hashable {
    public var journalMode: String
    public var synchronous: Int
}
