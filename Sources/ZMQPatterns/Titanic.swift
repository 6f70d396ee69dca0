import Foundation
import Synchronization
import ZMQ

/// Titanic (9/TSP, the Guide's chapter 4): disconnected, durable request-reply on top of a
/// Majordomo broker. Clients hand requests to the `titanic.request` service and get an id back
/// once the request is stored; Titanic sends each stored request to its service through the
/// broker, again and again until a worker answers, and stores the reply; clients fetch it from
/// `titanic.reply` (200 with the reply, 300 while pending, 400 for an unknown id) as often as
/// they like, and `titanic.close` forgets it. Workers need nothing special.
///
///     let titanic = Titanic(broker: "tcp://localhost:5555", store: try SQLiteTitanicStore(path: "titanic.sqlite"))
///     let running = Task { try await titanic.run(in: context) }
///
/// Killed and restarted on the same store, it loses no request it acknowledged, and each
/// request keeps the first reply stored for it. A request can reach its service more than once:
/// a worker answered but Titanic died before storing the reply, a reply was slower than
/// `timeout`, or a client submitted again after its acknowledgement was lost (then it is stored
/// twice, under two ids). Make such workers idempotent with `CompletedRequests`, keyed by an id
/// the application puts in the request.
///
/// Several Titanic processes, on several hosts, can share one store (`PostgresTitanicStore`; on
/// one host, `SQLiteTitanicStore`): each dispatches the requests it holds, those its clients
/// gave it and those it took up, and no two hold the same request. One that stops renewing its
/// hold (it died, or lost the store) has its requests taken up by the others once its `lease`
/// has run out; one that stops cleanly lets go of them at once.
public struct Titanic: Sendable {
    /// The Majordomo broker Titanic registers with and sends requests through.
    public var broker: String
    public var store: any TitanicStore
    /// The Majordomo version of Titanic's own workers and client.
    public var version: MajordomoVersion = .v02
    /// Heartbeat of Titanic's workers: the broker's.
    public var heartbeat: Duration = .milliseconds(2500)
    public var liveness = 3
    /// How long to wait for a service's reply before sending the request again; the wait
    /// doubles with each send, up to `maxWait`.
    public var timeout: Duration = .milliseconds(2500)
    public var maxWait: Duration = .seconds(60)
    /// The pause before asking again for a service the broker has no worker for.
    public var retryInterval: Duration = .seconds(1)
    /// How many stored requests travel to their services at once.
    public var maxInFlight = 16
    /// How many unanswered requests Titanic takes on; beyond that `titanic.request` answers 500
    /// (try later). Each costs a task and its body in memory, so this is what bounds them.
    public var maxPending = 10_000
    /// This Titanic among those sharing its store: each needs a name of its own. A Titanic
    /// restarted under its old name takes back at once what it held; by default the name is
    /// this host's and the broker's, so one Titanic per host and broker needs no other.
    public var name: String
    /// How long this Titanic's hold on a request lasts unless renewed (it is renewed every
    /// third of that): how long requests of a Titanic that died wait before another takes them up.
    public var lease: Duration = .seconds(10)
    public var options: [SocketOption] = []
    public var onEvent: EventHandler<TitanicEvent> = { _ in }

    public init(broker: String, store: any TitanicStore) {
        self.broker = broker
        self.store = store
        name = "\(ProcessInfo.processInfo.hostName) \(broker)"
    }

    /// Serves the three Titanic services and dispatches stored requests, those left pending by
    /// an earlier run first, until the task is cancelled; then lets go of the requests it still
    /// holds. Throws if a service cannot start (a bad endpoint) or the store cannot be read at
    /// the start.
    public func run(in context: ZMQContext) async throws {
        try Settings.positive(lease, "lease")
        let claim = TitanicClaim(owner: name, lease: lease)
        do {
            try await serve(in: context, claim: claim)
        } catch {
            await letGo(claim)
            throw error
        }
        await letGo(claim)
    }

    /// Hands what this Titanic holds back to the store, for another (or its own restart) to
    /// take up at once: in a task of its own, as the run's task is cancelled by now.
    private func letGo(_ claim: TitanicClaim) async {
        let store = store
        await Task { try? await store.release(claim.owner) }.value
    }

