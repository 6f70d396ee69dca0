import Foundation
import ZMTP

/// A ready-made authenticator with the rules most services need, like CZMQ's zauth and pyzmq's
/// `zmq.auth`: peer addresses allowed or denied, PLAIN users and passwords, CURVE client keys.
///
///     var auth = StandardAuthenticator()
///     auth.curveClients = .only(try Certificate.loadPublicKeys(directory: "clients"))
///     context.setAuthenticator(auth)
public struct StandardAuthenticator: ZMQAuthenticator {
    /// Which CURVE client keys are let in.
    public enum CurveClients: Sendable, Equatable {
        /// Any key: encryption without authentication (CZMQ's CURVE_ALLOW_ANY).
        case any
        /// Only these keys.
        case only(Set<CurvePublicKey>)
    }

    /// If not empty, only peers at these addresses get in (checked before credentials).
    public var allowedAddresses: Set<String> = []
    /// Peers at these addresses never get in.
    public var deniedAddresses: Set<String> = []
    /// PLAIN user names and their passwords.
    public var plainUsers: [String: String] = [:]
    public var curveClients: CurveClients = .only([])

    public init() {}

    public func authenticate(_ request: ZAPRequest) async -> AuthenticationReply {
        decide(request)
    }

    /// The decision, without waiting: the same rules as `authenticate`.
    public func decide(_ request: ZAPRequest) -> AuthenticationReply {
        if deniedAddresses.contains(request.address) || (!allowedAddresses.isEmpty && !allowedAddresses.contains(request.address)) {
            return AuthenticationReply(statusCode: "400", statusText: "Address not allowed")
        }
        switch request.mechanism {
        case "NULL":
            return .accepted
        case "PLAIN":
            guard let (username, password) = request.plainCredentials, let expected = plainUsers[username],
                  expected == password
            else { return AuthenticationReply(statusCode: "400", statusText: "Invalid user name or password") }
            return AuthenticationReply(statusCode: "200", statusText: "OK", userID: username)
        case "CURVE":
            guard let key = request.credentials.first.flatMap({ try? CurvePublicKey(bytes: $0) }) else {
                return AuthenticationReply(statusCode: "400", statusText: "No client key")
            }
            switch curveClients {
            case .any:
                return AuthenticationReply(statusCode: "200", statusText: "OK", userID: key.z85)
            case .only(let keys):
                return keys.contains(key)
                    ? AuthenticationReply(statusCode: "200", statusText: "OK", userID: key.z85)
                    : AuthenticationReply(statusCode: "400", statusText: "Unknown key")
            }
        default:
            return AuthenticationReply(statusCode: "400", statusText: "Unknown mechanism")
        }
    }

    /// Reads a password file as CZMQ's zauth does: one `user=password` line each; blank lines and
    /// lines starting with `#` are skipped.
    public static func loadPasswords(path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ZMQError.invalidFile(path, reason: "cannot read it")
        }
        var users: [String: String] = [:]
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ZMQError.invalidFile(path, reason: "line \(number + 1): expected user=password")
            }
            users[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return users
    }
}

/// Sends each request to the authenticator for its ZAP domain (`SocketOption.zapDomain`), so one
/// context can hold sockets with different rules; a domain without one is refused.
public struct DomainAuthenticator: ZMQAuthenticator {
    public var authenticators: [String: any ZMQAuthenticator]

    public init(_ authenticators: [String: any ZMQAuthenticator]) {
        self.authenticators = authenticators
    }

    public func authenticate(_ request: ZAPRequest) async -> AuthenticationReply {
        guard let authenticator = authenticators[request.domain] else {
            return AuthenticationReply(statusCode: "400", statusText: "No authenticator for domain '\(request.domain)'")
        }
        return await authenticator.authenticate(request)
    }
}
