import ZMQ

/// What kind of thing a component of type `Event` reports: a name, so that new kinds (a
/// component's, or an application's own machine's) can be added without breaking a `switch`.
/// Each component's kinds are static members: `PirateQueueEvent.Kind.workerReady`.
public struct EventKind<Event>: Hashable, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ name: String) { description = name }
}

/// An observer of a component's events, for logs, metrics and tests. It is called on the
/// component's loop, which for most components runs on a socket's I/O thread: keep it short (a
/// counter, a log line, a stream's `yield`) and hand slow work to a task of its own.
public typealias EventHandler<Event> = @Sendable (Event) -> Void

/// An event a component reports: a kind of its own, and what that kind concerns. Every
/// component's event type is one, so one log or counter can take any of them.
public protocol ComponentEvent: Sendable, CustomStringConvertible {
    var kind: EventKind<Self> { get }
}

/// What a Pirate queue (`PirateQueue`) did with its workers and requests.
///
///     var queue = PirateQueue(frontend: "tcp://*:5555", backend: "tcp://*:5556")
///     queue.onEvent = { event in print(event) }   // workerReady worker 0x007f…
public struct PirateQueueEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<PirateQueueEvent>

    public let kind: Kind
    /// The worker concerned, by its routing id at the queue.
    public let worker: [UInt8]?

    public init(_ kind: Kind, worker: [UInt8]? = nil) {
        self.kind = kind
        self.worker = worker
    }

    public var description: String { describe(kind, ("worker", worker.map(hex))) }
}

extension EventKind where Event == PirateQueueEvent {
    /// A worker joined: it said READY, or a worker not known yet was heard from.
    public static var workerReady: Self { Self("workerReady") }
    /// A worker was silent for its liveness and is forgotten; nothing more is sent to it.
    public static var workerExpired: Self { Self("workerExpired") }
    /// A worker could not be reached and is forgotten.
    public static var workerLost: Self { Self("workerLost") }
    /// A request went to a worker.
    public static var requestForwarded: Self { Self("requestForwarded") }
    /// No ready worker could take a request, their queues being full: the queue keeps it and
    /// offers it again, reading no other request meanwhile.
    public static var requestHeld: Self { Self("requestHeld") }
    /// A reply went back to its client.
    public static var replyForwarded: Self { Self("replyForwarded") }
}

/// What a Majordomo broker (`MajordomoBroker`) did with its workers and requests.
public struct MajordomoBrokerEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<MajordomoBrokerEvent>

    public let kind: Kind
    /// The worker concerned, by its routing id at the broker.
    public var worker: [UInt8]? { workerID?.bytes }
    /// The service concerned.
    public let service: String?
    /// Kept as the frame it arrived in: the broker reports several events a request, and
    /// making an array of each routing id would cost more than the rest of the event.
    private let workerID: Frame?

    public init(_ kind: Kind, worker: [UInt8]? = nil, service: String? = nil) {
        self.init(kind, workerID: worker.map { Frame($0) }, service: service)
    }

    init(_ kind: Kind, workerID: Frame?, service: String? = nil) {
        self.kind = kind
        self.workerID = workerID
        self.service = service
    }

    public var description: String { describe(kind, ("service", service), ("worker", worker.map(hex))) }
}

extension EventKind where Event == MajordomoBrokerEvent {
    /// A worker said READY for its service.
    public static var workerReady: Self { Self("workerReady") }
    /// A worker was silent for its liveness and is forgotten; its request goes to another.
    public static var workerExpired: Self { Self("workerExpired") }
    /// A worker said DISCONNECT and is forgotten; its request goes to another.
    public static var workerLost: Self { Self("workerLost") }
    /// A worker was told to go (DISCONNECT): it broke the protocol or asked for an `mmi.` service.
    public static var workerDisconnected: Self { Self("workerDisconnected") }
    /// A request waits for a worker of its service.
    public static var requestQueued: Self { Self("requestQueued") }
    /// A request went to a worker.
    public static var requestForwarded: Self { Self("requestForwarded") }
    /// A worker's final reply went back to its client.
    public static var replyForwarded: Self { Self("replyForwarded") }
    /// A request waited longer than the broker keeps requests, and was dropped.
    public static var requestExpired: Self { Self("requestExpired") }
    /// A request was turned away: its service already had as many waiting as the broker keeps.
    public static var requestRefused: Self { Self("requestRefused") }
}

