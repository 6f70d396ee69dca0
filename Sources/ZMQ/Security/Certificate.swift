import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A CURVE certificate file as CZMQ's zcert and pyzmq's `zmq.auth` write it, so existing
/// certificate directories work unchanged: ZPL text (ZeroMQ RFC 4) with a `metadata` section
/// of `name = "value"` lines and a `curve` section holding the Z85 keys.
public struct Certificate: Sendable, Equatable {
    /// The key this certificate identifies.
    public var publicKey: CurvePublicKey
    /// Present only when loaded from, or meant for, the secret file of a pair.
    public var secretKey: CurveSecretKey?
    /// The `metadata` section's entries, in file order (ZAP handlers may use them).
    public var metadata: [(name: String, value: String)]

    /// A certificate for `publicKey`, optionally with its secret half and metadata.
    public init(publicKey: CurvePublicKey, secretKey: CurveSecretKey? = nil, metadata: [(name: String, value: String)] = []) {
        self.publicKey = publicKey
        self.secretKey = secretKey
        self.metadata = metadata
    }

    /// A certificate holding both halves of `keyPair`.
    public init(keyPair: CurveKeyPair, metadata: [(name: String, value: String)] = []) {
        self.init(publicKey: keyPair.publicKey, secretKey: keyPair.secretKey, metadata: metadata)
    }

    /// Both keys, if this certificate has its secret half.
    public var keyPair: CurveKeyPair? {
        secretKey.map { CurveKeyPair(publicKey: publicKey, secretKey: $0) }
    }

    /// Equal keys and the same metadata in the same order.
    public static func == (lhs: Certificate, rhs: Certificate) -> Bool {
        lhs.publicKey == rhs.publicKey && lhs.secretKey == rhs.secretKey && lhs.metadata.elementsEqual(rhs.metadata, by: ==)
    }

    /// Reads one certificate file: a public file gives no secret key, a `_secret` file gives both.
    public static func load(path: String) throws -> Certificate {
        let contents = try readFile(path)
        guard let text = String(validating: contents, as: UTF8.self) else {
            throw CertificateError(path: path, reason: "is not UTF-8 text")
        }
        return try Certificate(zpl: text, path: path)
    }

    /// Writes the public file at `basePath` and the secret file at `basePath + "_secret"`,
    /// the pair zcert_save writes; name it `NAME.key`, as pyzmq does, so directory loading finds it.
    public func write(to basePath: String) throws {
        try write(publicPath: basePath, secretPath: basePath + "_secret")
    }

    /// Writes the public file (mode 0644) and, if `secretPath` is given, the secret file (mode 0600).
    public func write(publicPath: String, secretPath: String?) throws {
        // Check and render everything first, so a refused certificate leaves no file half written.
        let generated = Self.timestamp()
        let publicText = try zplText(secret: false, generated: generated, path: publicPath)
        var secretText: String?
        if let secretPath {
            guard secretKey != nil else {
                throw CertificateError(path: secretPath, reason: "cannot write a secret certificate without a secret key")
            }
            secretText = try zplText(secret: true, generated: generated, path: secretPath)
        }
        try writeFile(publicPath, publicText, mode: 0o644)
        if let secretPath, let secretText { try writeFile(secretPath, secretText, mode: 0o600) }
    }

    /// The public keys of the certificate files in `directory`, as pyzmq's `load_certificates` and
    /// CZMQ's certificate store read them: every file but hidden ones and `_secret` ones (so both
    /// `name.key` from pyzmq and `name` from CZMQ or `zmq keygen --out`), not recursive, each key
    /// once, in file name order. A `*.key` file that is not a certificate throws, as in pyzmq;
    /// another file that is not one is passed over, as in CZMQ.
    public static func loadPublicKeys(directory: String) throws -> [CurvePublicKey] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CertificateError(path: directory, reason: "is not a directory")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw CertificateError(path: directory, reason: "cannot be listed: \(error.localizedDescription)")
        }
        var keys: [CurvePublicKey] = []
        for name in names.sorted() where !name.hasSuffix("_secret") && !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let key: CurvePublicKey
            do {
                key = try load(path: path).publicKey
            } catch where !name.hasSuffix(".key") {
                continue
            }
            if !keys.contains(key) { keys.append(key) }
        }
        return keys
    }
}

/// Why a certificate file could not be read or written: the file, the line if any, and what was wrong.
public struct CertificateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The certificate file or directory.
    public let path: String
    /// The 1-based line the problem is on, when it is about one line.
    public let line: Int?
    /// What was wrong, never containing secret key material.
    public let reason: String

    init(path: String, line: Int? = nil, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    public var description: String {
        if let line { return "\(path):\(line): \(reason)" }
        return "\(path): \(reason)"
    }
}

// MARK: - ZPL text

