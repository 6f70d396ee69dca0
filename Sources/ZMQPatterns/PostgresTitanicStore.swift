import Foundation
import PostgresNIO
import ZMQ

/// Titanic's requests and replies in a PostgreSQL database: each change is committed, and on
/// the server's disk (checked on opening: `fsync` on, `synchronous_commit` not off), before the
/// call returns. Titanic processes on several hosts can share the database: each takes the
/// pending requests it dispatches with a claim (`FOR UPDATE SKIP LOCKED`), so no two send the
/// same request, and takes up another's once that one stops renewing its lease (its time is
/// the database server's clock). A Binary Star pair of brokers names the same database, so
/// that the survivor takes up what the other one stored.
///
///     let store = try await PostgresTitanicStore(PostgresLocation(url: "postgres://zmq@db/titanic"))
public final class PostgresTitanicStore: TitanicStore {
    private let database: PostgresDatabase

    public init(_ location: PostgresLocation) async throws {
        let request: Set<String> = ["sequence", "id", "service", "body", "reply", "stored", "attempts"]
        database = try await PostgresDatabase.open(location, tables: [
            "titanic_request": request.union(["owner", "held_until"]),
            "titanic_totals": ["id", "closed"],
        ], earlier: ["titanic_request": [request]], schema: [
            """
            CREATE TABLE IF NOT EXISTS titanic_request (
                sequence BIGSERIAL PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                service TEXT NOT NULL,
                body BYTEA NOT NULL,
                reply BYTEA,
                stored DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                owner TEXT,
                held_until DOUBLE PRECISION
            )
            """,
            // Tables made before requests had holders gain the columns.
            "ALTER TABLE titanic_request ADD COLUMN IF NOT EXISTS owner TEXT",
            "ALTER TABLE titanic_request ADD COLUMN IF NOT EXISTS held_until DOUBLE PRECISION",
            "CREATE TABLE IF NOT EXISTS titanic_totals (id INTEGER PRIMARY KEY CHECK (id = 1), closed BIGINT NOT NULL)",
            "INSERT INTO titanic_totals (id, closed) VALUES (1, 0) ON CONFLICT DO NOTHING",
        ])
    }

    public func store(_ request: TitanicRequest, claim: TitanicClaim?) async throws {
        _ = try await database.rows("""
            INSERT INTO titanic_request (id, service, body, stored, owner, held_until)
            VALUES (\(request.id), \(request.service), \(FrameCoding.encode(request.body)), \(Date().timeIntervalSince1970),
                    \(claim?.owner), \(unescaped: Self.now) + \(claim.map { seconds($0.lease) }))
            ON CONFLICT (id) DO NOTHING
            """)
    }

    public func claim(upTo limit: Int, for claim: TitanicClaim, includingOwn: Bool) async throws -> [TitanicRequest] {
        let rows = try await database.rows("""
            WITH free AS (
                SELECT sequence FROM titanic_request
                WHERE reply IS NULL AND (owner IS NULL OR held_until < \(unescaped: Self.now) OR (\(includingOwn) AND owner = \(claim.owner)))
                ORDER BY sequence LIMIT \(max(0, limit)) FOR UPDATE SKIP LOCKED
            )
            UPDATE titanic_request AS r SET owner = \(claim.owner), held_until = \(unescaped: Self.now) + \(seconds(claim.lease))
            FROM free WHERE r.sequence = free.sequence
            RETURNING r.sequence, r.id, r.service, r.body
            """)
        return try rows.map { try $0.decode((Int64, String, String, Data).self) }.sorted { $0.0 < $1.0 }.compactMap { _, id, service, body in
            FrameCoding.decode(body).map { TitanicRequest(id: id, service: service, body: $0) }
        }
    }

    public func renew(_ claim: TitanicClaim) async throws {
        _ = try await database.rows("""
            UPDATE titanic_request SET held_until = \(unescaped: Self.now) + \(seconds(claim.lease)) WHERE owner = \(claim.owner) AND reply IS NULL
            """)
    }

