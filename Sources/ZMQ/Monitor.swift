import Synchronization

/// What happens to a socket's connections, for `ZMQSocket.monitor()` (like libzmq's socket monitor).
public enum SocketEvent: Sendable, Equatable {
    /// The socket listens at this endpoint.
    case listening(endpoint: String)
    /// A connection completed its ZMTP handshake; messages flow.
    case handshakeSucceeded(endpoint: String)
    /// A connection closed before or during the handshake: bad greeting, wrong socket type,
    /// refused credentials, timeout …; `reason.kind` says which, typed.
    case handshakeFailed(endpoint: String, reason: HandshakeFailure)
    /// An established connection closed; `reason` is nil when the peer simply went away.
    case disconnected(endpoint: String, reason: String?)
    /// A connect endpoint will be dialled again after `delay`.
    case connectRetrying(endpoint: String, delay: Duration)
    /// A peer was refused because the socket type takes no further peer (PAIR).
    case peerRefused(endpoint: String)
    /// The socket closed; the event stream ends after this.
    case closed
}

/// The monitors attached to one socket. Kept apart from the socket's main lock: events are rare.
final class EventHub: Sendable {
    private let continuations = Mutex<[Int: AsyncStream<SocketEvent>.Continuation]>([:])
    private let nextID = Mutex(0)

    func stream() -> AsyncStream<SocketEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: SocketEvent.self)
        let id = nextID.withLock { id in
            id += 1
            return id
        }
        continuations.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.continuations.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func emit(_ event: SocketEvent) {
        let targets = continuations.withLock { Array($0.values) }
        for continuation in targets { continuation.yield(event) }
    }

    func finish() {
        let targets = continuations.withLock { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
        for continuation in targets {
            continuation.yield(.closed)
            continuation.finish()
        }
    }
}

/// Why a connection failed before its handshake completed, for monitors.
public struct HandshakeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Credentials were refused, by the peer or by us, with this 27/ZAP status (300, 400,
        /// 500); a PLAIN server without an authenticator refuses with no status.
        case authentication(status: String?)
        /// The peer's socket type cannot talk to ours.
        case incompatibleSocketType
        /// The peer uses another security mechanism.
        case mechanismMismatch
        /// The handshake did not complete in time.
        case timeout
        /// The peer broke the protocol: a bad greeting, a malformed command, a box that did not open.
        case protocolError
        /// The peer or the network closed the connection first.
        case closed
    }

    /// The protocol error that ended the handshake; nil when the connection simply closed.
    public let error: ZMTPError?
    public let description: String

    public init(_ error: ZMTPError) {
        self.error = error
        self.description = error.description
    }

    public init(closed description: String) {
        self.error = nil
        self.description = description
    }

    public var kind: Kind {
        switch error {
        case nil: return .closed
        case .authenticationFailed(let status)?, .authenticationRefused(let status)?: return .authentication(status: status)
        case .noAuthenticator?: return .authentication(status: nil)
        case .incompatibleSocketType?: return .incompatibleSocketType
        case .mechanismMismatch?: return .mechanismMismatch
        case .handshakeTimeout?: return .timeout
        default: return .protocolError
        }
    }
}