extension Certificate {
    /// Parses certificate text the way zconfig does, but leniently where pyzmq is lenient:
    /// comments, blank lines, CRLF, either quote or none, any indentation inside a section.
    init(zpl text: String, path: String) throws(CertificateError) {
        var section: String?
        var sawCurve = false
        var publicKey: CurvePublicKey?
        var secretKey: CurveSecretKey?
        var metadata: [(name: String, value: String)] = []

        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNumber = index + 1
            func failure(_ reason: String) -> CertificateError { CertificateError(path: path, line: lineNumber, reason: reason) }
            let line = rawLine.drop { $0 == "\u{FEFF}" && index == 0 }
            let content = line.drop { $0 == " " || $0 == "\t" }
            if content.allSatisfy(\.isWhitespace) || content.hasPrefix("#") { continue }
            let name = String(content.prefix(while: Self.isNameCharacter))
            guard !name.isEmpty else { throw failure("expected a name, found '\(content.trimmingCharacters(in: .whitespaces))'") }
            let rest = content.dropFirst(name.count).drop { $0 == " " || $0 == "\t" }

            if content.startIndex == line.startIndex {
                // Unindented: a section header (a value after it is allowed by ZPL and ignored here).
                section = name
                sawCurve = sawCurve || name == "curve"
                continue
            }
            guard let section else { throw failure("'\(name)' is indented but not inside a section") }
            guard rest.hasPrefix("=") else { throw failure("expected '\(name) = value'") }
            let value = try Self.value(rest.dropFirst(), failure: failure)

            switch (section, name) {
            case ("metadata", _):
                metadata.append((name, value))
            case ("curve", "public-key"):
                guard publicKey == nil else { throw failure("public-key appears more than once") }
                do throws(KeyError) { publicKey = try CurvePublicKey(z85: value) } catch { throw failure(error.description) }
            case ("curve", "secret-key"):
                guard secretKey == nil else { throw failure("secret-key appears more than once") }
                do throws(KeyError) { secretKey = try CurveSecretKey(z85: value) } catch { throw failure(error.description) }
            default:
                continue
            }
        }
        guard sawCurve else { throw CertificateError(path: path, reason: "has no curve section") }
        guard let publicKey else { throw CertificateError(path: path, reason: "has no public-key in its curve section") }
        self.init(publicKey: publicKey, secretKey: secretKey, metadata: metadata)
    }

    /// The characters zconfig allows in a name.
    static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "$-_@.&+/".contains(character))
    }

    /// A value after `=`: quoted with `"` or `'` (no escapes, as in zconfig), or bare up to a `#` comment.
    static func value(_ text: Substring, failure: (String) -> CertificateError) throws(CertificateError) -> String {
        let text = text.drop { $0 == " " || $0 == "\t" }
        guard let quote = text.first, quote == "\"" || quote == "'" else {
            return String(text.prefix { $0 != "#" }).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let body = text.dropFirst()
        guard let end = body.firstIndex(of: quote) else { throw failure("missing closing \(quote)") }
        let after = body[body.index(after: end)...].trimmingCharacters(in: .whitespacesAndNewlines)
        guard after.isEmpty || after.hasPrefix("#") else { throw failure("unexpected '\(after)' after the quoted value") }
        return String(body[..<end])
    }

    /// The file text in pyzmq's layout: banner comments, a blank line, `metadata`, then `curve`,
    /// entries indented 4 spaces and quoted. Metadata goes in both files, as zcert does.
    func zplText(secret: Bool, generated: String, path: String) throws(CertificateError) -> String {
        var lines = ["#   ****  Generated on \(generated) by swift-zmq  ****"]
        if secret {
            lines += [
                "#   ZeroMQ CURVE **Secret** Certificate",
                "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.",
            ]
        } else {
            lines += [
                "#   ZeroMQ CURVE Public Certificate",
                "#   Exchange securely, or use a secure mechanism to verify the contents",
                "#   of this file after exchange. Store public certificates in your home",
                "#   directory, in the .curve subdirectory.",
            ]
        }
        lines += ["", "metadata"]
        for (name, value) in metadata {
            lines.append("    \(name) = \(try Self.quoted(value, name: name, path: path))")
        }
        lines += ["curve", "    public-key = \"\(publicKey.z85)\""]
        if secret, let secretKey { lines.append("    secret-key = \"\(secretKey.z85)\"") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A metadata value in quotes zconfig reads back unchanged, after checking its name too.
    static func quoted(_ value: String, name: String, path: String) throws(CertificateError) -> String {
        guard !name.isEmpty, name.allSatisfy(isNameCharacter), !name.hasPrefix("/"), !name.hasSuffix("/") else {
            throw CertificateError(path: path, reason: "metadata name '\(name)' is not a ZPL name (letters, digits and $-_@.&+/)")
        }
        guard !value.contains(where: \.isNewline) else {
            throw CertificateError(path: path, reason: "metadata value for '\(name)' cannot span lines")
        }
        if !value.contains("\"") { return "\"\(value)\"" }
        if !value.contains("'") { return "'\(value)'" }
        throw CertificateError(path: path, reason: "metadata value for '\(name)' cannot contain both kinds of quote")
    }

    /// Local time as zcert writes it in the banner.
    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date())
    }
}

// MARK: - Files

/// The whole file, or an error saying why it could not be read.
private func readFile(_ path: String) throws(CertificateError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw CertificateError(path: path, reason: "cannot be opened: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count == 0 { return contents }
        if count < 0 {
            if errno == EINTR { continue }
            throw CertificateError(path: path, reason: "cannot be read: \(String(cString: strerror(errno)))")
        }
        contents += chunk[..<count]
    }
}

/// Replaces the file with `text`, setting `mode` before any of it is written so a secret never
/// sits in a file others can read, even when the file already existed with a wider mode.
private func writeFile(_ path: String, _ text: String, mode: mode_t) throws(CertificateError) {
    func failure(_ what: String) -> CertificateError {
        CertificateError(path: path, reason: "cannot be \(what): \(String(cString: strerror(errno)))")
    }
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard descriptor >= 0 else { throw failure("created") }
    defer { close(descriptor) }
    guard fchmod(descriptor, mode) == 0 else { throw failure("given mode \(String(mode, radix: 8))") }
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            throw failure("written")
        }
        bytes = bytes.dropFirst(written)
    }
}