    private func serve(in context: ZMQContext, claim: TitanicClaim) async throws {
        try Settings.positive(heartbeat, "heartbeat")
        try Settings.atLeastOne(liveness, "liveness")
        try Settings.positive(timeout, "timeout")
        try Settings.positive(retryInterval, "retryInterval")
        try Settings.atLeastOne(maxInFlight, "maxInFlight")
        try Settings.atLeastOne(maxPending, "maxPending")
        let (arrivals, arrived) = AsyncStream.makeStream(of: TitanicRequest.self)
        // For the 8/MMI questions only: each request travels on a lane of its own (dispatch).
        let client = MajordomoClient(context, connectingTo: broker, version: version, timeout: timeout, attempts: 1,
                                     maxInFlight: maxInFlight, options: options)
        defer { Task { await client.close() } }
        let services = ServiceAvailability(client: client, freshFor: retryInterval, alwaysAvailable: version == .majortomo)
        let turns = Turns(capacity: maxInFlight)
        // Taken before the services start, so that a request stored meanwhile is not in it too.
        let leftover = try await store.claim(upTo: maxPending, for: claim, includingOwn: true)
        let pending = PendingCount(leftover.count)
        // Discarding groups: a finished dispatch leaves nothing behind. Dispatches never throw;
        // a service that cannot run ends the rest.
        try await withThrowingDiscardingTaskGroup { group in
            for service in TitanicService.allCases {
                let worker = worker(for: service)
                group.addTask { try await worker.run(in: context) { await answer(service, $0, claim: claim, pending: pending, arrived: arrived) } }
            }
            group.addTask { await keepClaims(claim, pending: pending, takenUp: arrived) }
            group.addTask {
                await withDiscardingTaskGroup { dispatches in
                    for request in leftover {
                        onEvent(TitanicEvent(.requestTakenUp, request: request.id, service: request.service))
                        dispatches.addTask {
                            await dispatch(request, in: context, claim: claim, turns: turns, services: services)
                            pending.release()
                        }
                    }
                    for await request in arrivals {
                        dispatches.addTask {
                            await dispatch(request, in: context, claim: claim, turns: turns, services: services)
                            pending.release()
                        }
                    }
                    dispatches.cancelAll()
                }
            }
        }
    }

    private func worker(for service: TitanicService) -> MajordomoWorker {
        var worker = MajordomoWorker(connectingTo: broker, service: service.rawValue)
        worker.version = version
        worker.heartbeat = heartbeat
        worker.liveness = liveness
        worker.options = options
        return worker
    }

    /// Every third of the lease: renews this Titanic's hold on its requests, then takes up those
    /// nobody holds any more (another Titanic died, or stopped) while it has room for them.
    private func keepClaims(_ claim: TitanicClaim, pending: PendingCount, takenUp: AsyncStream<TitanicRequest>.Continuation) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: claim.lease / 3)
                try await store.renew(claim)
                let room = pending.room(below: maxPending)
                guard room > 0 else { continue }
                let requests = try await store.claim(upTo: room, for: claim, includingOwn: false)
                pending.add(requests.count)
                for request in requests {
                    onEvent(TitanicEvent(.requestTakenUp, request: request.id, service: request.service))
                    takenUp.yield(request)
                }
            } catch where Task.isCancelled {
                return
            } catch {
                onEvent(TitanicEvent(.storeFailed))
            }
        }
    }

    /// A client's request to one of the Titanic services: stores or looks up, then replies
    /// with a 9/TSP status frame first.
    private func answer(_ service: TitanicService, _ request: Message, claim: TitanicClaim, pending: PendingCount,
                        arrived: AsyncStream<TitanicRequest>.Continuation) async -> Message {
        do {
            switch service {
            case .request:
                guard let name = request.first?.string, !name.isEmpty else { return ["400 the first frame must name a service"] }
                let stored = TitanicRequest(id: Self.newID(), service: name, body: Message(Array(request.frames.dropFirst())))
                guard pending.reserve(upTo: maxPending) else {
                    return [Frame("500 Titanic holds as many unanswered requests as it takes (\(maxPending)): try later")]
                }
                do {
                    try await store.store(stored, claim: claim)
                } catch {
                    pending.release()
                    throw error
                }
                onEvent(TitanicEvent(.requestStored, request: stored.id, service: name))
                arrived.yield(stored)
                return ["200", Frame(stored.id)]
            case .reply:
                guard let id = request.first?.string else { return ["400 the first frame must be a request id"] }
                switch try await store.state(of: id) {
                case .answered(let reply): return Message(["200"] + reply.frames)
                case .pending: return ["300"]
                case .unknown: return ["400"]
                }
            case .close:
                guard let id = request.first?.string else { return ["400 the first frame must be a request id"] }
                try await store.close(id)
                onEvent(TitanicEvent(.requestClosed, request: id))
                return ["200"]
            }
        } catch {
            // The store failed: nothing was acknowledged, and 500 tells the client to try again.
            return [Frame("500 \(error)")]
        }
    }

    /// Sends `request` to its service until a worker answers, then stores the reply; ends when
    /// the request is answered or closed, another Titanic took it up, or Titanic stops (it stays
    /// pending for the next run).
    ///
    /// The request keeps one socket (lane) for all its sends. When no reply comes within
    /// `timeout` it is sent again on that same socket, and the wait doubles each time up to
    /// `maxWait`: the broker may have restarted and lost it, but a slow worker's late reply to an
    /// earlier send still counts, as it answers the same request. At most `maxInFlight`
    /// requests travel at once. A store that fails is tried again after `retryInterval`.
    private func dispatch(_ request: TitanicRequest, in context: ZMQContext, claim: TitanicClaim, turns: Turns,
                          services: ServiceAvailability) async {
        let lane = RequestLane(context, connectingTo: [broker], options: options)
        let message = Message(MajordomoClientMessage.request(version, service: request.service, body: request.body.frames))
        let (version, service) = (version, request.service)
        // Without end: a stored request is answered some day.
        let retry = RetryPolicy(timeout: timeout, attempts: nil, backoff: 2, maxTimeout: maxWait)
        var attempt = 0
        while !Task.isCancelled {
            do {
                // Asked first, so that a request for a service with no worker is not sent, to
                // pile up at the broker.
                guard await services.isAvailable(service) else {
                    try await Task.sleep(for: retryInterval)
                    continue
                }
                guard try await store.holds(request.id, for: claim.owner) else { break }
                attempt += 1
                if attempt > 1 { onEvent(TitanicEvent(.requestRetried, request: request.id, service: service, attempt: attempt)) }
                onEvent(TitanicEvent(.requestForwarded, request: request.id, service: service, attempt: attempt))
                // Counted for an operator (`zmq titanic status --list`); a failure here does not hold the request up.
                try? await store.recordAttempt(for: request.id)
                try await turns.take()
                let reply: Message?
                do {
                    defer { turns.pass() }
                    // Partials are passed over: only the FINAL is stored, without the peer's metadata.
                    reply = try await lane.exchange(message, timeout: retry.timeout(forAttempt: attempt), keepSocket: true) {
                        MajordomoClientMessage.verdict(version, service: service, $0, keepPartials: false)
                    }.map { Message($0.answer.frames) }
                }
                guard let reply else { continue }
                if try await store.storeReply(reply, for: request.id) {
                    onEvent(TitanicEvent(.replyStored, request: request.id, service: service, attempt: attempt))
                }
                break
            } catch where Task.isCancelled {
                break
            } catch {
                // The store (or the socket) failed: nothing is lost that is stored; try again.
                onEvent(TitanicEvent(.storeFailed, request: request.id, service: service))
                do { try await Task.sleep(for: retryInterval) } catch { break }
            }
        }
        await lane.close()
    }

    /// 32 hexadecimal digits, as 9/TSP asks: a random UUID's.
    static func newID() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "")
    }
}

