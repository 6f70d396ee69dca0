import Synchronization

/// What happens to a socket's connections, for `ZMQSocket.monitor()` (like libzmq's socket monitor).
public enum SocketEvent: Sendable, Equatable {
    /// The socket listens at this endpoint.
    case listening(endpoint: String)
    /// A connection completed its ZMTP handshake; messages flow.
    case handshakeSucceeded(endpoint: String)
    /// A connection closed before or during the handshake: bad greeting, wrong socket type, timeout …
    case handshakeFailed(endpoint: String, reason: String)
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
