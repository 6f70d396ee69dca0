import Foundation
import ZMQ

/// A Freelance server (10/FLP, the Guide's chapter 4, `flserver3`): a ROUTER that clients address
/// by its public endpoint, which is its routing id. It answers PING with PONG and each request
/// (a control frame, then the body) with the control frame and the handler's reply, so any
/// number of them can serve `FreelanceClient`s without a broker between.
///
///     let server = FreelanceServer(bind: "tcp://*:5555", name: "tcp://host-a:5555")
///     try await server.run(in: context) { request in request }
public struct FreelanceServer: Sendable {
    public var endpoint: String
    /// The name clients know this server by: the endpoint they connect to.
    public var name: String
    public var options: [SocketOption] = []
    /// How many requests the handler works on at once; more wait in the socket's queue (pings
    /// too), so that a flood of requests cannot take the server's memory.
    public var maxConcurrentRequests = 100
    public var onEvent: @Sendable (FreelanceEvent) -> Void = { _ in }

    /// A server bound at `endpoint`, known to clients as `name` (by default the endpoint, with a
    /// `*` host read as `localhost`, as the Guide's `flserver3` names itself).
    public init(bind endpoint: String, name: String? = nil) {
        self.endpoint = endpoint
        self.name = name ?? endpoint.replacingOccurrences(of: "://*:", with: "://localhost:")
    }

    /// Serves requests with `handler` until the task is cancelled.
    public func run(in context: ZMQContext, handler: @escaping @Sendable (Message) async throws -> Message) async throws {
        try Settings.atLeastOne(maxConcurrentRequests, "maxConcurrentRequests")
        let machine = FreelanceServerMachine(bind: endpoint, name: name, options: options, maxConcurrentRequests: maxConcurrentRequests)
        try await PatternRunner(machine, in: context, handler: { request, _ in try await handler(request) }, onEvent: onEvent).run()
    }
}

/// The Freelance client in the Guide's third model (`flcliapi`, 10/FLP): an agent that keeps a
/// ROUTER connected to every server, pings each, and sends each request to the first server
/// alive; a request whose server is lost goes to the next one alive, so losing a server costs a
/// retry, not a failed request. Requests go one at a time, in the order made.
///
///     let client = try await FreelanceClient(context, servers: ["tcp://a:5555", "tcp://b:5555"])
///     let reply = try await client.request(["lookup", "42"])
///
/// Servers must be named by the endpoint the client connects to (`FreelanceServer`'s `name`);
/// one answering under another name is reported (`unknownServer`) and never used. Of the other
/// models, `LazyPirateClient.failingOver(between:settle: .zero)` is the sequential one and
/// `FreelanceShotgunClient` the shotgun one.
public actor FreelanceClient {
    private let api: ZMQSocket
    private let agent: Task<Void, any Error>
    private let requestTimeout: Duration
    private let turns = Turns()
    private var lastID: UInt64 = 0

    /// The Guide's defaults: a ping every 2 s, a server lost after 6 s of silence, 3 s for a
    /// request before it fails.
    public init(_ context: ZMQContext, servers: [String], pingInterval: Duration = .seconds(2), serverTTL: Duration = .seconds(6),
                requestTimeout: Duration = .seconds(3), options: [SocketOption] = [],
                onEvent: @escaping @Sendable (FreelanceEvent) -> Void = { _ in }) async throws {
        precondition(!servers.isEmpty, "a client needs a server")
        try Settings.positive(pingInterval, "pingInterval")
        try Settings.positive(serverTTL, "serverTTL")
        try Settings.positive(requestTimeout, "requestTimeout")
        let endpoint = "inproc://zmqpatterns-freelance-\(UUID().uuidString)"
        let machine = FreelanceAgentMachine(api: endpoint, servers: servers, options: options, pingInterval: pingInterval,
                                            serverTTL: serverTTL, requestTimeout: requestTimeout)
        agent = Task { try await PatternRunner(machine, in: context, onEvent: onEvent).run() }
        // The agent answers every request by its own timeout; a longer silence means it stopped.
        api = try context.socket(.pair, options: [.linger(.zero), .receiveTimeout(requestTimeout + .seconds(2))])
        try await api.connect(endpoint)
        self.requestTimeout = requestTimeout
    }

    /// The reply to `request`; throws `noReply` when no server answered within the request timeout.
    public func request(_ request: Message) async throws -> Message {
        try await turns.take()
        defer { turns.pass() }
        lastID += 1
        let id = Frame(withUnsafeBytes(of: lastID.bigEndian, Array.init))
        try await api.send(Message([id] + request.frames))
        // An answer to an earlier request whose caller was cancelled is passed over.
        var answer: Message
        repeat {
            do {
                answer = try await api.receive()
            } catch ZMQError.timedOut {
                throw ZMQError(code: .noReply, message: "the Freelance client's agent stopped answering")
            }
        } while answer.first != id
        guard answer.count >= 2, answer[1] == FreelanceAgentMachine.ok else {
            throw ZMQError(code: .noReply, message: "no server answered within \(requestTimeout)")
        }
        return Message(Array(answer.frames.dropFirst(2)), metadata: answer.metadata)
    }

    /// Stops the agent and closes its sockets.
    public func close() async {
        agent.cancel()
        _ = await agent.result
        api.close()
    }
}

