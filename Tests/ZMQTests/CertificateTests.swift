import Foundation
import Testing
@testable import ZMQ
import ZMQTestSupport

@Suite("Certificate files", .timeLimit(.minutes(1)))
struct CertificateTests {
    /// The server key pair from libzmq's CURVE tests and the CurveZMQ examples.
    static let serverPublicZ85 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    static let serverSecretZ85 = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
    static var keyPair: CurveKeyPair {
        get throws { CurveKeyPair(publicKey: try CurvePublicKey(z85: CertificateTests.serverPublicZ85), secretKey: try CurveSecretKey(z85: CertificateTests.serverSecretZ85)) }
    }
    static let metadata = [(name: "name", value: "Ada Lovelace"), (name: "email", value: "ada@example.org")]

    @Test("a written pair loads back: the public file without the secret key, the secret file with both")
    func roundTrip() throws {
        let pair = try Self.keyPair
        try withTemporaryDirectory { directory in
            let base = directory + "/server.key"
            let certificate = Certificate(keyPair: pair, metadata: Self.metadata)
            try certificate.write(to: base)

            let secret = try Certificate.load(path: base + "_secret")
            #expect(secret == certificate)
            #expect(secret.keyPair == pair)

            let published = try Certificate.load(path: base)
            #expect(published.publicKey == pair.publicKey)
            #expect(published.secretKey == nil)
            #expect(published.metadata.elementsEqual(Self.metadata, by: ==))
        }
    }

