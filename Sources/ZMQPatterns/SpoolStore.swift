import Foundation
import GRDB
import PostgresNIO
import ZMQ

/// Where a `DiskSpool` keeps the messages its output could not take: a queue on disk, oldest
/// first. Each call is one transaction, so many messages cost one commit (a group commit).
public protocol SpoolStore: Sendable {
    /// Appends `messages`, in order, and returns once they are on disk.
    func append(_ messages: [Message]) async throws
    /// Takes up to `limit` of the oldest messages off the queue, and returns them once their
    /// removal is on disk. Spools sharing one store never take the same message.
    func takeOldest(_ limit: Int) async throws -> [Message]
    /// What the queue holds now.
    func backlog() async throws -> SpoolBacklog
    /// Each message waiting, oldest first, without its body (`zmq spool status --list`).
    func items() async throws -> [SpoolItem]
}

/// A message waiting in a spool's store: its number there (in the order it came), its size and
/// when it was queued.
public struct SpoolItem: Sendable, Hashable {
    public var id: Int64
    public var octets: Int
    public var queued: Date

    public init(id: Int64, octets: Int, queued: Date) {
        (self.id, self.octets, self.queued) = (id, octets, queued)
    }
}

/// The spool store at `location`: SQLite or PostgreSQL.
public func spoolStore(at location: StoreLocation) async throws -> any SpoolStore {
    switch location {
    case .sqlite(let path): try SQLiteSpoolStore(path: path)
    case .postgres(let server): try await PostgresSpoolStore(server)
    }
}

/// How much waits in a spool's store.
public struct SpoolBacklog: Sendable, Hashable {
    public var messages: Int
    public var octets: Int
    /// When the oldest message was queued; nil when none is.
    public var oldest: Date?
    /// How many messages have left the store for the output since it was made.
    public var handedOff: Int

    public init(messages: Int, octets: Int, oldest: Date?, handedOff: Int) {
        self.messages = messages
        self.octets = octets
        self.oldest = oldest
        self.handedOff = handedOff
    }
}

/// A spool's queue in an SQLite file (WAL, `synchronous = FULL`, checked on opening): a message
/// appended is on disk when `append` returns, and one taken is gone from the disk when
/// `takeOldest` returns. A file that is another program's database is refused untouched.
///
///     let store = try SQLiteSpoolStore(path: "spool.sqlite")
public final class SQLiteSpoolStore: SpoolStore {
    private let database: DatabaseQueue
    private let path: String

    public init(path: String) throws {
        self.path = path
        database = try DurableDatabase.open(path: path, tables: ["spool_message", "spool_totals"]) { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS spool_message (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    body BLOB NOT NULL,
                    octets INTEGER NOT NULL,
                    queued REAL NOT NULL
                );
                CREATE TABLE IF NOT EXISTS spool_totals (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    handed_off INTEGER NOT NULL
                );
                INSERT OR IGNORE INTO spool_totals (id, handed_off) VALUES (1, 0);
                """)
        }
    }

    /// How SQLite keeps this file, as it reports it: write-ahead log and synchronous FULL (2).
    public func durability() async throws -> SQLiteDurability {
        try await DurableDatabase.durability(database)
    }

    public func append(_ messages: [Message]) async throws {
        guard !messages.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        do {
            try await database.write { db in
                for message in messages {
                    try db.execute(sql: "INSERT INTO spool_message (body, octets, queued) VALUES (?, ?, ?)",
                                   arguments: [FrameCoding.encode(message), message.byteCount, now])
                }
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw ZMQError(code: .storeFull, message: "\(path): the disk is full (\(error.message ?? "SQLITE_FULL"))")
        }
    }

    /// Caps the file at `pages` pages (SQLite's `max_page_count`), as a full disk would: for tests.
    func limitPages(_ pages: Int) async throws {
        try await database.writeWithoutTransaction { db in _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)") }
    }

    /// The pages the file holds now.
    func pageCount() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
    }

    public func takeOldest(_ limit: Int) async throws -> [Message] {
        try await database.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, body FROM spool_message ORDER BY id LIMIT ?", arguments: [limit])
            guard let last = rows.last else { return [] }
            try db.execute(sql: "DELETE FROM spool_message WHERE id <= ?", arguments: [last["id"] as Int64])
            try db.execute(sql: "UPDATE spool_totals SET handed_off = handed_off + ? WHERE id = 1", arguments: [rows.count])
            // A row that does not decode was not written by a spool: it is skipped, not sent.
            return rows.compactMap { FrameCoding.decode($0["body"]) }
        }
    }

    public func items() async throws -> [SpoolItem] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, octets, queued FROM spool_message ORDER BY id").map { row in
                SpoolItem(id: row["id"], octets: row["octets"], queued: Date(timeIntervalSince1970: row["queued"]))
            }
        }
    }

    public func backlog() async throws -> SpoolBacklog {
        try await database.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS count, COALESCE(SUM(octets), 0) AS octets, MIN(queued) AS oldest FROM spool_message")
            let handedOff = try Int.fetchOne(db, sql: "SELECT handed_off FROM spool_totals WHERE id = 1") ?? 0
            let oldest: Double? = row?["oldest"]
            return SpoolBacklog(messages: row?["count"] ?? 0, octets: row?["octets"] ?? 0,
                                oldest: oldest.map(Date.init(timeIntervalSince1970:)), handedOff: handedOff)
        }
    }
}

/// A spool's queue in a PostgreSQL database, which spools on several hosts can share: each
/// message is taken by one of them only (`FOR UPDATE SKIP LOCKED`), and a commit is
/// acknowledged once the server has it on disk (checked on opening: `fsync` on,
/// `synchronous_commit` not off).
///
///     let store = try await PostgresSpoolStore(PostgresLocation(url: "postgres://zmq@db/queues"))
public final class PostgresSpoolStore: SpoolStore {
    private let database: PostgresDatabase

    public init(_ location: PostgresLocation) async throws {
        database = try await PostgresDatabase.open(location, tables: [
            "spool_message": ["id", "body", "octets", "queued"],
            "spool_totals": ["id", "handed_off"],
        ], schema: [
            """
            CREATE TABLE IF NOT EXISTS spool_message (
                id BIGSERIAL PRIMARY KEY,
                body BYTEA NOT NULL,
                octets BIGINT NOT NULL,
                queued DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE TABLE IF NOT EXISTS spool_totals (id INTEGER PRIMARY KEY CHECK (id = 1), handed_off BIGINT NOT NULL)",
            "INSERT INTO spool_totals (id, handed_off) VALUES (1, 0) ON CONFLICT DO NOTHING",
        ])
    }

