import ZMTP

/// A 27/ZAP request: what a server socket asks its context's authenticator about a connecting
/// client before letting it in.
public struct ZAPRequest: Sendable, Equatable {
    /// The server socket's ZAP domain (`SocketOption.zapDomain`).
    public var domain: String
    /// The client's IP address, without port ("127.0.0.1", "::1"); empty for ipc.
    public var address: String
    /// The server socket's routing id, as libzmq sends it (libzmq#4161).
    public var identity: [UInt8]
    /// "NULL", "PLAIN" or "CURVE".
    public var mechanism: String
    /// PLAIN: user name and password. CURVE: the client's 32-octet public key.
    public var credentials: [[UInt8]]

    public init(domain: String, address: String, identity: [UInt8], mechanism: String, credentials: [[UInt8]]) {
        self.domain = domain
        self.address = address
        self.identity = identity
        self.mechanism = mechanism
        self.credentials = credentials
    }

    /// PLAIN's user name and password as text.
    public var plainCredentials: (username: String, password: String)? {
        guard mechanism == "PLAIN", credentials.count == 2 else { return nil }
        return (String(decoding: credentials[0], as: UTF8.self), String(decoding: credentials[1], as: UTF8.self))
    }
}

/// Decides who may connect to the server sockets of a context (the role of a ZAP handler).
/// Install one with `ZMQContext.setAuthenticator(_:)`.
public protocol ZMQAuthenticator: Sendable {
    func authenticate(_ request: ZAPRequest) async -> AuthenticationReply
}

/// An authenticator made from a closure.
public struct ClosureAuthenticator: ZMQAuthenticator {
    let body: @Sendable (ZAPRequest) async -> AuthenticationReply

    public init(_ body: @escaping @Sendable (ZAPRequest) async -> AuthenticationReply) {
        self.body = body
    }

    public func authenticate(_ request: ZAPRequest) async -> AuthenticationReply {
        await body(request)
    }
}

extension ZAPRequest: CustomStringConvertible, CustomReflectable {
    /// Leaves the credentials out: a PLAIN password must not reach a log.
    public var description: String {
        "ZAP request: \(mechanism) from '\(address)' in domain '\(domain)' (\(credentials.count) credentials)"
    }
    public var customMirror: Mirror { Mirror(self, children: ["domain": domain, "address": address, "mechanism": mechanism]) }
}
