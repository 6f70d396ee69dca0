import Foundation
import Logging
import PostgresNIO
import ZMQPatterns

/// The PostgreSQL server `scripts/test` starts for the store tests (a throw-away cluster on
/// 127.0.0.1), named by `SWIFT_ZMQ_POSTGRES`. A test that needs it and finds none fails and
/// says why; it never skips.
public enum TestPostgres {
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The test server, with its superuser's credentials.
    public static func server() throws -> PostgresLocation {
        guard let url = ProcessInfo.processInfo.environment["SWIFT_ZMQ_POSTGRES"] else {
            throw Unavailable(description: "SWIFT_ZMQ_POSTGRES is not set: run the tests with scripts/test, which starts a PostgreSQL server for them")
        }
        return try PostgresLocation(url: url)
    }

    /// A new, empty database on the test server, for one test.
    public static func freshDatabase(_ name: String = "store") async throws -> PostgresLocation {
        var location = try server()
        let database = "zmq_\(name)_\(UInt64.random(in: 0...UInt64.max))"
        try await execute("CREATE DATABASE \(database)", in: location)
        location.database = database
        return location
    }

    /// The URL a `zmq` command takes for `location`, password included, reached at `host`
    /// (another address of the test server) if given.
    public static func url(of location: PostgresLocation, host: String? = nil) -> String {
        "postgres://\(location.username):\(location.password ?? "")@\(host ?? location.host):\(location.port)/\(location.database)?sslmode=disable"
    }

    /// Runs `sql` (one statement) in the database at `location`, as the test server's superuser.
    public static func execute(_ sql: String, in location: PostgresLocation) async throws {
        let logger = Logger(label: "swift-zmq.tests.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        let configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.username,
                                                             password: location.password, database: location.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            try? await connection.close()
            throw Unavailable(description: "\(sql): \(String(reflecting: error))")
        }
        try await connection.close()
    }
}
