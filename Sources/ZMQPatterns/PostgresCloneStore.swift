import Foundation
import PostgresNIO
import ZMQ

/// A Clone server's map in a PostgreSQL database: each change is committed, and on the
/// server's disk (checked on opening: `fsync` on, `synchronous_commit` not off), before the
/// Clone server publishes it. One Clone server uses a database at a time: a second one opening
/// it is refused (a lock the first holds until it closes the store or its process dies), since
/// two servers writing one map would each undo the other's changes. The two servers of a pair
/// keep a database each.
///
///     var server = CloneServer(endpoints: try CloneEndpoints("tcp://*:5556"))
///     server.store = try await PostgresCloneStore(PostgresLocation(url: "postgres://zmq@db/clone"))
public final class PostgresCloneStore: CloneStore {
    private let database: PostgresDatabase

    public init(_ location: PostgresLocation) async throws {
        database = try await PostgresDatabase.open(location, tables: [
            "clone_entry": ["key", "sequence", "uuid", "properties", "value", "expires"],
            "clone_sequence": ["id", "sequence"],
        ], schema: [
            """
            CREATE TABLE IF NOT EXISTS clone_entry (
                key TEXT PRIMARY KEY,
                sequence BIGINT NOT NULL,
                uuid BYTEA NOT NULL,
                properties TEXT NOT NULL,
                value BYTEA NOT NULL,
                expires DOUBLE PRECISION
            )
            """,
            "CREATE TABLE IF NOT EXISTS clone_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), sequence BIGINT NOT NULL)",
            "INSERT INTO clone_sequence (id, sequence) VALUES (1, 0) ON CONFLICT DO NOTHING",
        ], exclusive: "another Clone server")
    }

    public func load() async throws -> (entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64) {
        let sequence = try await database.rows("SELECT sequence FROM clone_sequence WHERE id = 1").first?.decode(Int64.self) ?? 0
        let entries = try await database.rows("SELECT key, sequence, uuid, properties, value, expires FROM clone_entry").map { row in
            let (key, sequence, uuid, properties, value, expires) = try row.decode((String, Int64, Data, String, Data, Double?).self)
            let entry = CloneEntry(key: key, sequence: UInt64(bitPattern: sequence), uuid: [UInt8](uuid),
                                   properties: (try? CloneProtocol.properties(properties).get()) ?? [:], value: Frame([UInt8](value)))
            return (entry: entry, expires: expires.map(Date.init(timeIntervalSince1970:)))
        }
        return (entries, UInt64(bitPattern: sequence))
    }

    /// One statement, so one round trip and one commit: the entry and the sequence number together.
    public func record(_ entry: CloneEntry, expires: Date?, sequence: UInt64) async throws {
        let sequence = Int64(bitPattern: sequence)
        if entry.deletes {
            _ = try await database.rows("""
                WITH counted AS (UPDATE clone_sequence SET sequence = \(sequence) WHERE id = 1)
                DELETE FROM clone_entry WHERE key = \(entry.key)
                """)
            return
        }
        _ = try await database.rows("""
            WITH counted AS (UPDATE clone_sequence SET sequence = \(sequence) WHERE id = 1)
            INSERT INTO clone_entry (key, sequence, uuid, properties, value, expires)
            VALUES (\(entry.key), \(Int64(bitPattern: entry.sequence)), \(Data(entry.uuid)), \(CloneProtocol.text(of: entry.properties)),
                    \(Data(entry.value.bytes)), \(expires?.timeIntervalSince1970))
            ON CONFLICT (key) DO UPDATE SET sequence = excluded.sequence, uuid = excluded.uuid, properties = excluded.properties,
                                            value = excluded.value, expires = excluded.expires
            """)
    }

    public func replace(with entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64) async throws {
        try await database.transaction { connection in
            let logger = PostgresDatabase.silent
            try await connection.query("DELETE FROM clone_entry", logger: logger)
            // One statement for the whole map; a key that never expires goes as NaN, since the
            // arrays take no NULLs.
            try await connection.query("""
                INSERT INTO clone_entry (key, sequence, uuid, properties, value, expires)
                SELECT key, sequence, uuid, properties, value, NULLIF(expires, 'NaN')
                FROM unnest(\(entries.map(\.entry.key))::text[], \(entries.map { Int64(bitPattern: $0.entry.sequence) })::bigint[],
                            \(entries.map { ByteBuffer(bytes: $0.entry.uuid) })::bytea[], \(entries.map { CloneProtocol.text(of: $0.entry.properties) })::text[],
                            \(entries.map { ByteBuffer(bytes: $0.entry.value.bytes) })::bytea[], \(entries.map { $0.expires?.timeIntervalSince1970 ?? .nan })::float8[])
                     AS map(key, sequence, uuid, properties, value, expires)
                """, logger: logger)
            try await connection.query("UPDATE clone_sequence SET sequence = \(Int64(bitPattern: sequence)) WHERE id = 1", logger: logger)
        }
    }
}
