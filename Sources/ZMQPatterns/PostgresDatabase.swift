import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ZMQ

/// Where a store keeps what it holds: an SQLite file on this host (the default), or a
/// PostgreSQL database, which processes on several hosts can share.
///
///     let location = try StoreLocation("postgres://zmq:secret@db.example:5432/queues")
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// A `postgres://` (or `postgresql://`) URL, or else the path of an SQLite file.
    public init(_ text: String) throws(ZMQError) {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(url: text))
        } else {
            guard !text.isEmpty else { throw ZMQError(code: .invalidFile, message: "a store needs a path or a postgres:// URL") }
            self = .sqlite(path: text)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let location): location.description
        }
    }
}

/// A PostgreSQL database named by a URL, as libpq takes it:
/// `postgres://user:password@host:port/database?sslmode=disable|prefer|require` (port 5432,
/// database `postgres` and `sslmode=prefer` unless given).
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String = "postgres", tls: TLSMode = .prefer) {
        (self.host, self.port, self.username, self.password, self.database, self.tls) = (host, port, username, password, database, tls)
    }

    public init(url: String) throws(ZMQError) {
        func refuse(_ reason: String) -> ZMQError {
            ZMQError(code: .invalidFile, message: "\(Self.redacted(url)): \(reason)")
        }
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw refuse("not a postgres:// URL")
        }
        guard let host = components.host, !host.isEmpty else { throw refuse("the URL names no host") }
        guard let user = components.user, !user.isEmpty else { throw refuse("the URL names no user") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else { throw refuse("unknown parameter \(item.name) (sslmode is the one known)") }
            guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                throw refuse("sslmode must be disable, prefer or require")
            }
            tls = mode
        }
        self.init(host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
                  password: components.password.map { $0.removingPercentEncoding ?? $0 },
                  database: path.isEmpty ? "postgres" : path, tls: tls)
    }

    /// The URL without its password, fit for logs and errors.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)" + (tls == .prefer ? "" : "?sslmode=\(tls.rawValue)")
    }

    private static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "…"
        return components.string ?? "the URL"
    }

    fileprivate func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS = switch self.tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    fileprivate func clientConfiguration() -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = switch self.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }
}

