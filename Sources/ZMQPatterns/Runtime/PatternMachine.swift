import ZMQ

/// A pattern's logic as a value, run by `PatternRunner`: what happens goes in (a message on one
/// of its sockets, a send its socket refused, the clock reaching a time it asked for), and what
/// to do comes out as actions (open or close a socket, send, report an event). It does no I/O
/// and reads no clock, so its tests give it messages and instants of their own.
///
/// A new pattern is a machine like this, and at most a small shell that configures it and hands
/// it to the runner.
public protocol PatternMachine {
    /// What the pattern tells the application (workers joining, requests forwarded …).
    associatedtype Event: Sendable

    /// What to do first: the sockets to open, at least.
    mutating func start(now: ContinuousClock.Instant) -> [PatternAction<Event>]

    /// A message arrived on `socket`.
    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [PatternAction<Event>]

    /// `socket` could not take `message` now: `error.code` is `.wouldBlock` (the peer's queue is
    /// full) or `.unroutable` (a ROUTER with `routerMandatory` has no such peer). What the
    /// machine returns is done before the rest of the actions the send was among.
    mutating func sendFailed(_ message: Message, on socket: SocketName, error: ZMQError, now: ContinuousClock.Instant) -> [PatternAction<Event>]

    /// The clock reached `nextDeadline`, or passed it.
    mutating func tick(now: ContinuousClock.Instant) -> [PatternAction<Event>]

    /// The application's handler answered the request of `handle(_:id:)` number `id`: a part of
    /// the answer (a Majordomo PARTIAL) or, with `final`, the whole or last of it.
    mutating func handled(_ reply: Message, id: UInt64, final: Bool, now: ContinuousClock.Instant) -> [PatternAction<Event>]

    /// A connection of `socket` dropped (for a socket opened with `reportsDisconnects`): a
    /// subscriber may have missed messages, and can ask for the state again.
    mutating func disconnected(_ socket: SocketName, now: ContinuousClock.Instant) -> [PatternAction<Event>]

    /// The run is ending (cancelled, or the handler failed): last words, such as a worker's
    /// DISCONNECT, sent before the sockets close.
    mutating func stop(now: ContinuousClock.Instant) -> [PatternAction<Event>]

    /// When `tick` next has something to do; nil when only a message can change anything. It is
    /// read after every batch of input, so it must be cheap to work out.
    var nextDeadline: ContinuousClock.Instant? { get }

    /// Whether to read `socket` now. A queue leaves its clients' requests in their queues while
    /// no worker is ready, so that they wait there rather than in its memory.
    func reads(_ socket: SocketName) -> Bool
}

extension PatternMachine {
    public mutating func sendFailed(_ message: Message, on socket: SocketName, error: ZMQError, now: ContinuousClock.Instant) -> [PatternAction<Event>] { [] }
    public func reads(_ socket: SocketName) -> Bool { true }
    public mutating func handled(_ reply: Message, id: UInt64, final: Bool, now: ContinuousClock.Instant) -> [PatternAction<Event>] { [] }
    public mutating func stop(now: ContinuousClock.Instant) -> [PatternAction<Event>] { [] }
    public mutating func disconnected(_ socket: SocketName, now: ContinuousClock.Instant) -> [PatternAction<Event>] { [] }
}

/// One of a pattern's sockets, by the name its machine gives it.
public struct SocketName: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let description: String

    public init(_ name: String) { description = name }
    public init(stringLiteral name: String) { description = name }
}

/// How to make one of a pattern's sockets.
public struct SocketPlan: Sendable {
    public var type: SocketType
    public var bind: [String]
    public var connect: [String]
    /// Set before it binds or connects. The runner adds a linger of zero unless one is given:
    /// a pattern that stops, or drops a socket, leaves nothing behind.
    public var options: [SocketOption]
    /// SUB: the topic prefixes it subscribes to.
    public var subscriptions: [String]
    /// Whether the machine hears (`disconnected`) each time a connection of this socket drops.
    public var reportsDisconnects = false

