import Foundation
import Synchronization
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
    public var onEvent: EventHandler<FreelanceEvent> = { _ in }

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
    /// Why the agent stopped, if it did (a server endpoint that does not parse, for one).
    private let agentFailure: AgentFailure
    private let requestTimeout: Duration
    private let turns = Turns()
    private var lastID: UInt64 = 0

    /// The Guide's defaults: a ping every 2 s, a server lost after 6 s of silence, 3 s for a
    /// request before it fails.
    public init(_ context: ZMQContext, servers: [String], pingInterval: Duration = .seconds(2), serverTTL: Duration = .seconds(6),
                requestTimeout: Duration = .seconds(3), options: [SocketOption] = [],
                onEvent: @escaping EventHandler<FreelanceEvent> = { _ in }) async throws {
        precondition(!servers.isEmpty, "a client needs a server")
        try Settings.positive(pingInterval, "pingInterval")
        try Settings.positive(serverTTL, "serverTTL")
        try Settings.positive(requestTimeout, "requestTimeout")
        let endpoint = "inproc://zmqpatterns-freelance-\(UUID().uuidString)"
        let machine = FreelanceAgentMachine(api: endpoint, servers: servers, options: options, pingInterval: pingInterval,
                                            serverTTL: serverTTL, requestTimeout: requestTimeout)
        // The agent answers every request by its own timeout; a longer silence means it stopped.
        api = try context.socket(.pair, options: [.linger(.zero), .receiveTimeout(requestTimeout + .seconds(2))])
        let failure = AgentFailure()
        agentFailure = failure
        agent = Task {
            do {
                try await PatternRunner(machine, in: context, onEvent: onEvent).run()
            } catch {
                failure.error.withLock { $0 = error }
                throw error
            }
        }
        do {
            try await api.connect(endpoint)
        } catch {
            agent.cancel()
            api.close()
            throw error
        }
        self.requestTimeout = requestTimeout
    }

    /// The reply to `request`; throws `noReply` when no server answered within the request timeout.
    public func request(_ request: Message) async throws -> Message {
        try await turns.take()
        defer { turns.pass() }
        if let failed = agentFailure.error.withLock({ $0 }) { throw failed }
        lastID += 1
        let id = Frame(withUnsafeBytes(of: lastID.bigEndian, Array.init))
        try await api.send(Message([id] + request.frames))
        // An answer to an earlier request whose caller was cancelled is passed over.
        var answer: Message
        repeat {
            do {
                answer = try await api.receive()
            } catch ZMQError.timedOut {
                throw agentFailure.error.withLock { $0 } ?? ZMQError(code: .noReply, message: "the Freelance client's agent stopped answering")
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

/// Why a Freelance client's agent stopped.
final class AgentFailure: Sendable {
    let error = Mutex<(any Error)?>(nil)
}

/// The Freelance client in the Guide's second model ("shotgun", `flclient2`): each request goes
/// to every server at once, framed as REQ would frame it (an empty delimiter, a sequence
/// number, the body), and the first reply that carries the request's sequence number wins; the
/// others, and late answers to earlier requests, are dropped (`replyDropped`).
///
/// The servers are REP servers that answer behind the sequence frame, as the Guide's
/// `flserver2` does: the reply's first frame is the request's first frame. A server that echoes
/// the request (`zmq rep` without `--reply`, a `ReplySocket` that returns what it got) does that;
/// one that answers with frames of its own only (`zmq rep --reply OK`) does not, and its replies
/// are dropped.
///
///     let client = try await FreelanceShotgunClient(context, servers: ["tcp://a:5555", "tcp://b:5555"])
///     let reply = try await client.request(["lookup", "42"])
///
/// The price is duplicate work: every server handles every request, so it suits cheap,
/// idempotent requests where the fastest answer matters. Each server gets one copy, on a DEALER
/// of its own; a server that is down holds at most a couple of copies until it is back, and its
/// share of later requests is skipped meanwhile. Requests go one at a time.
public actor FreelanceShotgunClient {
    /// How long a request waits for its first reply (the Guide's 2.5 s).
    public let requestTimeout: Duration
    /// One socket per server, so that each gets exactly one copy.
    private let sockets: [ZMQSocket]
    private let onEvent: EventHandler<FreelanceEvent>
    private let turns = Turns()
    private var sequence: UInt64 = 0

    /// How many copies may wait for a server that is not there; more are not sent to it.
    static let queuedPerServer = 2

    public init(_ context: ZMQContext, servers: [String], requestTimeout: Duration = .milliseconds(2500), options: [SocketOption] = [],
                onEvent: @escaping EventHandler<FreelanceEvent> = { _ in }) async throws {
        precondition(!servers.isEmpty, "a client needs a server")
        try Settings.positive(requestTimeout, "requestTimeout")
        self.requestTimeout = requestTimeout
        self.onEvent = onEvent
        var sockets: [ZMQSocket] = []
        do {
            for server in servers {
                let socket = try context.socket(.dealer, options: options + [.linger(.zero), .sendHighWaterMark(Self.queuedPerServer)])
                sockets.append(socket)
                try await socket.connect(server)
            }
        } catch {
            for socket in sockets { socket.close() }
            throw error
        }
        self.sockets = sockets
    }

    /// The first reply to `request`; throws `noReply` when no server answered within `requestTimeout`.
    public func request(_ request: Message) async throws -> Message {
        try await turns.take()
        defer { turns.pass() }
        sequence += 1
        let tag = Frame("\(sequence)")
        let copy = Message([Frame(), tag] + request.frames)
        // A copy to every server that can take one now: a server whose queue is full is passed over.
        for socket in sockets { try? socket.trySend(copy) }
        let deadline = ContinuousClock.now + requestTimeout
        var poller = ZMQPoller()
        for socket in sockets { poller.register(socket) }
        while case let left = deadline - .now, left > .zero {
            for item in try await poller.poll(timeout: left) {
                while let reply = try? item.socket.tryReceive() {
                    guard reply.count >= 2, reply[0].isEmpty, reply[1] == tag else {
                        onEvent(FreelanceEvent(.replyDropped))
                        continue
                    }
                    return Message(Array(reply.frames.dropFirst(2)), metadata: reply.metadata)
                }
            }
        }
        onEvent(FreelanceEvent(.requestTimedOut))
        throw ZMQError(code: .noReply, message: "no server answered within \(requestTimeout)")
    }

    public func close() {
        for socket in sockets { socket.close() }
    }
}
