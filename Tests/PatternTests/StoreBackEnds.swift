import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// A fresh SQLite file in the temporary directory.
func temporaryDatabase(_ name: String) -> String {
    "\(NSTemporaryDirectory())zmq-\(name)-\(UUID().uuidString.prefix(8)).sqlite"
}

/// The two places a store keeps what it holds; the store tests run against both.
enum StoreBackEnd: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    /// An empty store location of this kind: a new SQLite file, or a new database on the test
    /// PostgreSQL server.
    func freshLocation(_ name: String) async throws -> StoreLocation {
        switch self {
        case .sqlite: .sqlite(path: temporaryDatabase(name))
        case .postgres: .postgres(try await TestPostgres.freshDatabase(name.replacingOccurrences(of: "-", with: "_")))
        }
    }

    var testDescription: String { rawValue }
}

@Suite("PostgreSQL stores: refused, never damaged")
struct PostgresRefusalTests {
    @Test("a server that does not keep commits durably (synchronous_commit off) is refused")
    func notDurable() async throws {
        let location = try await TestPostgres.freshDatabase("not_durable")
        try await TestPostgres.execute("ALTER DATABASE \(location.database) SET synchronous_commit = off", in: location)
        let error = await #expect(throws: ZMQError.self) { _ = try await PostgresSpoolStore(location) }
        #expect(error?.code == .invalidFile)
        #expect(error?.message.contains("synchronous_commit off") == true, "\(String(describing: error))")
    }

    @Test("a database whose table of the store's name has another shape is refused, and the table is left as it was")
    func otherShape() async throws {
        let location = try await TestPostgres.freshDatabase("other_shape")
        try await TestPostgres.execute("CREATE TABLE spool_message (id INTEGER PRIMARY KEY, note TEXT)", in: location)
        try await TestPostgres.execute("INSERT INTO spool_message VALUES (1, 'keep me')", in: location)
        let error = await #expect(throws: ZMQError.self) { _ = try await PostgresSpoolStore(location) }
        #expect(error?.message.contains("its table spool_message has another shape (columns id, note)") == true, "\(String(describing: error))")
        // Still there, unchanged: a row that fails this check would make the statement fail.
        try await TestPostgres.execute("DO $$ BEGIN IF (SELECT note FROM spool_message WHERE id = 1) IS DISTINCT FROM 'keep me' OR (SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'spool_totals') <> 0 THEN RAISE 'changed'; END IF; END $$", in: location)
    }

    @Test("a Clone map is one server's: a second server opening its database is refused while the first has it, and opens once the first let go")
    func cloneExclusive() async throws {
        let location = try await TestPostgres.freshDatabase("clone_one")
        var first: PostgresCloneStore? = try await PostgresCloneStore(location)
        try await first?.record(CloneEntry(key: "/k", sequence: 1, value: "v"), expires: nil, sequence: 1)
        let refused = await #expect(throws: ZMQError.self) { _ = try await PostgresCloneStore(location) }
        #expect(refused?.code == .invalidFile)
        #expect(refused?.message.contains("another Clone server is using this database") == true, "\(String(describing: refused))")
        first = nil
        let second = try await PostgresCloneStore(location)
        #expect(try await second.load().entries.map(\.entry.key) == ["/k"], "the map as the first left it")
        _ = first
    }

    @Test("a server that refuses the credentials, or is not there, is refused with the reason")
    func refusedCredentials() async throws {
        var wrong = try TestPostgres.server()
        wrong.password = "not-the-password"
        let refused = await #expect(throws: ZMQError.self) { _ = try await PostgresTitanicStore(wrong) }
        #expect(refused?.code == .invalidFile)
        #expect(refused?.message.contains("password authentication failed") == true, "\(String(describing: refused))")
        #expect(refused?.message.contains("not-the-password") == false, "the password is never printed")
        var absent = try TestPostgres.server()
        absent.port = unusedTCPPort()
        let unreachable = await #expect(throws: ZMQError.self) { _ = try await PostgresTitanicStore(absent) }
        #expect(unreachable?.message.contains("cannot use this server") == true, "\(String(describing: unreachable))")
    }

    @Test("store locations: a postgres:// URL or an SQLite path; a bad URL says what is wrong, never printing the password")
    func locations() throws {
        #expect(try StoreLocation("spool.sqlite") == .sqlite(path: "spool.sqlite"))
        let location = try PostgresLocation(url: "postgres://zmq:s%40cret@db.example:6543/queues?sslmode=require")
        #expect(location == PostgresLocation(host: "db.example", port: 6543, username: "zmq", password: "s@cret", database: "queues", tls: .require))
        #expect(location.description == "postgres://zmq@db.example:6543/queues?sslmode=require")
        #expect(try StoreLocation("postgresql://u@h") == .postgres(PostgresLocation(host: "h", username: "u")))
        for (url, reason) in [("postgres://:pw@host/db", "names no user"), ("postgres://u:secret@host/db?sslmode=maybe", "sslmode must be"),
                              ("postgres://u:secret@host/db?timeout=3", "unknown parameter timeout")] {
            let error = #expect(throws: ZMQError.self) { try StoreLocation(url) }
            #expect(error?.message.contains(reason) == true, "\(String(describing: error))")
            #expect(error?.message.contains("secret") == false)
        }
    }
}

@Suite("SQLite stores: each refuses another's file")
struct SQLiteStoreKindTests {
    @Test("a spool's file is not a Titanic, Clone or completed-requests store, nor theirs a spool's: each is refused, naming the tables it holds")
    func eachRefusesAnother() throws {
        let spoolFile = temporaryDatabase("kind-spool")
        _ = try SQLiteSpoolStore(path: spoolFile)
        let titanicFile = temporaryDatabase("kind-titanic")
        _ = try SQLiteTitanicStore(path: titanicFile)
        let attempts: [(String, () throws -> Void)] = [
            ("Titanic", { _ = try SQLiteTitanicStore(path: spoolFile) }),
            ("Clone", { _ = try SQLiteCloneStore(path: spoolFile) }),
            ("completed requests", { _ = try CompletedRequests(path: spoolFile) }),
            ("spool", { _ = try SQLiteSpoolStore(path: titanicFile) }),
        ]
        for (kind, open) in attempts {
            let error = #expect(throws: ZMQError.self, "\(kind)") { try open() }
            #expect(error?.code == .invalidFile && error?.message.contains("another program's database") == true, "\(kind): \(String(describing: error))")
        }
    }
}
