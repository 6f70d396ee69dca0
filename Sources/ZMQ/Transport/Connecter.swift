import NIOCore
import NIOConcurrencyHelpers
import NIOPosix

/// Keeps one `connect` endpoint connected: dials, and after a refusal or a drop dials again after
/// a randomised wait that doubles up to the maximum (23/ZMTP: "reconnect with a randomised delay
/// that grows each time"). Owns the endpoint's pipe, which outlives every connection.
final class Connecter: Sendable {
    let endpoint: Endpoint
    let pipe: Pipe
    unowned let socket: ZMQSocket
    private let eventLoop: any EventLoop
    private let baseInterval: TimeAmount
    private let maxInterval: TimeAmount
    private let stopOn: ReconnectStop

    private struct State {
        var interval: TimeAmount
        var channel: (any Channel)?
        var retry: Scheduled<Void>?
        var dialing: EventLoopFuture<any Channel>?
        var stopped = false
        /// Set after a refusal: the wait doubles even without a configured maximum, up to 30 s.
        var backingOff = false
    }
    private let state: NIOLockedValueBox<State>

    init(endpoint: Endpoint, socket: ZMQSocket, pipe: Pipe, options: SocketOptions) {
        self.endpoint = endpoint
        self.socket = socket
        self.pipe = pipe
        self.eventLoop = socket.eventLoop
        self.baseInterval = TimeAmount(options.reconnectInterval)
        self.maxInterval = TimeAmount(options.reconnectIntervalMax)
        self.stopOn = options.reconnectStop
        self.state = NIOLockedValueBox(State(interval: baseInterval))
    }

    func start() {
        eventLoop.execute { self.dial() }
    }

    private func dial() {
        guard !state.withLockedValue({ $0.stopped }) else { return }
        socket.events.emit(SocketEvent(.connectDelayed, endpoint: endpoint.description))
        guard let transport = endpoint.carrier as? any ChannelTransport else {
            preconditionFailure("\(endpoint.transport) connections are not NIO channels")
        }
        let dialing = transport.dial(self)
        let stopped = state.withLockedValue { state in
            state.dialing = dialing
            return state.stopped
        }
        if stopped { dialing.whenSuccess { $0.close(promise: nil) } }
        dialing.whenComplete { result in
            switch result {
            case .success(let channel):
                let stopped = self.state.withLockedValue { state in
                    state.channel = channel
                    return state.stopped
                }
                if stopped { channel.close(promise: nil) }
            case .failure(let error):
                if self.stopOn.contains(.connectionRefused), Self.isRefusal(error) {
                    self.socket.abandon(self)
                    return
                }
                self.socket.logger.debug("connect failed; will retry", metadata: ["endpoint": "\(self.endpoint)", "error": "\(error)"])
                self.scheduleRetry()
            }
        }
    }

    /// A handshake succeeded: the next drop retries after the base interval again.
    func handshakeCompleted() {
        state.withLockedValue { state in
            state.interval = baseInterval
            state.backingOff = false
        }
    }

    /// The longest wait before retrying a peer that refused us when no maximum is set.
    static let refusedRetryCeiling = TimeAmount.seconds(30)

    /// A connection closed. With `backOff` (a peer that refused us: wrong credentials or server
    /// key, another mechanism, an incompatible socket type, or any failed handshake) the retry
    /// waits double each time, up to `reconnectIntervalMax` when that is set (libzmq's
    /// maximum is never exceeded) and up to 30 s when it is not, so a wrong password never
    /// turns into a tight reconnect loop (libzmq retries at the base interval then).
    func connectionLost(afterHandshake: Bool, backOff: Bool = false) {
        state.withLockedValue { state in
            state.channel = nil
            if backOff { state.backingOff = true }
        }
        if !afterHandshake, stopOn.contains(.handshakeFailed), !isStopped {
            socket.abandon(self)
            return
        }
        scheduleRetry()
    }

    /// Whether a failed dial was refused: nothing listens there.
    static func isRefusal(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        if let error = error as? NIOConnectionError {
            return !error.connectionErrors.isEmpty && error.connectionErrors.allSatisfy { isRefusal($0.error) }
        }
        return false
    }

    private func scheduleRetry() {
        state.withLockedValue { state in
            guard !state.stopped else { return }
            let interval = state.interval
            // Up to one base interval of jitter keeps a crowd of clients from reconnecting in
            // step, and a wait within the maximum plus one base interval (libzmq adds the same).
            let jitter = TimeAmount.nanoseconds(Int64.random(in: 0..<max(1, baseInterval.nanoseconds)))
            if maxInterval > baseInterval {
                state.interval = min(interval * 2, maxInterval)
            } else if state.backingOff {
                state.interval = min(interval * 2, max(Self.refusedRetryCeiling, baseInterval))
            }
            state.retry = eventLoop.scheduleTask(in: interval + jitter) { self.dial() }
            socket.events.emit(SocketEvent(.connectRetried, endpoint: endpoint.description, delay: .nanoseconds((interval + jitter).nanoseconds)))
        }
    }

    /// Whether `stop()` was called: the socket disconnected or closed.
    var isStopped: Bool { state.withLockedValue { $0.stopped } }

    /// Stops dialling and closes the current connection, if any.
    func stop() async {
        let (channel, dialing) = state.withLockedValue { state in
            state.stopped = true
            state.retry?.cancel()
            return (state.channel, state.dialing)
        }
        if let channel {
            try? await channel.close()
        }
        if let dialing, let late = try? await dialing.get() {
            try? await late.close()
            try? await late.closeFuture.get()
        }
    }
}