/// The Freelance client in the Guide's second model ("shotgun", `flclient2`): one DEALER
/// connected to every server, each request sent to all of them at once as REQ would frame it
/// (an empty delimiter, a sequence number, the body), and the first reply that carries the
/// request's sequence number wins; the others, and late answers to earlier requests, are
/// dropped (`replyDropped`). Any REP server answers it (`ReplySocket`, `zmq rep`, the Guide's
/// `flserver2`), replying behind the sequence frame it was given.
///
///     let client = try await FreelanceShotgunClient(context, servers: ["tcp://a:5555", "tcp://b:5555"])
///     let reply = try await client.request(["lookup", "42"])
///
/// The price is duplicate work: every server handles every request, so it suits cheap,
/// idempotent requests where the fastest answer matters. Requests go one at a time.
public actor FreelanceShotgunClient {
    /// How long a request waits for its first reply (the Guide's 2.5 s).
    public let timeout: Duration
    private let servers: [String]
    private let socket: ZMQSocket
    private let onEvent: @Sendable (FreelanceEvent) -> Void
    private let turns = Turns()
    private var sequence: UInt64 = 0

    public init(_ context: ZMQContext, servers: [String], timeout: Duration = .milliseconds(2500), options: [SocketOption] = [],
                onEvent: @escaping @Sendable (FreelanceEvent) -> Void = { _ in }) async throws {
        precondition(!servers.isEmpty, "a client needs a server")
        try Settings.positive(timeout, "timeout")
        self.servers = servers
        self.timeout = timeout
        self.onEvent = onEvent
        socket = try context.socket(.dealer, options: options + [.linger(.zero), .sendTimeout(timeout)])
        do {
            for server in servers { try await socket.connect(server) }
        } catch {
            socket.close()
            throw error
        }
    }

    /// The first reply to `request`; throws `noReply` when no server answered within `timeout`.
    public func request(_ request: Message) async throws -> Message {
        try await turns.take()
        defer { turns.pass() }
        sequence += 1
        let tag = Frame("\(sequence)")
        let copy = Message([Frame(), tag] + request.frames)
        let deadline = ContinuousClock.now + timeout
        // The first copy waits for a server to take it; the rest go to whoever has room now,
        // the DEALER handing each to the next server in turn.
        do {
            try await socket.send(copy)
        } catch ZMQError.timedOut {
            onEvent(FreelanceEvent(.requestTimedOut))
            throw ZMQError(code: .noReply, message: "no server took the request within \(timeout)")
        }
        for _ in servers.dropFirst() {
            do { try socket.trySend(copy) } catch ZMQError.wouldBlock { break }
        }
        while let reply = try await socket.receive(before: deadline) {
            guard reply.count >= 2, reply[0].isEmpty, reply[1] == tag else {
                onEvent(FreelanceEvent(.replyDropped))
                continue
            }
            return Message(Array(reply.frames.dropFirst(2)), metadata: reply.metadata)
        }
        onEvent(FreelanceEvent(.requestTimedOut))
        throw ZMQError(code: .noReply, message: "no server answered within \(timeout)")
    }

    public func close() {
        socket.close()
    }
}
