import DequeModule
import ZMQ

/// The Majordomo broker (7/MDP, 18/MDP, 8/MMI) as a value: messages from its one ROUTER socket
/// and clock ticks in, messages to send and events out. Clients and workers of every version
/// share the socket; each message says by its first frames which it is. Requests queue per
/// service until a worker of that service is free (the one idle longest), up to
/// `maxQueuedRequests` a service, and expire after `requestExpiry`; workers heartbeat and are
/// forgotten after `liveness` silent intervals, and the request a forgotten worker held goes to
/// another worker first (the RFCs' "resending requests to other workers": MDP workers are
/// idempotent); a worker that breaks the protocol, or answers a request it was not given, is
/// told to DISCONNECT. `mmi.service` answers 200 or 404, other `mmi.` names 501.
struct MajordomoBrokerMachine: PatternMachine {
    typealias Event = MajordomoBrokerEvent
    typealias Action = PatternAction<MajordomoBrokerEvent>

    /// Its one ROUTER, which clients and workers share.
    static let socket: SocketName = "broker"

    struct Worker {
        var service: String
        var version: MajordomoVersion
        var expiry: ContinuousClock.Instant
        /// The request it is working on, sent again to another worker if this one is lost.
        var request: Request?
    }

    struct Request {
        var client: Frame
        /// The version the client spoke: its replies go back in it.
        var version: MajordomoVersion
        var body: [Frame]
        var expiry: ContinuousClock.Instant
    }

    struct Service {
        var requests = Deque<Request>()
        /// Idle workers, idle longest first.
        var waiting: [Frame] = []
        /// Registered workers, idle or busy.
        var workers = 0

        /// Nothing to keep: no worker and no request (a name a client merely mentioned).
        var isUnused: Bool { workers == 0 && requests.isEmpty }
    }

    let heartbeat: Duration
    let liveness: Int
    /// How long a worker lives without a word: `liveness` heartbeats, worked out once.
    private let workerLifetime: Duration
    let requestExpiry: Duration
    let maxQueuedRequests: Int
    let plan: SocketPlan
    private(set) var services: [String: Service] = [:]
    /// By routing id: a frame of up to 32 octets (libzmq's are 5) hashes without allocating.
    private(set) var workers: [Frame: Worker] = [:]
    private var nextHeartbeat: ContinuousClock.Instant
    /// The earliest deadline added since the last tick (a request queued, one expiring sooner
    /// than the next heartbeat), so that the shell need not work out `nextDeadline` per message.
    private(set) var earliestNewDeadline: ContinuousClock.Instant?
    /// `nextDeadline` as the last tick worked it out: worker expiries only move later between
    /// ticks, and a worker that joins expires after the next heartbeat.
    private var tickDeadline: ContinuousClock.Instant

