import ZMQ

/// What a reliability component did, for logs, metrics and tests: a worker joined or expired, a
/// request was forwarded, retried, answered or given up.
///
///     var queue = PirateQueue(frontend: "tcp://*:5555", backend: "tcp://*:5556")
///     queue.onEvent = { event in print(event) }   // workerReady tcp worker 0x7f…
public struct PatternEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened; a struct so that kinds can be added without breaking a `switch`.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ name: String) { description = name }

        /// A worker joined: it said READY, or a worker not known yet was heard from.
        public static let workerReady = Kind("workerReady")
        /// A worker was silent for its liveness and is forgotten; nothing more is sent to it.
        public static let workerExpired = Kind("workerExpired")
        /// A worker left (said DISCONNECT, or could not be reached) and is forgotten.
        public static let workerLost = Kind("workerLost")
        /// A request went to a worker.
        public static let requestForwarded = Kind("requestForwarded")
        /// No ready worker could take a request, their queues being full: the queue keeps it and
        /// offers it again, reading no other request meanwhile.
        public static let requestHeld = Kind("requestHeld")
        /// A reply went back to its client.
        public static let replyForwarded = Kind("replyForwarded")
        /// A client sent its request again, on a fresh socket, after no reply came in time.
        public static let requestRetried = Kind("requestRetried")
        /// A client got the reply to its request.
        public static let requestAnswered = Kind("requestAnswered")
        /// A client gave up on a request after its last attempt.
        public static let requestAbandoned = Kind("requestAbandoned")
        /// A reply that belongs to an earlier, abandoned request was discarded.
        public static let staleReplyDiscarded = Kind("staleReplyDiscarded")
        /// A worker heard nothing from its queue for its liveness and dials again after `delay`.
        public static let reconnecting = Kind("reconnecting")
        /// A request waits at the broker for a worker of its service.
        public static let requestQueued = Kind("requestQueued")
        /// A request waited longer than the broker keeps requests, and was dropped.
        public static let requestExpired = Kind("requestExpired")
        /// A request was turned away: its service already had as many waiting as the broker keeps.
        public static let requestRefused = Kind("requestRefused")
        /// A worker was told to go (DISCONNECT): it broke the protocol or asked for an `mmi.` service.
        public static let workerDisconnected = Kind("workerDisconnected")
        /// Titanic stored a request (and acknowledged it to its client).
        public static let requestStored = Kind("requestStored")
        /// Titanic stored the reply to a request: its answer for good.
        public static let replyStored = Kind("replyStored")
        /// Titanic could not read or write its store while dispatching a request, and tries again.
        public static let storeFailed = Kind("storeFailed")
        /// Titanic forgot a request and its reply (`titanic.close`).
        public static let requestClosed = Kind("requestClosed")
    }

    public let kind: Kind
    /// The worker concerned, by its routing id at the queue.
    public var worker: [UInt8]?
    /// The service concerned (Majordomo).
    public var service: String?
    /// The attempt a request is on (1 for the first).
    public var attempt: Int?
    /// How long until the next try (`reconnecting`).
    public var delay: Duration?
    /// The request concerned, by its Titanic id.
    public var request: String?

    public init(_ kind: Kind, worker: [UInt8]? = nil, service: String? = nil, attempt: Int? = nil, delay: Duration? = nil, request: String? = nil) {
        self.kind = kind
        self.worker = worker
        self.service = service
        self.attempt = attempt
        self.delay = delay
        self.request = request
    }

    public var description: String {
        var text = "\(kind)"
        if let request { text += " request \(request)" }
        if let service { text += " service \(service)" }
        if let worker { text += " worker 0x" + worker.map { String($0, radix: 16).leftPadded(to: 2) }.joined() }
        if let attempt { text += " attempt \(attempt)" }
        if let delay { text += " in \(delay)" }
        return text
    }
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

/// Handlers of reliability components: an observer of their events.
public typealias PatternEventHandler = @Sendable (PatternEvent) -> Void