    @Test("files have pyzmq's layout: banner comments, metadata and curve sections, quoted values")
    func layout() throws {
        let pair = try Self.keyPair
        let certificate = Certificate(keyPair: pair, metadata: Self.metadata + [(name: "motto", value: "say \"hi\"")])
        let secret = try certificate.zplText(secret: true, generated: "2025-01-02 03:04:05", path: "test")
        #expect(secret == """
            #   ****  Generated on 2025-01-02 03:04:05 by swift-zmq  ****
            #   ZeroMQ CURVE **Secret** Certificate
            #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

            metadata
                name = "Ada Lovelace"
                email = "ada@example.org"
                motto = 'say "hi"'
            curve
                public-key = "\(CertificateTests.serverPublicZ85)"
                secret-key = "\(CertificateTests.serverSecretZ85)"

            """)
        let published = try certificate.zplText(secret: false, generated: "2025-01-02 03:04:05", path: "test")
        #expect(published == """
            #   ****  Generated on 2025-01-02 03:04:05 by swift-zmq  ****
            #   ZeroMQ CURVE Public Certificate
            #   Exchange securely, or use a secure mechanism to verify the contents
            #   of this file after exchange. Store public certificates in your home
            #   directory, in the .curve subdirectory.

            metadata
                name = "Ada Lovelace"
                email = "ada@example.org"
                motto = 'say "hi"'
            curve
                public-key = "\(CertificateTests.serverPublicZ85)"

            """)
        #expect(try Certificate(zpl: secret, path: "test") == certificate)
    }

    @Test("the public file gets mode 0644 and the secret file 0600, even over a wider existing file")
    func fileModes() throws {
        let pair = try Self.keyPair
        try withTemporaryDirectory { directory in
            let base = directory + "/client.key"
            #expect(FileManager.default.createFile(atPath: base + "_secret", contents: Data("old".utf8)))
            try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: base + "_secret")
            #expect(try permissions(base + "_secret") == 0o666)
            try Certificate(keyPair: pair).write(to: base)
            #expect(try permissions(base) == 0o644)
            #expect(try permissions(base + "_secret") == 0o600)
            #expect(try Certificate.load(path: base + "_secret").secretKey == pair.secretKey)
        }
    }

    @Test("comments, CRLF, single quotes, bare values and tab indentation are all read")
    func tolerantReading() throws {
        let pair = try Self.keyPair
        let text = [
            "\u{FEFF}#   written by hand",
            "",
            "metadata",
            "    name = 'Ada Lovelace'   # a trailing comment",
            "    email = ada@example.org # a bare value ends at the comment",
            "\tnote = \"it's\"",
            "    empty =",
            "curve    # the keys",
            "    public-key = '\(CertificateTests.serverPublicZ85)'",
            "        secret-key = \"\(CertificateTests.serverSecretZ85)\"   ",
            "",
        ].joined(separator: "\r\n")
        let certificate = try Certificate(zpl: text, path: "hand.key_secret")
        #expect(certificate.keyPair == pair)
        #expect(certificate.metadata.map(\.name) == ["name", "email", "note", "empty"])
        #expect(certificate.metadata.map(\.value) == ["Ada Lovelace", "ada@example.org", "it's", ""])
    }

    @Test("what is wrong with a certificate is reported with its path and line")
    func parseErrors() {
        let key = "\"\(CertificateTests.serverPublicZ85)\""
        let cases: [(text: String, error: String)] = [
            ("metadata\n    name = \"x\"\n", "c.key: has no curve section"),
            ("curve\n    secret-key = \"\(CertificateTests.serverSecretZ85)\"\n", "c.key: has no public-key in its curve section"),
            ("curve\n    public-key = \"short\"\n", "c.key:2: a Z85 CURVE public key is 40 characters, not 5"),
            ("curve\n    public-key = \"\(CertificateTests.serverPublicZ85.dropLast())~\"\n",
             "c.key:2: a Z85 CURVE public key is not valid Z85: character '~' at offset 39 is not in the Z85 alphabet"),
            ("curve\n    public-key = \"abc\n", "c.key:2: missing closing \""),
            ("curve\n    public-key = \(key) x\n", "c.key:2: unexpected 'x' after the quoted value"),
            ("curve\n    public-key = \(key)\n    public-key = \(key)\n", "c.key:3: public-key appears more than once"),
            ("    public-key = \(key)\n", "c.key:1: 'public-key' is indented but not inside a section"),
            ("curve\n    public-key\n", "c.key:2: expected 'public-key = value'"),
            ("curve\n    !key = 1\n", "c.key:2: expected a name, found '!key = 1'"),
            ("", "c.key: has no curve section"),
        ]
        for (text, expected) in cases {
            do {
                let certificate = try Certificate(zpl: text, path: "c.key")
                Issue.record("expected \(expected), loaded \(certificate)")
            } catch {
                #expect(error.description == expected)
            }
        }
    }

    @Test("a file that cannot be read is reported with its path")
    func missingFile() {
        #expect(throws: CertificateError(path: "/nonexistent/a.key", reason: "cannot be opened: No such file or directory")) {
            try Certificate.load(path: "/nonexistent/a.key")
        }
    }

    @Test("metadata that ZPL cannot hold, and a secret file without a secret key, are refused")
    func unwritable() throws {
        let pair = try Self.keyPair
        try withTemporaryDirectory { directory in
            let path = directory + "/bad.key"
            let cases: [(metadata: [(name: String, value: String)], reason: String)] = [
                ([("first name", "Ada")], "metadata name 'first name' is not a ZPL name (letters, digits and $-_@.&+/)"),
                ([("", "Ada")], "metadata name '' is not a ZPL name (letters, digits and $-_@.&+/)"),
                ([("name", "Ada\nLovelace")], "metadata value for 'name' cannot span lines"),
                ([("name", "\"Ada's\"")], "metadata value for 'name' cannot contain both kinds of quote"),
            ]
            for (metadata, reason) in cases {
                #expect(throws: CertificateError(path: path, reason: reason)) {
                    try Certificate(keyPair: pair, metadata: metadata).write(to: path)
                }
            }
            #expect(throws: CertificateError(path: path + "_secret", reason: "cannot write a secret certificate without a secret key")) {
                try Certificate(publicKey: pair.publicKey).write(to: path)
            }
            #expect(!FileManager.default.fileExists(atPath: path), "a refused certificate writes no file")
            try Certificate(publicKey: pair.publicKey).write(publicPath: path, secretPath: nil)
            #expect(try Certificate.load(path: path) == Certificate(publicKey: pair.publicKey))
        }
    }

    @Test("a directory's public keys come from every certificate file but hidden and secret ones, as pyzmq and CZMQ read them")
    func directoryOfCertificates() throws {
        let pair = try Self.keyPair
        try withTemporaryDirectory { directory in
            let other = try CurvePublicKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
            let skipped = try CurvePublicKey(bytes: [UInt8](repeating: 7, count: 32))
            try Certificate(keyPair: pair).write(to: directory + "/alice.key")
            try Certificate(publicKey: other).write(publicPath: directory + "/bob.key", secretPath: nil)
            try Certificate(publicKey: other).write(publicPath: directory + "/bob-copy.key", secretPath: nil)
            // CZMQ's store and `zmq keygen --out` name a public certificate without a suffix.
            let erin = try CurveKeyPair.generate()
            try Certificate(keyPair: erin).write(to: directory + "/erin")
            for name in [".hidden.key", "carol.key_secret", "frank_secret"] {
                try Certificate(publicKey: skipped).write(publicPath: directory + "/" + name, secretPath: nil)
            }
            // A file that is not a certificate (and not named *.key) is passed over, as in CZMQ.
            #expect(FileManager.default.createFile(atPath: directory + "/README", contents: Data("certificates\n".utf8)))
            try FileManager.default.createDirectory(atPath: directory + "/nested.key", withIntermediateDirectories: false)
            try Certificate(publicKey: skipped).write(publicPath: directory + "/nested.key/dave.key", secretPath: nil)

            #expect(try Certificate.loadPublicKeys(directory: directory) == [pair.publicKey, other, erin.publicKey])
        }
    }

    @Test("a missing directory or a broken *.key file in it fails the whole load")
    func directoryErrors() throws {
        try withTemporaryDirectory { directory in
            #expect(throws: CertificateError(path: directory + "/none", reason: "is not a directory")) {
                try Certificate.loadPublicKeys(directory: directory + "/none")
            }
            #expect(FileManager.default.createFile(atPath: directory + "/broken.key", contents: Data("metadata\n".utf8)))
            #expect(throws: CertificateError(path: directory + "/broken.key", reason: "has no curve section")) {
                try Certificate.loadPublicKeys(directory: directory)
            }
        }
    }

    @Test("files pyzmq's create_certificates writes load, alone and as a directory")
    func readsPyzmqCertificates() throws {
        try withTemporaryDirectory { directory in
            let output = try runPython("""
                import json, sys, zmq, zmq.auth
                public_file, secret_file = zmq.auth.create_certificates(sys.argv[1], "server", metadata={"name": "Ada Lovelace", "email": "ada@example.org"})
                public, secret = zmq.auth.load_certificate(secret_file)
                assert zmq.curve_public(secret) == public
                print(json.dumps({"public_file": public_file, "secret_file": secret_file, "public": public.decode(), "secret": secret.decode()}))
                """, directory)
            let written = try JSONDecoder().decode([String: String].self, from: Data(output.utf8))
            let publicKey = try CurvePublicKey(z85: written["public"] ?? "")
            let secretKey = try CurveSecretKey(z85: written["secret"] ?? "")
            #expect(written["public_file"] == directory + "/server.key")
            #expect(written["secret_file"] == directory + "/server.key_secret")

            let secret = try Certificate.load(path: directory + "/server.key_secret")
            #expect(secret.keyPair == CurveKeyPair(publicKey: publicKey, secretKey: secretKey))
            #expect(secret.metadata.elementsEqual(Self.metadata, by: ==))
            let published = try Certificate.load(path: directory + "/server.key")
            #expect(published.publicKey == publicKey)
            #expect(published.secretKey == nil)
            #expect(try Certificate.loadPublicKeys(directory: directory) == [publicKey])
        }
    }

    @Test("pyzmq's load_certificate and load_certificates read the files we write")
    func pyzmqReadsOurCertificates() throws {
        let pair = try Self.keyPair
        try withTemporaryDirectory { directory in
            try Certificate(keyPair: pair, metadata: Self.metadata).write(to: directory + "/server.key")
            let output = try runPython("""
                import json, sys, zmq, zmq.auth
                directory = sys.argv[1]
                public = zmq.auth.load_certificate(directory + "/server.key")
                secret = zmq.auth.load_certificate(directory + "/server.key_secret")
                assert zmq.curve_public(secret[1]) == secret[0]
                print(json.dumps({
                    "public file": [key and key.decode() for key in public],
                    "secret file": [key and key.decode() for key in secret],
                    "directory": sorted(key.decode() for key in zmq.auth.load_certificates(directory)),
                }))
                """, directory)
            let read = try JSONDecoder().decode([String: [String?]].self, from: Data(output.utf8))
            #expect(read["public file"] == [CertificateTests.serverPublicZ85, nil])
            #expect(read["secret file"] == [CertificateTests.serverPublicZ85, CertificateTests.serverSecretZ85])
            #expect(read["directory"] == [CertificateTests.serverPublicZ85])
        }
    }
}

/// Runs `body` with a fresh empty directory that is removed afterwards.
private func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("swift-zmq-certificates-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// A file's permission bits.
private func permissions(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

/// A failure of the Python side, saying what to fix.
private struct PythonFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs `script` under `$SWIFT_ZMQ_PYTHON` (or `python3`) and returns its stdout. Fails, never
/// skips, when pyzmq cannot be imported: these tests prove compatibility with the real thing.
private func runPython(_ script: String, _ arguments: String...) throws -> String {
    let python = ProcessInfo.processInfo.environment["SWIFT_ZMQ_PYTHON"] ?? "python3"
    let guarded = """
        try:
            import zmq.auth
        except ImportError as error:
            import sys
            sys.stderr.write(f"pyzmq cannot be imported: {error}\\n")
            sys.exit(97)
        """ + "\n" + script
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python, "-c", guarded] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    switch process.terminationStatus {
    case 0:
        return stdout
    case 97:
        throw PythonFailure(description: "\(python) cannot import pyzmq, which these tests need (\(stderr.trimmingCharacters(in: .whitespacesAndNewlines))); "
            + "run `\(python) -m pip install pyzmq==27.3.0` or set SWIFT_ZMQ_PYTHON to a Python that has it")
    case 127:
        throw PythonFailure(description: "'\(python)' was not found; install Python 3 with pyzmq==27.3.0 or set SWIFT_ZMQ_PYTHON")
    case let status:
        throw PythonFailure(description: "\(python) exited with status \(status): \(stderr)")
    }
}
