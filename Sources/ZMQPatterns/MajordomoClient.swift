import ZMQ

/// A Majordomo client (7/MDP 0.1 or 18/MDP 0.2) that sends requests by service name and retries
/// them Lazy Pirate style: it waits `timeout` for the reply and, when none comes, sends again on
/// a fresh socket, `attempts` times in all, then throws `.noReply`. In 0.2 the PARTIAL replies
/// of a request are collected and returned with the FINAL one, in order.
///
/// By default it is the synchronous client: one request at a time, concurrent calls waiting
/// their turn. With `maxInFlight` above one it is the asynchronous client: that many requests
/// travel at once, each on a socket of its own (MDP replies carry no request id, so a socket is
/// what tells them apart), and calls beyond that wait.
///
///     let client = MajordomoClient(context, connectingTo: "tcp://localhost:5555")
///     let reply = try await client.request(service: "echo", ["hello"])
///
///     let pipelined = MajordomoClient(context, connectingTo: "tcp://localhost:5555", maxInFlight: 16)
///     let replies = try await withThrowingTaskGroup(of: Message.self) { group in … }
///
/// Made with `failingOver(between:in:)`, it is the client of a Binary Star pair of brokers
/// (`MajordomoBroker.pair`): each attempt goes to one of them, the one that answered last first,
/// and after a timeout the next in turn.
public actor MajordomoClient {
    public let version: MajordomoVersion
    public let retry: RetryPolicy
    public let maxInFlight: Int
    private let context: ZMQContext
    private let endpoints: [String]
    /// The broker that answered last: the next request's first attempt goes there.
    private var current = 0
    private let options: [SocketOption]
    private let onEvent: EventHandler<RequestEvent>
    private let turns: Turns
    /// Lanes not in use; at most `maxInFlight` exist.
    private var idle: [RequestLane] = []

    public init(
        _ context: ZMQContext, connectingTo endpoint: String, version: MajordomoVersion = .v02, retry: RetryPolicy = .lazyPirate,
        maxInFlight: Int = 1, options: [SocketOption] = [], onEvent: @escaping EventHandler<RequestEvent> = { _ in }
    ) {
        self.init(context, failingOverBetween: [endpoint], version: version, retry: retry, maxInFlight: maxInFlight, options: options,
                  onEvent: onEvent)
    }

    /// A client of the brokers at `endpoints`, one attempt on each in turn: the client of a
    /// Binary Star pair of brokers. Give it enough attempts to outlast a failover: the pair's two
    /// heartbeats, then the workers' liveness before they move over.
    public static func failingOver(
        between endpoints: [String], in context: ZMQContext, version: MajordomoVersion = .v02,
        retry: RetryPolicy = RetryPolicy(timeout: .milliseconds(2500), attempts: 10), maxInFlight: Int = 1,
        options: [SocketOption] = [], onEvent: @escaping EventHandler<RequestEvent> = { _ in }
    ) -> MajordomoClient {
        MajordomoClient(context, failingOverBetween: endpoints, version: version, retry: retry, maxInFlight: maxInFlight,
                        options: options, onEvent: onEvent)
    }

    private init(
        _ context: ZMQContext, failingOverBetween endpoints: [String], version: MajordomoVersion, retry: RetryPolicy,
        maxInFlight: Int, options: [SocketOption], onEvent: @escaping EventHandler<RequestEvent>
    ) {
        precondition(maxInFlight >= 1, "at least one request must be able to travel")
        precondition(!endpoints.isEmpty, "a client needs a broker")
        self.context = context
        self.endpoints = endpoints
        self.version = version
        self.retry = retry
        self.maxInFlight = maxInFlight
        self.options = options
        self.onEvent = onEvent
        turns = Turns(capacity: maxInFlight)
    }

    /// A client that makes `attempts` attempts of `timeout` each.
    public init(
        _ context: ZMQContext, connectingTo endpoint: String, version: MajordomoVersion = .v02, timeout: Duration,
        attempts: Int = 3, maxInFlight: Int = 1, options: [SocketOption] = [], onEvent: @escaping EventHandler<RequestEvent> = { _ in }
    ) {
        self.init(context, connectingTo: endpoint, version: version, retry: RetryPolicy(timeout: timeout, attempts: attempts),
                  maxInFlight: maxInFlight, options: options, onEvent: onEvent)
    }

    /// The FINAL reply to `body` from `service`. Throws `.noReply` after the last attempt.
    public func request(service: String, _ body: Message) async throws -> Message {
        try await requestWithPartials(service: service, body).final
    }

    /// The PARTIAL replies (0.2) and the FINAL reply to `body` from `service`.
    public func requestWithPartials(service: String, _ body: Message) async throws -> (partials: [Message], final: Message) {
        try await turns.take()
        defer { turns.pass() }
        let lane = idle.popLast() ?? RequestLane(context, connectingTo: [endpoints[current]], options: options)
        defer { idle.append(lane) }
        let request = Message(MajordomoClientMessage.request(version, service: service, body: body.frames))
        let version = version
        var attempt = 0
        let first = current
        while retry.allows(attempt: attempt + 1) {
            attempt += 1
            if attempt > 1 { onEvent(RequestEvent(.requestRetried, attempt: attempt, service: service)) }
            let broker = (first + attempt - 1) % endpoints.count
            await lane.retarget([endpoints[broker]])
            let reply = try await lane.exchange(request, timeout: retry.timeout(forAttempt: attempt)) {
                MajordomoClientMessage.verdict(version, service: service, $0)
            }
            if let reply {
                // Unless another request moved on meanwhile (failing over): it knows better.
                if current == first { current = broker }
                onEvent(RequestEvent(.requestAnswered, attempt: attempt, service: service))
                return (reply.partials, reply.answer)
            }
        }
        onEvent(RequestEvent(.requestAbandoned, attempt: attempt, service: service))
        throw ZMQError(code: .noReply, message: "no reply from \(service) after \(retry)", endpoint: endpoints.joined(separator: ", "))
    }

    /// Whether the broker has a worker for `service` (8/MMI `mmi.service`: 200 or 404).
    public func hasService(_ service: String) async throws -> Bool {
        try await request(service: "mmi.service", Message(Frame(service))).first?.string == "200"
    }

    /// Closes the idle sockets; later requests open new ones.
    public func close() async {
        for lane in idle { await lane.close() }
    }
}
