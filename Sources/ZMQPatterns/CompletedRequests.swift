import Foundation
import GRDB
import ZMQ

/// What makes a worker idempotent: the requests it has completed, by the id the application
/// gave each one (the request's first frame), with the replies it gave, kept in an SQLite file
/// that survives restarts. A request that comes again (a client or Titanic retried it after a
/// crash) gets the recorded reply and the work does not run again.
///
///     let completed = try CompletedRequests(path: "prescriptions.sqlite")
///     try await worker.run(in: context) { request in
///         try await completed.handle(request) { request in try dispense(request) }
///     }
///
/// The work's reply is recorded after it returns, so a worker killed in between runs it again
/// when the request comes back; what the record guarantees is one answer per id. Work whose
/// effect must happen once writes that effect where `record` does, or checks `reply(for:)`.
public final class CompletedRequests: Sendable {
    private let database: DatabaseQueue

    /// Opens (or creates) the record at `path`, with full synchronous writes (checked).
    public init(path: String) throws {
        database = try DurableDatabase.open(path: path, tables: ["completed_request"]) { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS completed_request (id BLOB NOT NULL PRIMARY KEY, reply BLOB NOT NULL)")
        }
    }

    /// The recorded reply to request `id`, or nil if it was never completed.
    public func reply(for id: Frame) async throws -> Message? {
        try await database.read { db in
            let reply = try Data.fetchOne(db, sql: "SELECT reply FROM completed_request WHERE id = ?", arguments: [Data(id.bytes)])
            return reply.flatMap(FrameCoding.decode)
        }
    }

    /// Records `reply` as the answer to request `id` unless one is recorded already, and returns
    /// the answer that stands (the first).
    public func record(_ reply: Message, for id: Frame) async throws -> Message {
        try await database.write { db in
            let key = Data(id.bytes)
            try db.execute(sql: "INSERT OR IGNORE INTO completed_request (id, reply) VALUES (?, ?)", arguments: [key, FrameCoding.encode(reply)])
            let stored = try Data.fetchOne(db, sql: "SELECT reply FROM completed_request WHERE id = ?", arguments: [key])
            return stored.flatMap(FrameCoding.decode) ?? reply
        }
    }

    /// How many requests are recorded.
    public func count() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM completed_request") ?? 0 }
    }

    /// How SQLite keeps this file, as it reports it: write-ahead log and synchronous FULL (2).
    public func durability() async throws -> SQLiteDurability {
        try await DurableDatabase.durability(database)
    }

    /// The reply to `request`, whose first frame is its id: the recorded one if it was
    /// completed before, otherwise what `work` returns, recorded first. Throws `.invalidMessage`
    /// for a request with no frames.
    public func handle(_ request: Message, by work: (Message) async throws -> Message) async throws -> Message {
        guard let id = request.first else {
            throw ZMQError(code: .invalidMessage, message: "a request to an idempotent worker needs its id as the first frame")
        }
        if let reply = try await reply(for: id) { return reply }
        return try await record(try await work(request), for: id)
    }
}
