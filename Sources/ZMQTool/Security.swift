import ArgumentParser
import Foundation
import ZMQ

/// One socket's security, as the tool's options describe it.
struct SecuritySettings {
    var curveServer = false
    var curveCert: String?
    var curveAllow: String?
    var curveServerKey: String?
    var plainServer = false
    var plainPasswords: String?
    var plainUser: String?
    var plainPassword: String?

    /// Checks the combination; `prefix` names the options in messages ("frontend-" …).
    func validate(prefix: String) throws {
        let roles = [curveServer, curveServerKey != nil, plainServer, plainUser != nil].filter { $0 }.count
        guard roles <= 1 else {
            throw ValidationError("give at most one of --\(prefix)curve-server, --\(prefix)curve-server-key, --\(prefix)plain-server and --\(prefix)plain-user")
        }
        if curveServer, curveCert == nil { throw ValidationError("--\(prefix)curve-server needs --\(prefix)curve-cert FILE (its key pair)") }
        if curveAllow != nil, !curveServer { throw ValidationError("--\(prefix)curve-allow needs --\(prefix)curve-server") }
        if curveCert != nil, !curveServer, curveServerKey == nil {
            throw ValidationError("--\(prefix)curve-cert needs --\(prefix)curve-server or --\(prefix)curve-server-key")
        }
        if plainServer, plainPasswords == nil { throw ValidationError("--\(prefix)plain-server needs --\(prefix)plain-passwords FILE") }
        if plainPasswords != nil, !plainServer { throw ValidationError("--\(prefix)plain-passwords needs --\(prefix)plain-server") }
        if plainPassword != nil, plainUser == nil { throw ValidationError("--\(prefix)plain-password needs --\(prefix)plain-user") }
    }

    /// Sets the socket's security options before it binds or connects. A server side returns
    /// the authenticator that decides for its ZAP `domain`.
    func apply(to socket: ZMQSocket, domain: String) throws -> (any ZMQAuthenticator)? {
        do {
            if curveServer, let curveCert {
                try socket.set(.curveServer(try Self.keyPair(curveCert)))
                try socket.set(.zapDomain(domain))
                var authenticator = StandardAuthenticator()
                if let curveAllow, curveAllow != "*" {
                    authenticator.curveClients = .only(Set(try Certificate.loadPublicKeys(directory: curveAllow)))
                } else {
                    authenticator.curveClients = .any  // as libzmq without a ZAP handler
                }
                return authenticator
            }
            if let curveServerKey {
                if let curveCert { try socket.set(.curveKeyPair(try Self.keyPair(curveCert))) }
                try socket.set(.curveServerKey(try CurvePublicKey(z85: curveServerKey)))
            }
            if plainServer, let plainPasswords {
                try socket.set(.plainServer(true))
                try socket.set(.zapDomain(domain))
                var authenticator = StandardAuthenticator()
                authenticator.plainUsers = try StandardAuthenticator.loadPasswords(path: plainPasswords)
                return authenticator
            }
            if let plainUser {
                try socket.set(.plainUsername(plainUser))
                try socket.set(.plainPassword(plainPassword ?? ""))
            }
            return nil
        } catch let error as ZMQError {
            throw UsageError(message: error.description)
        } catch let error as CustomStringConvertible {
            throw UsageError(message: error.description)
        }
    }

    /// The key pair in a certificate: the `_secret` file holds both keys; given the public file,
    /// its `_secret` companion is read.
    static func keyPair(_ path: String) throws -> CurveKeyPair {
        let certificate = try Certificate.load(path: path)
        if let pair = certificate.keyPair { return pair }
        let companion = try Certificate.load(path: path + "_secret")
        guard let pair = companion.keyPair else {
            throw UsageError(message: "\(path) holds no secret key, and neither does \(path)_secret")
        }
        return pair
    }
}

/// The security options of `send` and `recv`.
struct SecurityArguments: ParsableArguments {
    @Flag(help: "Be a CURVE server (needs --curve-cert).")
    var curveServer = false

    @Option(help: "A certificate file with this socket's CURVE key pair (either file of a pair).")
    var curveCert: String?

    @Option(help: "CURVE server: admit the public keys of the certificates in this directory, or '*' for any key (the default).")
    var curveAllow: String?

    @Option(help: "Be a CURVE client of the server with this Z85 public key (a fresh key pair without --curve-cert).")
    var curveServerKey: String?

    @Flag(help: "Be a PLAIN server (needs --plain-passwords).")
    var plainServer = false