    public func append(_ messages: [Message]) async throws {
        guard !messages.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        // One statement for the batch, the rows in the order given (one round trip, one commit).
        let bodies = messages.map { ByteBuffer(bytes: FrameCoding.encode($0)) }
        let octets = messages.map { Int64($0.byteCount) }
        _ = try await database.rows("""
            INSERT INTO spool_message (body, octets, queued)
            SELECT body, octets, \(now) FROM unnest(\(bodies)::bytea[], \(octets)::bigint[]) WITH ORDINALITY AS batch(body, octets, position)
            ORDER BY position
            """)
    }

    public func takeOldest(_ limit: Int) async throws -> [Message] {
        try await database.transaction { connection in
            let rows = try await connection.query("""
                WITH taken AS (
                    DELETE FROM spool_message WHERE id IN (
                        SELECT id FROM spool_message ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    ) RETURNING id, body
                )
                SELECT id, body FROM taken ORDER BY id
                """, logger: PostgresDatabase.silent).collect()
            guard !rows.isEmpty else { return [] }
            try await connection.query("UPDATE spool_totals SET handed_off = handed_off + \(rows.count) WHERE id = 1", logger: PostgresDatabase.silent)
            // A row that does not decode was not written by a spool: it is skipped, not sent.
            return try rows.compactMap { row in FrameCoding.decode(try row.decode((Int64, Data).self).1) }
        }
    }

    public func items() async throws -> [SpoolItem] {
        try await database.rows("SELECT id, octets, queued FROM spool_message ORDER BY id").map { row in
            let (id, octets, queued) = try row.decode((Int64, Int64, Double).self)
            return SpoolItem(id: id, octets: Int(octets), queued: Date(timeIntervalSince1970: queued))
        }
    }

    public func backlog() async throws -> SpoolBacklog {
        let totals = try await database.rows("SELECT COUNT(*)::bigint, COALESCE(SUM(octets), 0)::bigint, MIN(queued) FROM spool_message")
        let handed = try await database.rows("SELECT handed_off FROM spool_totals WHERE id = 1")
        var (count, octets, oldest): (Int64, Int64, Double?) = (0, 0, nil)
        if let row = totals.first { (count, octets, oldest) = try row.decode((Int64, Int64, Double?).self) }
        return SpoolBacklog(messages: Int(count), octets: Int(octets), oldest: oldest.map(Date.init(timeIntervalSince1970:)),
                            handedOff: Int(try handed.first?.decode(Int64.self) ?? 0))
    }
}