/// How many requests Titanic holds unanswered: its dispatch tasks.
final class PendingCount: Sendable {
    private let count: Mutex<Int>

    init(_ initial: Int) { count = Mutex(initial) }

    /// Takes a place if fewer than `limit` are taken.
    func reserve(upTo limit: Int) -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() { count.withLock { $0 -= 1 } }

    /// Takes `places` whatever the limit (requests already taken from the store).
    func add(_ places: Int) { count.withLock { $0 += places } }

    /// How many places are free below `limit`.
    func room(below limit: Int) -> Int { count.withLock { max(0, limit - $0) } }
}

/// Whether the broker has a worker for a service (8/MMI), asked at most once per `freshFor` per
/// service however many requests wait for it: a thousand requests for an absent service cost
/// one question a second, not a thousand. majortomo's broker has no MMI: there every service
/// counts as available.
actor ServiceAvailability {
    private let client: MajordomoClient
    private let freshFor: Duration
    private let alwaysAvailable: Bool
    private var answers: [String: (available: Bool, at: ContinuousClock.Instant)] = [:]
    private var asking: [String: Task<Bool, Never>] = [:]

    init(client: MajordomoClient, freshFor: Duration, alwaysAvailable: Bool) {
        self.client = client
        self.freshFor = freshFor
        self.alwaysAvailable = alwaysAvailable
    }

    func isAvailable(_ service: String) async -> Bool {
        if alwaysAvailable { return true }
        if let answer = answers[service], ContinuousClock.now - answer.at < freshFor { return answer.available }
        if let question = asking[service] { return await question.value }
        let client = client
        let question = Task { (try? await client.hasService(service)) ?? false }
        asking[service] = question
        let available = await question.value
        asking[service] = nil
        // Only the answers of the last while are kept: a name asked about once is not kept.
        answers = answers.filter { ContinuousClock.now - $0.value.at < freshFor }
        answers[service] = (available, .now)
        return available
    }
}

/// The three services of 9/TSP.
enum TitanicService: String, CaseIterable {
    case request = "titanic.request"
    case reply = "titanic.reply"
    case close = "titanic.close"
}
