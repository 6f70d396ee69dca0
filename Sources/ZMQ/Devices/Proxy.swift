import ZMTP

/// Forwards messages between two sockets, as libzmq's `zmq_proxy` does: what the frontend
/// receives goes out of the backend and, for socket types that carry replies or subscriptions,
/// what the backend receives goes out of the frontend.
///
///     // A forwarder for publish-subscribe: publishers connect to one side, subscribers to the
///     // other, and subscriptions travel upstream through it.
///     let frontend = try context.socket(.xsub)
///     try await frontend.bind("tcp://*:5556")
///     let backend = try context.socket(.xpub)
///     try await backend.bind("tcp://*:5557")
///     try await ZMQProxy.run(frontend: frontend, backend: backend)
///
/// Typical pairs are XSUB/XPUB (forwarder), PULL/PUSH (streamer), and ROUTER/DEALER (queue).
public enum ZMQProxy {
    /// Runs until either socket is closed (then returns) or the task is cancelled (then throws
    /// `CancellationError`). Every message forwarded is also sent to `capture`, if given.
    public static func run(frontend: ZMQSocket, backend: ZMQSocket, capture: ZMQSocket? = nil) async throws {
        let directions = [(frontend, backend), (backend, frontend)].filter { from, to in
            from.type.canReceive && to.type.canSend
        }
        guard !directions.isEmpty else {
            throw ZMQError.notSupported("a \(frontend.type) frontend and a \(backend.type) backend pass nothing between them")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (from, to) in directions {
                group.addTask { try await forward(from: from, to: to, capture: capture) }
            }
            // A side that only sends is not waiting in `receive`: watch for it closing too.
            for socket in [frontend, backend] + (capture.map { [$0] } ?? []) {
                group.addTask { await socket.untilClosed() }
            }
            // The first task to end (a socket closed) ends the proxy.
            defer { group.cancelAll() }
            try await group.next()
            try Task.checkCancellation()
        }
    }

    /// Moves messages one way. A receive or send timeout set on either socket does not end the
    /// proxy (libzmq's proxy polls, so its timeouts never apply); the message in hand is kept.
    private static func forward(from: ZMQSocket, to: ZMQSocket, capture: ZMQSocket?) async throws {
        do {
            while true {
                let message = try await retryingTimeouts { try await from.receive() }
                if let capture { try await retryingTimeouts { try await capture.send(message) } }
                try await retryingTimeouts { try await to.send(message) }
            }
        } catch ZMQError.socketClosed {
            return
        }
    }

    private static func retryingTimeouts<T>(_ operation: () async throws -> T) async throws -> T {
        while true {
            do {
                return try await operation()
            } catch ZMQError.timedOut {
                continue
            }
        }
    }
}

extension SocketType {
    /// Whether a socket of this type may receive messages at all.
    var canReceive: Bool { self != .pub && self != .push }
    /// Whether a socket of this type may send messages at all.
    var canSend: Bool { self != .sub && self != .pull }
}
