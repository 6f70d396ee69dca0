import DequeModule
import Foundation
import ZMQ

/// What a Freelance server or client tells the application.
public struct FreelanceEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<FreelanceEvent>

    public let kind: Kind
    /// The server concerned, by its name (its public endpoint).
    public let server: String?
    public let attempt: Int?

    public init(_ kind: Kind, server: String? = nil, attempt: Int? = nil) {
        self.kind = kind
        self.server = server
        self.attempt = attempt
    }

    public var description: String {
        "\(kind)" + (server.map { " \($0)" } ?? "") + (attempt.map { " attempt \($0)" } ?? "")
    }
}

extension EventKind where Event == FreelanceEvent {
    /// A server answered a ping or a request for the first time, or again after it was lost.
    public static var serverAlive: Self { Self("serverAlive") }
    /// A server missed its pings for the server TTL: no request goes to it until it answers.
    public static var serverLost: Self { Self("serverLost") }
    /// A request went to a server, again after its server was lost (`attempt` above 1).
    public static var requestSent: Self { Self("requestSent") }
    /// No server answered a request within its timeout.
    public static var requestTimedOut: Self { Self("requestTimedOut") }
    /// A reply that is not the answer to the request waiting was dropped: in the shotgun
    /// model, the slower servers' answers to a request already answered.
    public static var replyDropped: Self { Self("replyDropped") }
    /// A message that breaks 10/FLP was dropped: a request of fewer than two frames at a
    /// server, a reply with a missing or unknown control frame at a client.
    public static var malformed: Self { Self("malformed") }
    /// A server answered under a name the client was not given: its routing id is not the
    /// endpoint the client connected to (10/FLP: servers are named by their public endpoint).
    public static var unknownServer: Self { Self("unknownServer") }
}

/// 10/FLP's commands.
enum FreelanceCommand {
    static let ping = Frame("PING")
    static let pong = Frame("PONG")
}

/// A Freelance server (10/FLP) as a machine: a ROUTER whose routing id is its public endpoint,
/// answering PING with PONG and each request (a control frame, then the body) with the control
/// frame unchanged and the handler's reply.
struct FreelanceServerMachine: PatternMachine {
    typealias Event = FreelanceEvent
    typealias Action = PatternAction<FreelanceEvent>

    static let socket: SocketName = "server"

    let plan: SocketPlan
    /// How many requests may be with the handler at once; beyond, the socket is not read, and
    /// requests wait in its queue (up to its high-water mark) rather than in memory.
    let maxConcurrentRequests: Int
    /// Requests with the handler: the client and control frame each reply goes back behind.
    private(set) var pending: [UInt64: [Frame]] = [:]
    private var lastID: UInt64 = 0
    private(set) var malformed = 0

    init(bind endpoint: String, name: String, options: [SocketOption], maxConcurrentRequests: Int = 100) {
        plan = SocketPlan(.router, bind: [endpoint], options: options + [.routingID(Array(name.utf8))])
        self.maxConcurrentRequests = maxConcurrentRequests
    }

    var nextDeadline: ContinuousClock.Instant? { nil }

    func reads(_ socket: SocketName) -> Bool { pending.count < maxConcurrentRequests }

    mutating func start(now: ContinuousClock.Instant) -> [Action] { [.open(Self.socket, plan)] }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        let frames = message.frames
        if frames.count == 2, frames[1] == FreelanceCommand.ping {
            return [.send(Message([frames[0], FreelanceCommand.pong]), on: Self.socket)]
        }
        guard frames.count >= 3 else {
            malformed += 1
            return [.report(FreelanceEvent(.malformed))]
        }
        lastID += 1
        pending[lastID] = Array(frames[..<2])
        return [.handle(Message(Array(frames[2...]), metadata: message.metadata), id: lastID)]
    }

    mutating func handled(_ reply: Message, id: UInt64, final: Bool, now: ContinuousClock.Instant) -> [Action] {
        guard final, let head = pending.removeValue(forKey: id) else { return [] }
        return [.send(Message(head + reply.frames), on: Self.socket)]
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] { [] }
}

/// The Freelance client's agent (the Guide's third model, flcliapi) as a machine: a ROUTER
/// connected to every server, which it addresses by name (its endpoint); it pings each server
/// every `pingInterval`, counts one alive from its first answer until it has been silent for
/// `serverTTL`, and sends each request to the first server alive, in the order given. A request
/// whose server is lost goes to the next one alive, until the request's own timeout passes.
/// Requests come from the application over an inproc PAIR (`api`), one at a time: an id frame
/// and the body's frames in; the id, then "OK" and the reply's frames or "FAILED", out.
struct FreelanceAgentMachine: PatternMachine {
    typealias Event = FreelanceEvent
    typealias Action = PatternAction<FreelanceEvent>

    static let api: SocketName = "api"
    static let servers: SocketName = "servers"
    static let ok = Frame("OK")
    static let failed = Frame("FAILED")
    /// How soon a ping the ROUTER refused (the server not connected yet) is tried again.
    static let pingRetry = Duration.milliseconds(100)

    struct Server {
        var alive = false
        var pingAt: ContinuousClock.Instant
        var expiry: ContinuousClock.Instant
    }

    struct Request {
        /// The application's id for it, sent back with the answer.
        var apiID: Frame
        var sequence: Frame
        var body: [Frame]
        var deadline: ContinuousClock.Instant
        /// The server it was last sent to, and how many sends it has had.
        var server: String?
        var attempts = 0
    }