    public func holds(_ id: String, for owner: String) async throws -> Bool {
        try await !database.rows("SELECT 1 FROM titanic_request WHERE id = \(id) AND reply IS NULL AND owner = \(owner)").isEmpty
    }

    public func release(_ owner: String) async throws {
        _ = try await database.rows("UPDATE titanic_request SET owner = NULL, held_until = NULL WHERE owner = \(owner)")
    }

    /// The database server's time in seconds since 1970: leases are read and written on one
    /// clock, whichever host a Titanic runs on.
    private static let now = "extract(epoch from clock_timestamp())"

    public func pending() async throws -> [TitanicRequest] {
        try await database.rows("SELECT id, service, body FROM titanic_request WHERE reply IS NULL ORDER BY sequence").compactMap { row in
            let (id, service, body) = try row.decode((String, String, Data).self)
            return FrameCoding.decode(body).map { TitanicRequest(id: id, service: service, body: $0) }
        }
    }

    public func storeReply(_ reply: Message, for id: String) async throws -> Bool {
        let updated = try await database.rows("""
            UPDATE titanic_request SET reply = \(FrameCoding.encode(reply)) WHERE id = \(id) AND reply IS NULL RETURNING id
            """)
        return updated.count == 1
    }

    public func state(of id: String) async throws -> TitanicRequestState {
        guard let row = try await database.rows("SELECT reply FROM titanic_request WHERE id = \(id)").first else { return .unknown }
        let reply = try row.decode(Data?.self)
        return reply.flatMap(FrameCoding.decode).map(TitanicRequestState.answered) ?? .pending
    }

    public func close(_ id: String) async throws {
        _ = try await database.rows("""
            WITH gone AS (DELETE FROM titanic_request WHERE id = \(id) RETURNING id)
            UPDATE titanic_totals SET closed = closed + (SELECT COUNT(*) FROM gone) WHERE id = 1
            """)
    }

    /// Not waited to disk (`synchronous_commit` off for this one transaction): a count for an
    /// operator is not worth a flush per send.
    public func recordAttempt(for id: String) async throws {
        try await database.transaction { connection in
            try await connection.query("SET LOCAL synchronous_commit TO OFF", logger: PostgresDatabase.silent)
            try await connection.query("UPDATE titanic_request SET attempts = attempts + 1 WHERE id = \(id)", logger: PostgresDatabase.silent)
        }
    }

    public func summary() async throws -> TitanicStoreSummary {
        let counts = try await database.rows("""
            SELECT COUNT(*) FILTER (WHERE reply IS NULL), COUNT(reply), MIN(stored) FILTER (WHERE reply IS NULL),
                   (SELECT closed FROM titanic_totals WHERE id = 1)
            FROM titanic_request
            """)
        var (pending, answered, oldest, closed): (Int64, Int64, Double?, Int64?) = (0, 0, nil, 0)
        if let row = counts.first { (pending, answered, oldest, closed) = try row.decode((Int64, Int64, Double?, Int64?).self) }
        return TitanicStoreSummary(pending: Int(pending), answered: Int(answered), closed: Int(closed ?? 0),
                                   oldestPending: oldest.map(Date.init(timeIntervalSince1970:)))
    }

    public func items() async throws -> [TitanicStoreItem] {
        try await database.rows("""
            SELECT id, service, reply IS NOT NULL, attempts, stored, CASE WHEN reply IS NULL THEN owner END
            FROM titanic_request ORDER BY sequence
            """).map { row in
            let (id, service, answered, attempts, stored, owner) = try row.decode((String, String, Bool, Int32, Double, String?).self)
            return TitanicStoreItem(id: id, service: service, answered: answered, attempts: Int(attempts), stored: Date(timeIntervalSince1970: stored),
                                    owner: owner)
        }
    }
}

/// The Titanic store at `location`: SQLite or PostgreSQL.
public func titanicStore(at location: StoreLocation) async throws -> any TitanicStore {
    switch location {
    case .sqlite(let path): try SQLiteTitanicStore(path: path)
    case .postgres(let server): try await PostgresTitanicStore(server)
    }
}