/// A PostgreSQL database a store keeps its tables in, checked on opening: the server must
/// make each commit durable before it acknowledges it (`fsync` on, `synchronous_commit` not
/// off), and tables of the store's names must have the store's columns. A database that fails
/// either is refused before anything in it is changed.
final class PostgresDatabase: Sendable {
    let location: PostgresLocation
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private static let logger = Logger(label: "swift-zmq.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Opens the database at `location` for a store with `tables` (each with its columns) and
    /// makes them with `schema` if they are not there. A table may also have one of its
    /// `earlier` shapes (an older version of this store), which `schema` brings up to date.
    /// With `exclusive`, the store is for one process at a time: one already open elsewhere
    /// (`exclusive` names it in the refusal) is refused, and this one keeps a connection
    /// holding the database's lock for as long as it lives.
    static func open(_ location: PostgresLocation, tables: [String: Set<String>], earlier: [String: [Set<String>]] = [:],
                     schema: [String], exclusive: String? = nil) async throws -> PostgresDatabase {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: location.connectionConfiguration(), id: 1, logger: logger)
        } catch {
            throw ZMQError.invalidFile(location.description, reason: "cannot use this server: \(reason(error))")
        }
        do {
            try await check(connection, at: location, tables: tables, earlier: earlier)
            try await connection.withTransaction(logger: logger) { connection in
                // Two stores opening one new database together must not both create its tables.
                try await connection.query("SELECT pg_advisory_xact_lock(7396545101)", logger: logger)
                for statement in schema { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            if let exclusive {
                // Held by the session: released when this connection closes, or its process dies.
                // A process that just stopped may still hold it for a moment: wait that long.
                do {
                    try await connection.query("SET lock_timeout = '5s'", logger: logger)
                    // Read to the end: the rows stream, and the lock's error comes with them.
                    _ = try await connection.query("SELECT pg_advisory_lock(7396545102)", logger: logger).collect()
                } catch where sqlState(of: error) == "55P03" {
                    throw ZMQError.invalidFile(location.description, reason: "\(exclusive) is using this database; each needs a database of its own")
                }
            }
        } catch {
            try? await connection.close()
            throw refusal(error, at: location)
        }
        guard exclusive != nil else {
            try? await connection.close()
            return PostgresDatabase(location, holding: nil)
        }
        return PostgresDatabase(location, holding: connection)
    }

    /// The connection holding the lock of an exclusive store.
    private let lockHolder: PostgresConnection?

    private init(_ location: PostgresLocation, holding lockHolder: PostgresConnection?) {
        self.location = location
        self.lockHolder = lockHolder
        let client = PostgresClient(configuration: location.clientConfiguration(), backgroundLogger: Self.logger)
        self.client = client
        running = Task { await client.run() }
    }

    deinit {
        running.cancel()
        // Kept until closed: a connection let go of before its close completes traps.
        if let lockHolder { (lockHolder.close() as EventLoopFuture<Void>).whenComplete { _ in withExtendedLifetime(lockHolder) {} } }
    }

    /// Runs `body` in one transaction, committed (durably) when it returns.
    func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: Self.logger) { connection in try await body(connection) }
        } catch {
            throw Self.refusal(error, at: location)
        }
    }

    /// The rows `query` returns, all read.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await client.query(query, logger: Self.logger).collect()
        } catch {
            throw Self.refusal(error, at: location)
        }
    }

    static var silent: Logger { logger }

    private static func check(_ connection: PostgresConnection, at location: PostgresLocation, tables: [String: Set<String>],
                              earlier: [String: [Set<String>]]) async throws {
        let fsync = try await setting("fsync", on: connection)
        let commit = try await setting("synchronous_commit", on: connection)
        guard fsync == "on", commit != "off" else {
            throw ZMQError.invalidFile(location.description, reason: "the server does not keep commits durably (fsync \(fsync), synchronous_commit \(commit); want fsync on and synchronous_commit on)")
        }
        let names = Array(tables.keys)
        let rows = try await connection.query("""
            SELECT table_name::text, column_name::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = ANY(\(names))
            """, logger: logger).collect()
        var present: [String: Set<String>] = [:]
        for row in rows {
            let (table, column) = try row.decode((String, String).self)
            present[table, default: []].insert(column)
        }
        for (table, columns) in present.sorted(by: { $0.key < $1.key })
        where columns != tables[table] && !(earlier[table] ?? []).contains(columns) {
            throw ZMQError.invalidFile(location.description, reason: "its table \(table) has another shape (columns \(columns.sorted().joined(separator: ", "))), so it is not this store's; nothing in it was changed")
        }
    }

    private static func setting(_ name: String, on connection: PostgresConnection) async throws -> String {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SHOW \(name)"), logger: logger).collect()
        return try rows.first?.decode(String.self) ?? "?"
    }

    /// `error` as a `ZMQError` naming the database and, for the server's own errors, its words.
    static func refusal(_ error: any Error, at location: PostgresLocation) -> ZMQError {
        if let error = error as? ZMQError { return error }
        // 53100 disk_full: the server could not write.
        let code: ZMQError.Code = sqlState(of: error) == "53100" ? .storeFull : .invalidFile
        return ZMQError(code: code, message: "\(location): \(reason(error))")
    }

    private static func sqlState(of error: any Error) -> String? {
        (cause(of: error) as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The error inside a failed transaction: what its body, its BEGIN or its COMMIT threw.
    private static func cause(of error: any Error) -> any Error {
        guard let error = error as? PostgresTransactionError else { return error }
        return error.closureError ?? error.beginError ?? error.commitError ?? error
    }

    private static func reason(_ error: any Error) -> String {
        guard let error = cause(of: error) as? PSQLError else { return "\(cause(of: error))" }
        if let message = error.serverInfo?[.message] { return message }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }
}
