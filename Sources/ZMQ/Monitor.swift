import Synchronization

/// What happens to a socket's endpoints and connections, for `ZMQSocket.monitor()`, named as
/// libzmq's socket monitor names its events. A struct rather than an enum, so that kinds can be
/// added without breaking a `switch`:
///
///     for await event in socket.monitor() {
///         switch event.kind {
///         case .accepted: print("peer \(event.peerAddress ?? "?") on \(event.endpoint)")
///         case .handshakeFailed: print("refused: \(event.failure!)")
///         default: break
///         }
///     }
public struct SocketEvent: Sendable, Equatable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ name: String) { description = name }

        /// The socket listens at `endpoint` (ZMQ_EVENT_LISTENING).
        public static let listening = Kind("listening")
        /// `bind` failed; `error` says why (ZMQ_EVENT_BIND_FAILED).
        public static let bindFailed = Kind("bindFailed")
        /// A listener accepted a connection from `peerAddress` (ZMQ_EVENT_ACCEPTED).
        public static let accepted = Kind("accepted")
        /// A listener could not accept a connection, e.g. out of file descriptors; `error` says
        /// why (ZMQ_EVENT_ACCEPT_FAILED).
        public static let acceptFailed = Kind("acceptFailed")
        /// A connection to a `connect` endpoint is being made (ZMQ_EVENT_CONNECT_DELAYED).
        public static let connectDelayed = Kind("connectDelayed")
        /// A connection to a `connect` endpoint was made; its handshake begins (ZMQ_EVENT_CONNECTED).
        public static let connected = Kind("connected")
        /// The endpoint will be dialled again after `delay` (ZMQ_EVENT_CONNECT_RETRIED).
        public static let connectRetried = Kind("connectRetried")
        /// A connection completed its ZMTP handshake; messages flow (ZMQ_EVENT_HANDSHAKE_SUCCEEDED).
        public static let handshakeSucceeded = Kind("handshakeSucceeded")
        /// A connection closed before or during its handshake; `failure` says why, typed
        /// (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, _AUTH and _NO_DETAIL).
        public static let handshakeFailed = Kind("handshakeFailed")
        /// A peer was refused after its handshake because the socket type takes no further peer (PAIR).
        public static let peerRefused = Kind("peerRefused")
        /// An established connection closed; `reason` is nil when the peer simply went away
        /// (ZMQ_EVENT_DISCONNECTED).
        public static let disconnected = Kind("disconnected")
        /// A listener closed, by `unbind` or by closing the socket (ZMQ_EVENT_CLOSED).
        public static let closed = Kind("closed")
        /// The socket closed; the event stream ends after this (ZMQ_EVENT_MONITOR_STOPPED).
        public static let monitorStopped = Kind("monitorStopped")
    }

    public let kind: Kind
    /// The endpoint as bound (what `bind` returned) for a listener and the connections it
    /// accepted, or as given to `connect` for the connections the socket makes.
    public let endpoint: String
    /// The far side's address, `tcp://ip:port` or `ipc://path`, where there is a connection.
    public let peerAddress: String?
    /// Why a handshake failed (`handshakeFailed`), or the protocol error that closed an
    /// established connection (`disconnected`: a CURVE box that did not open, a nonce that did
    /// not increase, a message over the size limit, a malformed frame).
    public let failure: HandshakeFailure?
    /// Why an established connection closed (`disconnected`); nil when the peer went away.
    public let reason: String?
    /// How long until the next dial (`connectRetried`).
    public let delay: Duration?
    /// What went wrong (`bindFailed`, `acceptFailed`).
    public let error: ZMQError?

    init(_ kind: Kind, endpoint: String, peerAddress: String? = nil, failure: HandshakeFailure? = nil,
         reason: String? = nil, delay: Duration? = nil, error: ZMQError? = nil) {
        self.kind = kind
        self.endpoint = endpoint
        self.peerAddress = peerAddress
        self.failure = failure
        self.reason = reason
        self.delay = delay
        self.error = error
    }

    public var description: String {
        var text = "\(kind) \(endpoint)"
        if let peerAddress { text += " peer \(peerAddress)" }
        if let failure { text += ": \(failure)" } else if let reason { text += ": \(reason)" }
        if let delay { text += " in \(delay)" }
        if let error { text += ": \(error.message)" }
        return text
    }
}

/// The monitors attached to one socket. Kept apart from the socket's main lock: events are rare.
/// Each stream keeps at most `bufferSize` events a reader has not taken yet, the newest (libzmq's
/// monitor socket drops beyond its high-water mark too); a stream made after the socket closed
/// holds only `monitorStopped` and ends.
final class EventHub: Sendable {
    /// As libzmq's monitor socket's default high-water mark.
    static let bufferSize = 1000

    private struct State {
        var continuations: [Int: AsyncStream<SocketEvent>.Continuation] = [:]
        var nextID = 0
        var finished = false
    }
    private let state = Mutex(State())

    func stream() -> AsyncStream<SocketEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: SocketEvent.self, bufferingPolicy: .bufferingNewest(Self.bufferSize))
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            state.nextID += 1
            state.continuations[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.yield(SocketEvent(.monitorStopped, endpoint: ""))
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func emit(_ event: SocketEvent) {
        let targets = state.withLock { Array($0.continuations.values) }
        for continuation in targets { continuation.yield(event) }
    }

    func finish() {
        let targets = state.withLock { state in
            state.finished = true
            defer { state.continuations.removeAll() }
            return Array(state.continuations.values)
        }
        for continuation in targets {
            continuation.yield(SocketEvent(.monitorStopped, endpoint: ""))
            continuation.finish()
        }
    }
}

/// Why a connection failed before its handshake completed, for monitors.
public struct HandshakeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure; a struct so that kinds can be added without breaking a `switch`.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ name: String) { description = name }

        /// Credentials were refused, by the peer or by us; `status` has the 27/ZAP code (300,
        /// 400, 500) where there is one (libzmq's HANDSHAKE_FAILED_AUTH).
        public static let authentication = Kind("authentication")
        /// The peer's socket type cannot talk to ours.
        public static let incompatibleSocketType = Kind("incompatibleSocketType")
        /// The peer uses another security mechanism (libzmq's ZMTP_MECHANISM_MISMATCH).
        public static let mechanismMismatch = Kind("mechanismMismatch")
        /// The handshake did not complete in time.
        public static let timeout = Kind("timeout")
        /// The peer broke the protocol: a bad greeting, a malformed command, a box that did not
        /// open (libzmq's HANDSHAKE_FAILED_PROTOCOL).
        public static let protocolError = Kind("protocolError")
        /// The peer or the network closed the connection first (libzmq's HANDSHAKE_FAILED_NO_DETAIL).
        public static let closed = Kind("closed")
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
        case .authenticationFailed?, .authenticationRefused?, .noAuthenticator?: return .authentication
        case .incompatibleSocketType?: return .incompatibleSocketType
        case .mechanismMismatch?: return .mechanismMismatch
        case .handshakeTimeout?: return .timeout
        default: return .protocolError
        }
    }

    /// The 27/ZAP status code of an authentication failure (300, 400, 500); nil otherwise, and
    /// for a PLAIN server that refused everyone for want of an authenticator.
    public var status: String? {
        switch error {
        case .authenticationFailed(let status)?, .authenticationRefused(let status)?: return status
        default: return nil
        }
    }
}
