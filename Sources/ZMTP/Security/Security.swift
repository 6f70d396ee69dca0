import NIOCore

/// Which security mechanism a connection runs, and in which role (23/ZMTP "Authentication and
/// Confidentiality"). The role comes from configuration, never from the peer's greeting: libzmq
/// leaves the greeting's as-server octet at zero whatever its role.
public enum Security: Sendable, Equatable {
    /// No authentication or encryption. Symmetric: neither side is client or server.
    case null
    /// 24/ZMTP-PLAIN as the client: sends a user name and password in clear text.
    case plainClient(username: String, password: String)
    /// 24/ZMTP-PLAIN as the server: asks the authenticator to check each client's credentials.
    case plainServer
    /// 25/ZMTP-CURVE as the client: knows the server's public key, proves its own key pair.
    case curveClient(serverKey: CurvePublicKey, keyPair: CurveKeyPair)
    /// 25/ZMTP-CURVE as the server: its key pair; the authenticator checks each client's public key.
    case curveServer(keyPair: CurveKeyPair)

    /// The name in the greeting's mechanism field.
    public var mechanismName: String {
        switch self {
        case .null: return "NULL"
        case .plainClient, .plainServer: return "PLAIN"
        case .curveClient, .curveServer: return "CURVE"
        }
    }

    /// Whether we act as the server: the greeting's as-server octet is set for it (the RFCs ask for
    /// it; libzmq ignores it).
    public var isServer: Bool {
        switch self {
        case .null, .plainClient, .curveClient: return false
        case .plainServer, .curveServer: return true
        }
    }
}

/// What a server mechanism asks its authenticator to decide (the mechanism-specific part of a
/// 27/ZAP request; the shell adds the domain, the peer's address and the socket's identity).
public struct AuthenticationRequest: Sendable, Equatable {
    /// "NULL", "PLAIN" or "CURVE".
    public var mechanism: String
    /// NULL: none. PLAIN: user name, password. CURVE: the client's 32-octet public key.
    public var credentials: [[UInt8]]

    public init(mechanism: String, credentials: [[UInt8]]) {
        self.mechanism = mechanism
        self.credentials = credentials
    }
}

/// An authenticator's answer (the decision part of a 27/ZAP reply).
public struct AuthenticationReply: Sendable, Equatable {
    /// "200" success, "300" temporary error, "400" authentication failure, "500" internal error.
    public var statusCode: String
    public var statusText: String
    /// The identity the authenticator gives the peer, readable on each of its messages.
    public var userID: String
    /// Properties the authenticator attaches to the connection.
    public var metadata: Metadata

    public init(statusCode: String, statusText: String = "", userID: String = "", metadata: Metadata = Metadata()) {
        self.statusCode = statusCode
        self.statusText = statusText
        self.userID = userID
        self.metadata = metadata
    }

    public static let accepted = AuthenticationReply(statusCode: "200", statusText: "OK")
    public static let denied = AuthenticationReply(statusCode: "400", statusText: "No access")

    public var isSuccess: Bool { statusCode == "200" }

    /// The only status codes 27/ZAP allows.
    public static let statusCodes: Set<String> = ["200", "300", "400", "500"]
}

/// What a mechanism asks of its connection, in order.
enum MechanismStep: Sendable {
    /// Send this handshake command (a whole encoded command frame).
    case send(ByteBuffer)
    /// Ask the authenticator; its reply comes back through `authenticated(_:)`.
    case authenticate(AuthenticationRequest)
    /// The handshake is done: the peer's validated metadata.
    case complete(peerMetadata: Metadata)
}

// Passwords and keys never print: these show what kind of credentials there are, not them.
extension Security: CustomStringConvertible {
    public var description: String {
        switch self {
        case .null: return "NULL"
        case .plainClient(let username, _): return "PLAIN client \(username)"
        case .plainServer: return "PLAIN server"
        case .curveClient(let serverKey, let keyPair): return "CURVE client \(keyPair.publicKey) of server \(serverKey)"
        case .curveServer(let keyPair): return "CURVE server \(keyPair.publicKey)"
        }
    }
}

extension AuthenticationRequest: CustomStringConvertible, CustomReflectable {
    public var description: String { "\(mechanism) authentication request (\(credentials.count) credentials)" }
    public var customMirror: Mirror { Mirror(self, children: ["mechanism": mechanism]) }
}