    let names: [String]
    let apiPlan: SocketPlan
    let serversPlan: SocketPlan
    let pingInterval: Duration
    let serverTTL: Duration
    let requestTimeout: Duration
    private(set) var servers: [String: Server] = [:]
    private(set) var request: Request?
    private var sequence: UInt64 = 0
    private(set) var malformed = 0

    init(api: String, servers names: [String], options: [SocketOption], pingInterval: Duration, serverTTL: Duration,
         requestTimeout: Duration) {
        self.names = names
        apiPlan = SocketPlan(.pair, bind: [api])
        // Mandatory: a send to a server not connected yet fails at once instead of vanishing.
        serversPlan = SocketPlan(.router, connect: names, options: options + [.routerMandatory(true)])
        self.pingInterval = pingInterval
        self.serverTTL = serverTTL
        self.requestTimeout = requestTimeout
    }

    var nextDeadline: ContinuousClock.Instant? {
        var deadlines = servers.values.map(\.pingAt) + servers.values.filter(\.alive).map(\.expiry)
        if let request { deadlines.append(request.deadline) }
        return deadlines.min()
    }

    /// The API is read only between requests: one at a time.
    func reads(_ socket: SocketName) -> Bool { socket == Self.servers || request == nil }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        for name in names { servers[name] = Server(pingAt: now, expiry: now + serverTTL) }
        return [.open(Self.api, apiPlan), .open(Self.servers, serversPlan)]
    }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        if socket == Self.api {
            guard let apiID = message.first else { return [] }
            sequence += 1
            request = Request(apiID: apiID, sequence: Frame("\(sequence)"), body: Array(message.frames.dropFirst()),
                              deadline: now + requestTimeout)
            return send(now: now)
        }
        guard message.count >= 2, let name = message[0].string else { return malformedReply() }
        guard servers[name] != nil else { return [.report(FreelanceEvent(.unknownServer, server: message[0].string))] }
        var actions = heard(name, now: now)
        if message.count == 2, message[1] == FreelanceCommand.pong { return actions }
        guard message.count >= 3 else { return actions + malformedReply() }
        // A reply to an earlier request (sent again elsewhere, then answered twice) is dropped
        // quietly; a control frame this client never sent is malformed.
        guard let current = request, message[1] == current.sequence else {
            let number = message[1].string.flatMap { UInt64($0) }
            let known = number.map { $0 >= 1 && $0 <= sequence } ?? false
            return known ? actions : actions + malformedReply()
        }
        request = nil
        actions.append(.send(Message([current.apiID, Self.ok] + Array(message.frames[2...]), metadata: message.metadata), on: Self.api))
        return actions
    }

    mutating func sendFailed(_ message: Message, on socket: SocketName, error: ZMQError, now: ContinuousClock.Instant) -> [Action] {
        // Not connected (yet, or any more): a request goes elsewhere, a ping waits its turn.
        guard socket == Self.servers, let name = message.first?.string, servers[name] != nil else { return [] }
        if message.count == 2, message[1] == FreelanceCommand.ping {
            // Not connected yet (the handshake is under way) or no more: ask again soon.
            servers[name]!.pingAt = now + min(Self.pingRetry, pingInterval)
            return []
        }
        var actions: [Action] = []
        if servers[name]!.alive {
            servers[name]!.alive = false
            actions.append(.report(FreelanceEvent(.serverLost, server: name)))
        }
        if request?.server == name {
            request!.server = nil
            return actions + send(now: now)
        }
        return actions
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for name in names {
            guard var server = servers[name] else { continue }
            if server.alive, server.expiry <= now {
                server.alive = false
                actions.append(.report(FreelanceEvent(.serverLost, server: name)))
            }
            if server.pingAt <= now {
                server.pingAt = now + pingInterval
                actions.append(.send(Message([Frame(name), FreelanceCommand.ping]), on: Self.servers))
            }
            servers[name] = server
        }
        if let current = request {
            if current.deadline <= now {
                request = nil
                actions.append(.report(FreelanceEvent(.requestTimedOut, attempt: current.attempts)))
                actions.append(.send(Message([current.apiID, Self.failed]), on: Self.api))
            } else if current.server.map({ servers[$0]?.alive != true }) ?? true {
                actions += send(now: now)
            }
        }
        return actions
    }

    /// Sends the request to the first server alive, unless it is with one already.
    private mutating func send(now: ContinuousClock.Instant) -> [Action] {
        guard var current = request else { return [] }
        guard let name = names.first(where: { servers[$0]?.alive == true }) else {
            current.server = nil
            request = current
            return []
        }
        current.server = name
        current.attempts += 1
        request = current
        return [.send(Message([Frame(name), current.sequence] + current.body), on: Self.servers,
                      report: FreelanceEvent(.requestSent, server: name, attempt: current.attempts))]
    }

    /// Anything from a server shows it is alive.
    private mutating func heard(_ name: String, now: ContinuousClock.Instant) -> [Action] {
        let wasAlive = servers[name]!.alive
        servers[name]!.alive = true
        servers[name]!.expiry = now + serverTTL
        servers[name]!.pingAt = now + pingInterval
        guard !wasAlive else { return [] }
        return [.report(FreelanceEvent(.serverAlive, server: name))] + (request?.server == nil ? send(now: now) : [])
    }

    private mutating func malformedReply() -> [Action] {
        malformed += 1
        return [.report(FreelanceEvent(.malformed))]
    }
}
