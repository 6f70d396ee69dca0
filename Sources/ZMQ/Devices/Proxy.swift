import Synchronization
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
/// The three classic devices:
///
///     // Queue (request-reply broker): REQ clients connect to a ROUTER, REP workers to a
///     // DEALER; requests are spread over the workers and each reply finds its client.
///     let clients = try context.socket(.router)
///     try await clients.bind("tcp://*:5559")
///     let workers = try context.socket(.dealer)
///     try await workers.bind("tcp://*:5560")
///     try await ZMQProxy.run(frontend: clients, backend: workers)
///
///     // Streamer (pipeline): PUSH producers connect to a PULL, PULL consumers to a PUSH.
///     let producers = try context.socket(.pull)
///     try await producers.bind("tcp://*:5557")
///     let consumers = try context.socket(.push)
///     try await consumers.bind("tcp://*:5558")
///     try await ZMQProxy.run(frontend: producers, backend: consumers)
///
/// Any of them can be steered from another task or process through a control socket:
///
///     let control = try context.socket(.rep)
///     try await control.bind("inproc://proxy-control")
///     try await ZMQProxy.run(frontend: clients, backend: workers, control: control)
///     // elsewhere: a REQ connected to inproc://proxy-control sends "PAUSE", "RESUME",
///     // "STATISTICS" or "TERMINATE".
public enum ZMQProxy {
    /// Runs until either socket is closed or a `TERMINATE` arrives on `control` (then returns),
    /// or the task is cancelled (then throws `ZMQError.cancelled`). Every message forwarded is
    /// also sent to `capture`, if given.
    ///
    /// `control`, as in libzmq's `zmq_proxy_steerable`, takes one-frame commands: `PAUSE` stops
    /// forwarding (messages wait in the sockets' queues), `RESUME` goes on, `TERMINATE` ends the
    /// proxy, and `STATISTICS` is answered with eight 8-octet counters (little-endian, as libzmq
    /// writes them on these machines): frames and octets received by the frontend, sent by the
    /// frontend, received by the backend, sent by the backend. A REP control socket answers the
    /// other commands with an empty frame, as libzmq's does; PAIR and SUB answer nothing.
    ///
    /// `trace` (the Guide's Espresso pattern) is given everything the proxy takes in, each way,
    /// as it takes it (before it is forwarded, and while paused too): messages, and the
    /// subscriptions an XPUB side receives, told apart. It is finished when the proxy ends.
    ///
    ///     let (passing, trace) = AsyncStream.makeStream(of: ZMQProxy.Passage.self)
    ///     Task { for await passage in passing { print(passage) } }   // frontend>backend message …
    ///     try await ZMQProxy.run(frontend: xsub, backend: xpub, trace: trace)
    public static func run(frontend: ZMQSocket, backend: ZMQSocket, capture: ZMQSocket? = nil, control: ZMQSocket? = nil,
                           trace: AsyncStream<Passage>.Continuation? = nil) async throws {
        let directions = [(frontend, backend), (backend, frontend)].filter { from, to in
            from.type.canReceive && to.type.canSend
        }
        guard passesMessages(between: frontend.type, and: backend.type) else {
            throw ZMQError.notSupported("a \(frontend.type) frontend and a \(backend.type) backend pass nothing between them")
        }
        let steering = Steering(frontend: frontend)
        defer { trace?.finish() }
        do {
            try await runTasks(frontend: frontend, backend: backend, directions: directions, capture: capture, control: control,
                               steering: steering, trace: trace)
        } catch let error as ZMQError {
            throw error
        } catch {
            throw ZMQError.cancelled
        }
    }

