import ZMQ

/// Lazy Pirate (the Guide, chapter 4): a request client that survives a server that crashes,
/// restarts or loses requests. It sends, waits up to `timeout` for the reply, and when none
/// comes closes its socket (linger zero) and sends again on a fresh one, up to `attempts` times
/// in all; then it throws `ZMQError` with code `.noReply`.
///
/// Every request carries a sequence number as its first envelope frame, as libzmq's REQ does
/// with `ZMQ_REQ_CORRELATE`, so any REP or ROUTER-based server answers it unchanged and a late
/// reply to an abandoned attempt is recognised and dropped, never returned for a newer request.
///
///     let client = LazyPirateClient(context, connectingTo: ["tcp://localhost:5555"])
///     let reply = try await client.request(["lookup", "42"])
///
/// Requests are sent one at a time, in the order they are made (like REQ); concurrent calls wait
/// their turn.
///
/// Made with `failingOver(between:)`, it is the client of a Binary Star pair (the Guide's
/// `bstarcli`) and of the Freelance pattern's first model: each attempt goes to one server, and
/// after a timeout the next attempt goes to the next server in turn, after a settle delay.
public actor LazyPirateClient {
    /// How long to wait for each reply and how many times to send a request before giving up
    /// (the Guide's 3 attempts of 2.5 s).
    public let retry: RetryPolicy
    /// The wait for the first reply.
    public var timeout: Duration { retry.timeout }

    private let endpoints: [String]
    private let onEvent: EventHandler<RequestEvent>
    /// One lane to every endpoint, or (failing over) one lane per endpoint.
    private let lanes: [RequestLane]
    /// Failing over: the wait before an attempt on the next server.
    private let settle: Duration?
    /// Failing over: the lane of the server the next attempt goes to.
    private var current = 0
    private var sequence = UInt32.random(in: 0...UInt32.max)
    private let turns = Turns()

    /// A client of the servers at `endpoints` (requests are spread over those connected), with
    /// `options` set on each socket it makes (security, for instance).
    public init(
        _ context: ZMQContext, connectingTo endpoints: [String], retry: RetryPolicy = .lazyPirate,
        options: [SocketOption] = [], onEvent: @escaping EventHandler<RequestEvent> = { _ in }
    ) {
        self.endpoints = endpoints
        self.retry = retry
        self.onEvent = onEvent
        lanes = [RequestLane(context, connectingTo: endpoints, options: options)]
        settle = nil
    }

    private init(_ context: ZMQContext, failingOverBetween endpoints: [String], retry: RetryPolicy, settle: Duration,
                 options: [SocketOption], onEvent: @escaping EventHandler<RequestEvent>) {
        precondition(!endpoints.isEmpty, "a client needs a server")
        self.endpoints = endpoints
        self.retry = retry
        self.onEvent = onEvent
        lanes = endpoints.map { RequestLane(context, connectingTo: [$0], options: options) }
        self.settle = settle
    }

    /// A client that sends each attempt to one of `endpoints`, the next one in turn after a
    /// timeout, waiting `settle` first: the Binary Star client (the Guide's `bstarcli`: 1 s per
    /// attempt, 2 s to settle, attempts without limit) and the Freelance pattern's sequential
    /// model (no settle delay). The server that answered last gets the next request.
    public static func failingOver(
        between endpoints: [String], in context: ZMQContext, retry: RetryPolicy = RetryPolicy(timeout: .seconds(1), attempts: nil),
        settle: Duration = .seconds(2), options: [SocketOption] = [], onEvent: @escaping EventHandler<RequestEvent> = { _ in }
    ) -> LazyPirateClient {
        LazyPirateClient(context, failingOverBetween: endpoints, retry: retry, settle: settle, options: options, onEvent: onEvent)
    }

    /// A client that makes `attempts` attempts of `timeout` each.
    public init(
        _ context: ZMQContext, connectingTo endpoints: [String], timeout: Duration, attempts: Int = 3,
        options: [SocketOption] = [], onEvent: @escaping EventHandler<RequestEvent> = { _ in }
    ) {
        self.init(context, connectingTo: endpoints, retry: RetryPolicy(timeout: timeout, attempts: attempts), options: options, onEvent: onEvent)
    }

    /// Sends `request` and returns its reply, retrying on a fresh socket when none comes in time.
    /// Throws `.noReply` after the last attempt, and whatever the socket throws (a bad endpoint,
    /// cancellation).
    public func request(_ request: Message) async throws -> Message {
        try await turns.take()
        defer { turns.pass() }
        var attempt = 0
        while retry.allows(attempt: attempt + 1) {
            attempt += 1
            sequence &+= 1
            let id = Frame(withUnsafeBytes(of: sequence.bigEndian, Array.init))
            if attempt > 1 {
                if let settle {
                    current = (current + 1) % lanes.count
                    do { try await Task.sleep(for: settle) } catch { throw ZMQError.cancelled }
                }
                onEvent(RequestEvent(.requestRetried, attempt: attempt))
            }
            let lane = lanes[current]
            // No reply in time closes the socket: the request may sit in a dead server's queue.
            let (onEvent, attempt) = (onEvent, attempt)
            let reply = try await lane.exchange(Message([id, Frame()] + request.frames), timeout: retry.timeout(forAttempt: attempt)) { reply -> RequestLane.Verdict<Message> in
                guard reply.count >= 2, reply[0] == id, reply[1].isEmpty else {
                    onEvent(RequestEvent(.staleReplyDiscarded, attempt: attempt))
                    return .ignore
                }
                return .answer(Message(Array(reply.frames.dropFirst(2)), metadata: reply.metadata))
            }
            if let reply {
                onEvent(RequestEvent(.requestAnswered, attempt: attempt))
                return reply.answer
            }
        }
        onEvent(RequestEvent(.requestAbandoned, attempt: attempt))
        throw ZMQError(code: .noReply, message: "no reply after \(retry)", endpoint: endpoints.joined(separator: ", "))
    }

    /// Closes the sockets; a later request opens new ones.
    public func close() async {
        for lane in lanes { await lane.close() }
    }
}