    @Option(help: "PLAIN server: a file of user=password lines.")
    var plainPasswords: String?

    @Option(help: "Be a PLAIN client with this user name.")
    var plainUser: String?

    @Option(help: "The PLAIN client's password.")
    var plainPassword: String?

    var settings: SecuritySettings {
        SecuritySettings(curveServer: curveServer, curveCert: curveCert, curveAllow: curveAllow, curveServerKey: curveServerKey,
                         plainServer: plainServer, plainPasswords: plainPasswords, plainUser: plainUser, plainPassword: plainPassword)
    }

    func validate() throws { try settings.validate(prefix: "") }
}

/// The security options of `proxy`'s frontend, prefixed `--frontend-`.
struct FrontendSecurityArguments: ParsableArguments {
    @Flag(name: .customLong("frontend-curve-server"), help: "The frontend is a CURVE server.")
    var curveServer = false
    @Option(name: .customLong("frontend-curve-cert"), help: "The frontend's CURVE certificate file.")
    var curveCert: String?
    @Option(name: .customLong("frontend-curve-allow"), help: "CURVE server frontend: admit the keys in this directory, or '*'.")
    var curveAllow: String?
    @Option(name: .customLong("frontend-curve-server-key"), help: "The frontend is a CURVE client of this Z85 server key.")
    var curveServerKey: String?
    @Flag(name: .customLong("frontend-plain-server"), help: "The frontend is a PLAIN server.")
    var plainServer = false
    @Option(name: .customLong("frontend-plain-passwords"), help: "PLAIN server frontend: a file of user=password lines.")
    var plainPasswords: String?
    @Option(name: .customLong("frontend-plain-user"), help: "The frontend is a PLAIN client with this user name.")
    var plainUser: String?
    @Option(name: .customLong("frontend-plain-password"), help: "The frontend's PLAIN password.")
    var plainPassword: String?

    var settings: SecuritySettings {
        SecuritySettings(curveServer: curveServer, curveCert: curveCert, curveAllow: curveAllow, curveServerKey: curveServerKey,
                         plainServer: plainServer, plainPasswords: plainPasswords, plainUser: plainUser, plainPassword: plainPassword)
    }

    func validate() throws { try settings.validate(prefix: "frontend-") }
}

/// The security options of `proxy`'s backend, prefixed `--backend-`.
struct BackendSecurityArguments: ParsableArguments {
    @Flag(name: .customLong("backend-curve-server"), help: "The backend is a CURVE server.")
    var curveServer = false
    @Option(name: .customLong("backend-curve-cert"), help: "The backend's CURVE certificate file.")
    var curveCert: String?
    @Option(name: .customLong("backend-curve-allow"), help: "CURVE server backend: admit the keys in this directory, or '*'.")
    var curveAllow: String?
    @Option(name: .customLong("backend-curve-server-key"), help: "The backend is a CURVE client of this Z85 server key.")
    var curveServerKey: String?
    @Flag(name: .customLong("backend-plain-server"), help: "The backend is a PLAIN server.")
    var plainServer = false
    @Option(name: .customLong("backend-plain-passwords"), help: "PLAIN server backend: a file of user=password lines.")
    var plainPasswords: String?
    @Option(name: .customLong("backend-plain-user"), help: "The backend is a PLAIN client with this user name.")
    var plainUser: String?
    @Option(name: .customLong("backend-plain-password"), help: "The backend's PLAIN password.")
    var plainPassword: String?

    var settings: SecuritySettings {
        SecuritySettings(curveServer: curveServer, curveCert: curveCert, curveAllow: curveAllow, curveServerKey: curveServerKey,
                         plainServer: plainServer, plainPasswords: plainPasswords, plainUser: plainUser, plainPassword: plainPassword)
    }

    func validate() throws { try settings.validate(prefix: "backend-") }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair: print it, or write it as a certificate pair.",
        discussion: "With --out NAME, writes NAME (public key) and NAME_secret (both keys), as CZMQ and pyzmq do."
    )

    @Option(help: "Write the certificate files NAME and NAME_secret instead of printing the keys.")
    var out: String?

    func run() throws {
        let pair: CurveKeyPair
        do {
            pair = try CurveKeyPair.generate()
        } catch {
            FileHandle.standardError.write(Data("zmq keygen: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if let out {
            try Certificate(keyPair: pair).write(to: out)
            print("wrote \(out) and \(out)_secret")
        } else {
            print("public: \(pair.publicKey.z85)")
            print("secret: \(pair.secretKey.z85)")
        }
    }
}