    private static func runTasks(frontend: ZMQSocket, backend: ZMQSocket, directions: [(ZMQSocket, ZMQSocket)], capture: ZMQSocket?,
                                 control: ZMQSocket?, steering: Steering, trace: AsyncStream<Passage>.Continuation?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (from, to) in directions {
                let tracing = trace.map { trace in (trace, from === frontend ? Passage.Direction.frontendToBackend : .backendToFrontend) }
                group.addTask { try await forward(from: from, to: to, capture: capture, steering: steering, trace: tracing) }
            }
            // A side that only sends is not waiting in `receive`: watch for it closing too.
            for socket in [frontend, backend] + (capture.map { [$0] } ?? []) {
                group.addTask { await socket.untilClosed() }
            }
            if let control {
                group.addTask { try await steer(control, steering) }
            }
            // The first task to end (a socket closed, TERMINATE) ends the proxy.
            defer {
                group.cancelAll()
                steering.terminate()
            }
            try await group.next()
            if Task.isCancelled { throw ZMQError.cancelled }
        }
    }

    /// What passes through a proxy, for its trace.
    public struct Passage: Sendable, Hashable, CustomStringConvertible {
        public enum Direction: Sendable, Hashable {
            case frontendToBackend, backendToFrontend
        }

        public enum Kind: Sendable, Hashable {
            case message, subscribe, unsubscribe
        }

        public let direction: Direction
        public let kind: Kind
        /// The message; for a subscription, one frame: the topic prefix.
        public let message: Message

        public init(direction: Direction, kind: Kind, message: Message) {
            self.direction = direction
            self.kind = kind
            self.message = message
        }

        /// An XPUB receives subscriptions: one frame, 1 or 0 and the topic.
        init(_ direction: Direction, _ message: Message, receivedBy type: SocketType) {
            if type == .xpub, message.count == 1, let first = message[0].bytes.first, first <= 1 {
                self.init(direction: direction, kind: first == 1 ? .subscribe : .unsubscribe,
                          message: Message(Frame(message[0].bytes.dropFirst())))
            } else {
                self.init(direction: direction, kind: .message, message: message)
            }
        }

        public var description: String {
            "\(direction == .frontendToBackend ? "frontend>backend" : "backend>frontend") \(kind) \(message.count) frame(s)"
        }
    }

    /// Whether a proxy between these types forwards anything, either way.
    public static func passesMessages(between frontend: SocketType, and backend: SocketType) -> Bool {
        (frontend.canReceive && backend.canSend) || (backend.canReceive && frontend.canSend)
    }

    /// Moves messages one way. A receive or send timeout set on either socket does not end the
    /// proxy (libzmq's proxy polls, so its timeouts never apply); the message in hand is kept.
    private static func forward(from: ZMQSocket, to: ZMQSocket, capture: ZMQSocket?, steering: Steering,
                                trace: (AsyncStream<Passage>.Continuation, Passage.Direction)?) async throws {
        do {
            while true {
                let message = try await retryingTimeouts { try await from.receive() }
                steering.count(message, receivedBy: from)
                if let (trace, direction) = trace { trace.yield(Passage(direction, message, receivedBy: from.type)) }
                // Paused: the message in hand waits with the rest.
                try await steering.whileRunning()
                if let capture { try await retryingTimeouts { try await capture.send(message) } }
                try await retryingTimeouts { try await to.send(message) }
                steering.count(message, sentBy: to)
            }
        } catch ZMQError.socketClosed {
            return
        }
    }

    /// Serves the control socket until TERMINATE (or it closes).
    private static func steer(_ control: ZMQSocket, _ steering: Steering) async throws {
        do {
            while true {
                let command = try await retryingTimeouts { try await control.receive() }
                let name = command.count == 1 ? command[0].string : nil
                if name == "STATISTICS" {
                    let counters = steering.counters
                    try await control.send(Message(counters.map { value in withUnsafeBytes(of: value.littleEndian) { Frame(Array($0)) } }))
                    continue
                }
                switch name {
                case "PAUSE": steering.pause()
                case "RESUME": steering.resume()
                case "TERMINATE": steering.terminate()
                default: break
                }
                if control.type == .rep { try await control.send(Frame()) }
                if name == "TERMINATE" { return }
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

    /// What the control socket changes and reads: paused or not, and the eight counters.
    final class Steering: Sendable {
        private struct State {
            var paused = false
            var terminated = false
            var waiting: [CheckedContinuation<Void, Never>] = []
            /// Frames and octets: frontend received, frontend sent, backend received, backend sent.
            var counters = [UInt64](repeating: 0, count: 8)
        }
        private let state = Mutex(State())
        private let frontend: ZMQSocket

        init(frontend: ZMQSocket) {
            self.frontend = frontend
        }

        var counters: [UInt64] { state.withLock { $0.counters } }

        func count(_ message: Message, receivedBy socket: ZMQSocket) {
            add(message, at: socket === frontend ? 0 : 4)
        }

        func count(_ message: Message, sentBy socket: ZMQSocket) {
            add(message, at: socket === frontend ? 2 : 6)
        }

        /// libzmq counts every frame of a multipart message.
        private func add(_ message: Message, at index: Int) {
            let octets = message.reduce(0) { $0 + UInt64($1.count) }
            state.withLock { state in
                state.counters[index] &+= UInt64(message.count)
                state.counters[index + 1] &+= octets
            }
        }

        func pause() {
            state.withLock { $0.paused = true }
        }

        func resume() {
            let waiting = state.withLock { state in
                state.paused = false
                defer { state.waiting.removeAll() }
                return state.waiting
            }
            waiting.forEach { $0.resume() }
        }

        func terminate() {
            let waiting = state.withLock { state in
                state.terminated = true
                defer { state.waiting.removeAll() }
                return state.waiting
            }
            waiting.forEach { $0.resume() }
        }

        /// Returns at once while running; while paused, once resumed. Throws once terminated.
        func whileRunning() async throws(ZMQError) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if !state.paused || state.terminated { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
            if state.withLock({ $0.terminated }) { throw ZMQError.cancelled }
        }
    }
}

extension SocketType {
    /// Whether a socket of this type may receive messages at all.
    var canReceive: Bool { traits.receives }
    /// Whether a socket of this type may send messages at all.
    var canSend: Bool { traits.sends }
}