/// What a worker (`PirateWorker`, `MajordomoWorker`) did about its queue or broker.
public struct WorkerEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<WorkerEvent>

    public let kind: Kind
    /// The service it serves (Majordomo).
    public let service: String?
    /// The endpoint it dials next (`reconnecting`).
    public let endpoint: String?
    /// How long until it dials (`reconnecting`).
    public let delay: Duration?

    public init(_ kind: Kind, service: String? = nil, endpoint: String? = nil, delay: Duration? = nil) {
        self.kind = kind
        self.service = service
        self.endpoint = endpoint
        self.delay = delay
    }

    public var description: String {
        describe(kind, ("service", service), ("to", endpoint), ("in", delay.map { "\($0)" }))
    }
}

extension EventKind where Event == WorkerEvent {
    /// The queue or broker went silent for the worker's liveness, or said DISCONNECT: the
    /// worker closes its socket and dials `endpoint` after `delay`.
    public static var reconnecting: Self { Self("reconnecting") }
}

/// What a request client (`LazyPirateClient`, `MajordomoClient`, `TitanicClient`) did with a request.
public struct RequestEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<RequestEvent>

    public let kind: Kind
    /// The attempt the request is on (1 for the first).
    public let attempt: Int?
    /// The service asked (Majordomo).
    public let service: String?

    public init(_ kind: Kind, attempt: Int? = nil, service: String? = nil) {
        self.kind = kind
        self.attempt = attempt
        self.service = service
    }

    public var description: String { describe(kind, ("service", service), ("attempt", attempt.map { "\($0)" })) }
}

extension EventKind where Event == RequestEvent {
    /// No reply came in time: the request goes again, on a fresh socket (to the next server,
    /// failing over).
    public static var requestRetried: Self { Self("requestRetried") }
    /// The reply came.
    public static var requestAnswered: Self { Self("requestAnswered") }
    /// No reply after the last attempt: the client gives up (`noReply`).
    public static var requestAbandoned: Self { Self("requestAbandoned") }
    /// A reply that belongs to an earlier, abandoned request was discarded.
    public static var staleReplyDiscarded: Self { Self("staleReplyDiscarded") }
}

/// What Titanic (`Titanic`) did with a stored request.
public struct TitanicEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<TitanicEvent>

    public let kind: Kind
    /// The request, by its Titanic id.
    public let request: String?
    /// The service it is for.
    public let service: String?
    /// How many times it has been sent to its service (1 for the first).
    public let attempt: Int?

    public init(_ kind: Kind, request: String? = nil, service: String? = nil, attempt: Int? = nil) {
        self.kind = kind
        self.request = request
        self.service = service
        self.attempt = attempt
    }

    public var description: String {
        describe(kind, ("request", request), ("service", service), ("attempt", attempt.map { "\($0)" }))
    }
}

extension EventKind where Event == TitanicEvent {
    /// A request was stored, and acknowledged to its client.
    public static var requestStored: Self { Self("requestStored") }
    /// A stored request went to its service.
    public static var requestForwarded: Self { Self("requestForwarded") }
    /// A stored request went to its service again: no reply came in time.
    public static var requestRetried: Self { Self("requestRetried") }
    /// A request's reply was stored: its answer for good.
    public static var replyStored: Self { Self("replyStored") }
    /// The store could not be read or written while dispatching a request, and is tried again.
    public static var storeFailed: Self { Self("storeFailed") }
    /// A request and its reply were forgotten (`titanic.close`).
    public static var requestClosed: Self { Self("requestClosed") }
    /// A pending request was taken up: left by an earlier run, or held by another Titanic sharing
    /// the store that stopped renewing its hold or let go of it.
    public static var requestTakenUp: Self { Self("requestTakenUp") }
}

/// "kind name value name value": an event as logs print it, leaving out what it does not say.
func describe<Event>(_ kind: EventKind<Event>, _ fields: (String, String?)...) -> String {
    ([kind.description] + fields.compactMap { name, value in value.map { "\(name) \($0)" } }).joined(separator: " ")
}

/// Octets as `0x…` hex.
func hex(_ octets: [UInt8]) -> String {
    "0x" + octets.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension ZMQError.Code {
    /// A request got no reply after every attempt (Lazy Pirate).
    public static let noReply = ZMQError.Code("noReply")
}

extension ZMQError.Code {
    /// A service answered that it failed (Titanic's 500, a reply that makes no sense): trying
    /// again later may succeed.
    public static let serviceFailed = ZMQError.Code("serviceFailed")
    /// Titanic does not know the request id (400): never submitted, or closed. Do not retry.
    public static let unknownRequest = ZMQError.Code("unknownRequest")
}

extension ZMQError {
    /// Matches any `noReply` error: `catch ZMQError.noReply { … }`.
    public static let noReply = ZMQError(code: .noReply, message: "no reply")
}