    public init(_ type: SocketType, bind: [String] = [], connect: [String] = [], options: [SocketOption] = [],
                subscriptions: [String] = []) {
        self.type = type
        self.bind = bind
        self.connect = connect
        self.options = options
        self.subscriptions = subscriptions
    }
}

extension SocketPlan {
    /// The socket as planned: made with `extra` options and then the plan's own (which win), a
    /// linger of zero unless one is given, subscribed, bound and connected; closed again if any
    /// step fails.
    func open(in context: ZMQContext, adding extra: [SocketOption] = []) async throws -> ZMQSocket {
        let options = extra + self.options
        let lingers = options.contains { $0.name == "linger" }
        let socket = try context.socket(type, options: (lingers ? [] : [.linger(.zero)]) + options)
        do {
            for topic in subscriptions { try socket.subscribe(topic) }
            for endpoint in bind { _ = try await socket.bind(endpoint) }
            for endpoint in connect { try await socket.connect(endpoint) }
        } catch {
            socket.close()
            throw error
        }
        return socket
    }
}

/// What a pattern machine asks its runner to do.
public enum PatternAction<Event: Sendable>: Sendable {
    /// Opens a socket as planned, in place of any socket of that name (which is closed).
    /// A bind that fails ends the run with its error.
    case open(SocketName, SocketPlan)
    /// Closes a socket. What it still queues is dropped, or with a `linger` given, still sent
    /// for that long in the background.
    case close(SocketName, linger: Duration = .zero)
    /// Sends without waiting; if the socket refuses, the machine hears `sendFailed`. When it
    /// goes, `report` (if any) is reported: an event that is only true once the send is done.
    case send(Message, on: SocketName, report: Event? = nil)
    /// Sends `messages` in order without waiting, and stops at the first the socket refuses:
    /// the machine hears `sendFailed` for that one, and the ones after it are not sent. For a
    /// stream with no room for a gap (a snapshot); `report` is reported once all have gone.
    case sendInOrder([Message], on: SocketName, report: Event? = nil)
    /// Hands a request to the application's handler, which runs while the machine goes on (a
    /// worker keeps heartbeating); its answer comes back through `handled` with the same `id`.
    case handle(Message, id: UInt64)
    /// Tells the application.
    case report(Event)
    /// Ends the run with `error`, after the machine's last words (`stop`): a fault the pattern
    /// cannot go on from.
    case fail(ZMQError)
    /// Runs `work` to its end before the actions after it: a change written to a store before
    /// it is published. Work that throws ends the run with its error, as `fail` does.
    case perform(PatternWork)
}

/// Work a machine asks its runner to wait for (a write to a store), with what it is for logs
/// and tests. The machine makes it and the runner runs it, so the machine itself does no I/O.
public struct PatternWork: Sendable, CustomStringConvertible {
    public let description: String
    public let run: @Sendable () async throws -> Void

    public init(_ description: String, _ run: @escaping @Sendable () async throws -> Void) {
        self.description = description
        self.run = run
    }
}

extension PatternAction {
    /// The message, if this is a send, and the socket it goes on.
    public var sent: (message: Message, socket: SocketName)? {
        if case .send(let message, let socket, _) = self { (message, socket) } else { nil }
    }

    /// The messages this sends (one or several, in order), with the socket they go on.
    public var sends: [(message: Message, socket: SocketName)] {
        switch self {
        case .send(let message, let socket, _): [(message, socket)]
        case .sendInOrder(let messages, let socket, _): messages.map { ($0, socket) }
        default: []
        }
    }

    /// The event this reports now, or once its send is done.
    public var event: Event? {
        switch self {
        case .report(let event): event
        case .send(_, _, let report), .sendInOrder(_, _, let report): report
        default: nil
        }
    }
}