    init(heartbeat: Duration, liveness: Int, requestExpiry: Duration, maxQueuedRequests: Int = 10_000,
         plan: SocketPlan = SocketPlan(.router), now: ContinuousClock.Instant) {
        self.heartbeat = heartbeat
        self.liveness = liveness
        workerLifetime = heartbeat * liveness
        self.requestExpiry = requestExpiry
        self.maxQueuedRequests = maxQueuedRequests
        self.plan = plan
        nextHeartbeat = now + heartbeat
        tickDeadline = nextHeartbeat
    }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        nextHeartbeat = now + heartbeat
        tickDeadline = nextHeartbeat
        return [.open(Self.socket, plan)]
    }

    var nextDeadline: ContinuousClock.Instant? {
        guard let earliestNewDeadline, earliestNewDeadline < tickDeadline else { return tickDeadline }
        return earliestNewDeadline
    }

    /// Every deadline there is: worked out once per tick.
    private var earliestDeadline: ContinuousClock.Instant {
        var earliest = nextHeartbeat
        for worker in workers.values where worker.expiry < earliest { earliest = worker.expiry }
        for service in services.values {
            if let first = service.requests.first, first.expiry < earliest { earliest = first.expiry }
        }
        return earliest
    }

    /// A message from the socket: the sender's routing id, then a client request or a worker command.
    mutating func received(_ message: Message, on socket: SocketName = Self.socket, now: ContinuousClock.Instant) -> [Action] {
        guard message.count >= 2 else { return [] }
        let sender = message[0]
        let frames = message.frames[1...]
        if let (version, command) = MajordomoCommand.parse(frames) {
            return fromWorker(sender, version, command, now: now)
        }
        if let (version, service, body) = MajordomoClientMessage.parseRequest(frames) {
            return fromClient(Request(client: sender, version: version, body: body, expiry: now + requestExpiry), service: service)
        }
        // Neither: a worker that sends garbage is treated as broken; anyone else is ignored.
        if workers[sender] != nil { return disconnect(sender) }
        return []
    }

    private mutating func fromClient(_ request: Request, service: String) -> [Action] {
        if service.hasPrefix("mmi.") {
            let status: String
            if service == "mmi.service" {
                let name = request.body.first?.string ?? ""
                status = (services[name]?.workers ?? 0) > 0 ? "200" : "404"
            } else {
                status = "501"
            }
            return [.send(MajordomoClientMessage.replyMessage(request.version, to: request.client, service: service, body: [Frame(status)]), on: Self.socket)]
        }
        // A full queue turns the request away: the client's retry comes back later.
        guard (services[service]?.requests.count ?? 0) < maxQueuedRequests else {
            return [.report(MajordomoBrokerEvent(.requestRefused, service: service))]
        }
        services[service, default: Service()].requests.append(request)
        noteDeadline(request.expiry)
        var actions: [Action] = [.report(MajordomoBrokerEvent(.requestQueued, service: service))]
        dispatch(service, into: &actions)
        return actions
    }

    private mutating func fromWorker(_ id: Frame, _ version: MajordomoVersion, _ command: MajordomoCommand, now: ContinuousClock.Instant) -> [Action] {
        // Looked up once: the worker is changed in place through its index.
        let known = workers.index(forKey: id)
        // Any command from a registered worker is a heartbeat.
        if let known { workers.values[known].expiry = now + workerLifetime }
        switch command {
        case .ready(let service):
            // A second READY, or a worker that would serve the broker's own namespace.
            guard known == nil, !service.hasPrefix("mmi.") else { return disconnect(id, version: version) }
            workers[id] = Worker(service: service, version: version, expiry: now + workerLifetime)
            services[service, default: Service()].workers += 1
            services[service]!.waiting.append(id)
            return [.report(MajordomoBrokerEvent(.workerReady, workerID: id, service: service))] + dispatch(service)
        case .reply(let client, let body, let final):
            // Only the answer to the request this worker holds, for the client that sent it.
            guard let known, let request = workers.values[known].request, request.client == client else {
                return disconnect(id, version: version)
            }
            let service = workers.values[known].service
            var actions: [Action] = []
            // A 0.1 client takes one reply: partials are for the others only.
            if final || request.version.streamsPartials {
                actions.append(.send(MajordomoClientMessage.replyMessage(request.version, to: client, service: service, body: body, final: final), on: Self.socket))
            }
            guard final else { return actions }
            workers.values[known].request = nil
            services[service]?.waiting.append(id)
            actions.append(.report(MajordomoBrokerEvent(.replyForwarded, workerID: id, service: service)))
            dispatch(service, into: &actions)
            return actions
        case .heartbeat:
            return known != nil ? [] : disconnect(id, version: version)
        case .disconnect:
            guard let known else { return [] }
            let worker = workers.values[known]
            return [.report(MajordomoBrokerEvent(.workerLost, workerID: id, service: worker.service))] + forget(id)
        case .request:
            // Only the broker sends REQUEST.
            return disconnect(id, version: version)
        }
    }

    /// What counts as a client's vote in a Binary Star pair: a client's request, or a worker's
    /// READY (a worker that finds the active broker gone is as much a client of the pair).
    /// Heartbeats and anything else do not make a passive broker take over.
    static func isVote(_ message: Message, on socket: SocketName) -> Bool {
        guard message.count >= 2 else { return false }
        let frames = message.frames[1...]
        if case (_, .ready)? = MajordomoCommand.parse(frames) { return true }
        return MajordomoClientMessage.parseRequest(frames) != nil
    }

    /// A message this broker will not take (the passive half of a Binary Star pair): a worker is
    /// told to DISCONNECT, so that it goes to the other broker without waiting out its liveness;
    /// a client's request is dropped, and the client's retry goes to the other broker.
    static func turnAway(_ message: Message, on socket: SocketName) -> [Action] {
        guard message.count >= 2, let (version, command) = MajordomoCommand.parse(message.frames[1...]) else { return [] }
        if case .disconnect = command { return [] }
        return [.send(MajordomoCommand.disconnect.message(version, to: message[0]), on: Self.socket)]
    }

    /// Expires silent workers and stale requests, and heartbeats every worker when due.
    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        // Every expired worker goes before any of their requests is handed on, so none goes to
        // a worker that expires in the same tick.
        let expired = workers.filter { $0.value.expiry <= now }
        var orphans: [(id: Frame, request: Request)] = []
        for (id, worker) in expired {
            actions.append(.report(MajordomoBrokerEvent(.workerExpired, workerID: id, service: worker.service)))
            if let request = removeWorker(id)?.request { orphans.append((id, request)) }
        }
        for orphan in orphans {
            let service = expired[orphan.id]!.service
            guard orphan.request.expiry > now else {
                actions.append(.report(MajordomoBrokerEvent(.requestExpired, service: service)))
                continue
            }
            actions += requeue(orphan.request, service: service)
        }
        for name in services.keys {
            while let first = services[name]?.requests.first, first.expiry <= now {
                services[name]?.requests.removeFirst()
                actions.append(.report(MajordomoBrokerEvent(.requestExpired, service: name)))
            }
            if services[name]?.isUnused == true { services[name] = nil }
        }
        if now >= nextHeartbeat {
            for (id, worker) in workers {
                actions.append(.send(MajordomoCommand.heartbeat.message(worker.version, to: id), on: Self.socket))
            }
            nextHeartbeat = now + heartbeat
        }
        tickDeadline = earliestDeadline
        // What the tick itself queued (a lost worker's request) is in `earliestDeadline` now.
        earliestNewDeadline = nil
        return actions
    }

    /// Hands queued requests of `service` to its idle workers, idle longest first.
    private mutating func dispatch(_ name: String) -> [Action] {
        var actions: [Action] = []
        dispatch(name, into: &actions)
        return actions
    }

    private mutating func dispatch(_ name: String, into actions: inout [Action]) {
        // The service and the worker are looked up once and changed in place: no copy of either
        // is held while its queues change, which would copy the queues.
        guard let service = services.index(forKey: name) else { return }
        while let id = services.values[service].waiting.first, !services.values[service].requests.isEmpty {
            services.values[service].waiting.removeFirst()
            guard let worker = workers.index(forKey: id) else { continue }
            let request = services.values[service].requests.removeFirst()
            workers.values[worker].request = request
            let command = MajordomoCommand.request(client: request.client, body: request.body)
            actions.append(.send(command.message(workers.values[worker].version, to: id), on: Self.socket))
            actions.append(.report(MajordomoBrokerEvent(.requestForwarded, workerID: id, service: name)))
        }
    }

    private mutating func disconnect(_ id: Frame, version: MajordomoVersion? = nil) -> [Action] {
        let version = version ?? workers[id]?.version ?? .v02
        return [.send(MajordomoCommand.disconnect.message(version, to: id), on: Self.socket),
                .report(MajordomoBrokerEvent(.workerDisconnected, workerID: id))] + forget(id)
    }

    /// Drops a worker; the request it held goes back to the front of its service's queue.
    private mutating func forget(_ id: Frame) -> [Action] {
        guard let worker = removeWorker(id), let request = worker.request else { return [] }
        return requeue(request, service: worker.service)
    }

    private mutating func removeWorker(_ id: Frame) -> Worker? {
        guard let worker = workers.removeValue(forKey: id) else { return nil }
        services[worker.service]?.workers -= 1
        services[worker.service]?.waiting.removeAll { $0 == id }
        return worker
    }

    /// A request a lost worker held goes back to the front of its service's queue, for the
    /// next idle worker.
    private mutating func requeue(_ request: Request, service: String) -> [Action] {
        services[service]?.requests.prepend(request)
        noteDeadline(request.expiry)
        var actions: [Action] = [.report(MajordomoBrokerEvent(.requestQueued, service: service))]
        dispatch(service, into: &actions)
        return actions
    }

    private mutating func noteDeadline(_ deadline: ContinuousClock.Instant) {
        if earliestNewDeadline.map({ deadline < $0 }) ?? true { earliestNewDeadline = deadline }
    }
}
