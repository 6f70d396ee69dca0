import Foundation
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

/// One Binary Star server as a value, on a clock the test moves: the Guide's bstar.c machine.
@Suite("Binary Star state machine")
struct BinaryStarMachineTests {
    typealias Machine = BinaryStarMachine
    static let at = FixedClock.at

    static func server(primary: Bool) -> Machine {
        var machine = Machine(primary: primary, frontend: SocketPlan(.router, bind: ["inproc://front"]),
                              statePublisher: SocketPlan(.pub, bind: ["inproc://state"]),
                              stateSubscriber: SocketPlan(.sub, connect: ["inproc://peer"]), heartbeat: .seconds(1))
        _ = machine.start(now: at(0))
        return machine
    }

    static func peer(_ machine: inout Machine, says state: BinaryStarState, at seconds: Double) -> [Machine.Action] {
        machine.received(state.message, on: Machine.stateSubscriber, now: at(seconds))
    }

    static func client(_ machine: inout Machine, at seconds: Double) -> [Machine.Action] {
        machine.received(["client", "", "request"], on: Machine.frontend, now: at(seconds))
    }

    static func handled(_ actions: [Machine.Action]) -> [Message] {
        actions.compactMap { if case .handle(let request, _) = $0 { request } else { nil } }
    }

    static func events(_ actions: [Machine.Action]) -> [BinaryStarEvent] { actions.compactMap(\.event) }

    @Test("it opens a ROUTER, a PUB and a SUB to everything, and publishes its state as one frame of decimal text every heartbeat")
    func stateMessages() {
        var machine = Machine(primary: true, frontend: SocketPlan(.router), statePublisher: SocketPlan(.pub),
                              stateSubscriber: SocketPlan(.sub), heartbeat: .seconds(1))
        let started = machine.start(now: Self.at(0))
        let opened = started.compactMap { if case .open(let name, let plan) = $0 { (name, plan) } else { nil } }
        #expect(opened.map(\.0) == [Machine.stateSubscriber, Machine.frontend, Machine.statePublisher], "the peer's state is read first")
        #expect(opened.map(\.1.type) == [.sub, .router, .pub] && opened[0].1.subscriptions == [""])
        #expect(Self.events(started) == [BinaryStarEvent(.stateChanged, state: .primary)])
        #expect(machine.tick(now: Self.at(0.5)).isEmpty)
        #expect(machine.tick(now: Self.at(1)).compactMap { $0.sent?.message } == [["1"]])
        #expect(machine.tick(now: Self.at(2)).compactMap { $0.sent?.socket } == [Machine.statePublisher])
    }

    @Test("a primary that hears the backup becomes active and serves; the backup that hears it becomes passive and refuses")
    func pairUp() throws {
        var primary = Self.server(primary: true)
        var backup = Self.server(primary: false)
        #expect(Self.events(Self.peer(&primary, says: .backup, at: 0.1)) == [BinaryStarEvent(.stateChanged, state: .active)])
        #expect(Self.events(Self.peer(&backup, says: .active, at: 0.2)) == [BinaryStarEvent(.stateChanged, state: .passive)])
        let served = Self.client(&primary, at: 0.3)
        #expect(Self.handled(served) == [["request"]])
        // The reply goes back behind the request's envelope.
        guard case .handle(_, let id)? = served.first else { Issue.record("\(served)"); return }
        #expect(primary.handled(["reply"], id: id, final: true, now: Self.at(0.4)).compactMap { $0.sent?.message } == [["client", "", "reply"]])
        #expect(Self.events(Self.client(&backup, at: 0.3)) == [BinaryStarEvent(.requestRefused, state: .passive)])
    }

    @Test("the client vote: a passive server takes over only when a client asks after the active one has been silent for two heartbeats")
    func clientVote() {
        var backup = Self.server(primary: false)
        _ = Self.peer(&backup, says: .active, at: 1)
        #expect(Self.events(Self.client(&backup, at: 2.9)).map(\.kind) == [.requestRefused], "the peer was heard 1.9 s ago")
        let vote = Self.client(&backup, at: 3)
        #expect(Self.events(vote) == [BinaryStarEvent(.stateChanged, state: .active)])
        #expect(Self.handled(vote) == [["request"]])
        // Silence alone changes nothing: no client, no takeover.
        var other = Self.server(primary: false)
        _ = Self.peer(&other, says: .active, at: 1)
        _ = other.tick(now: Self.at(10))
        #expect(other.state == .passive)
    }

    @Test("a backup refuses clients until it has heard the primary; a passive server becomes active when its peer restarts")
    func backupAndRestart() {
        var backup = Self.server(primary: false)
        #expect(Self.events(Self.client(&backup, at: 10)).map(\.kind) == [.requestRefused])
        #expect(backup.state == .backup)
        _ = Self.peer(&backup, says: .active, at: 11)
        #expect(Self.events(Self.peer(&backup, says: .primary, at: 12)) == [BinaryStarEvent(.stateChanged, state: .active)])
        var other = Self.server(primary: false)
        _ = Self.peer(&other, says: .active, at: 1)
        #expect(Self.events(Self.peer(&other, says: .backup, at: 2)) == [BinaryStarEvent(.stateChanged, state: .active)])
    }

    @Test("the fail-back guard: a primary that starts refuses clients for two heartbeats unless it hears its peer, then takes them")
    func failBackGuard() {
        var primary = Self.server(primary: true)
        #expect(Self.events(Self.client(&primary, at: 1.9)).map(\.kind) == [.requestRefused])
        let late = Self.client(&primary, at: 2)
        #expect(Self.events(late) == [BinaryStarEvent(.stateChanged, state: .active)] && Self.handled(late).count == 1)
        // A restarted primary that hears the backup active goes passive instead.
        var restarted = Self.server(primary: true)
        #expect(Self.events(Self.peer(&restarted, says: .active, at: 0.5)) == [BinaryStarEvent(.stateChanged, state: .passive)])
        #expect(Self.events(Self.client(&restarted, at: 1)).map(\.kind) == [.requestRefused])
    }

    @Test("two actives or two passives are fatal: reported, and the run ends with splitBrain")
    func splitBrain() {
        var active = Self.server(primary: true)
        _ = Self.peer(&active, says: .backup, at: 0.1)
        let dual = Self.peer(&active, says: .active, at: 0.2)
        #expect(Self.events(dual) == [BinaryStarEvent(.fatal, state: .active, reason: "dual actives")])
        #expect(dual.contains { if case .fail(let error) = $0 { error.code == .splitBrain } else { false } })
        var passive = Self.server(primary: false)
        _ = Self.peer(&passive, says: .active, at: 0.1)
        #expect(Self.events(Self.peer(&passive, says: .passive, at: 0.2)).map(\.reason) == ["dual passives"])
    }

    @Test("a state message that is not one of the four states is dropped, counted, and changes nothing, not even the peer's expiry",
          arguments: [["9"], ["x"], ["03"], [""], ["1", "1"], ["34"]] as [[String]])
    func badStateMessages(frames: [String]) {
        var backup = Self.server(primary: false)
        _ = Self.peer(&backup, says: .active, at: 1)
        let expiry = backup.peerExpiry
        let bad = backup.received(Message(frames.map { Frame($0) }), on: Machine.stateSubscriber, now: Self.at(2))
        #expect(Self.events(bad) == [BinaryStarEvent(.badStateMessage, state: .passive)])
        #expect(backup.badStateMessages == 1 && backup.state == .passive && backup.peerExpiry == expiry)
    }

    @Test("at most maxConcurrentRequests are with the handler: beyond, clients wait in the frontend's queue, and the peer's state is still read")
    func handlerCap() {
        var primary = Machine(primary: true, frontend: SocketPlan(.router), statePublisher: SocketPlan(.pub), stateSubscriber: SocketPlan(.sub),
                              heartbeat: .seconds(1), maxConcurrentRequests: 2)
        _ = primary.start(now: Self.at(0))
        _ = Self.peer(&primary, says: .backup, at: 0.1)
        let ids = (0..<2).compactMap { _ -> UInt64? in
            if case .handle(_, let id)? = Self.client(&primary, at: 0.2).last { id } else { nil }
        }
        #expect(ids.count == 2 && !primary.reads(Machine.frontend) && primary.reads(Machine.stateSubscriber))
        _ = primary.handled(["done"], id: ids[0], final: true, now: Self.at(0.3))
        #expect(primary.reads(Machine.frontend))
    }

    @Test("a request without an envelope is refused")
    func noEnvelope() {
        var primary = Self.server(primary: true)
        _ = Self.peer(&primary, says: .backup, at: 0.1)
        let bare = primary.received(["just a body"], on: Machine.frontend, now: Self.at(0.2))
        #expect(Self.handled(bare).isEmpty && Self.events(bare).map(\.kind) == [.requestRefused])
    }
}

@Suite("Binary Star", .serialized, .timeLimit(.minutes(2)))
struct BinaryStarTests {
    /// Endpoints for a pair: each server's frontend and state publisher.
    struct Pair {
        let primaryFrontend = temporaryIPCEndpoint("bstar-primary"), backupFrontend = temporaryIPCEndpoint("bstar-backup")
        let primaryState = temporaryIPCEndpoint("bstar-primary-state"), backupState = temporaryIPCEndpoint("bstar-backup-state")

        func server(primary: Bool, feed: EventFeed<BinaryStarEvent>) -> BinaryStar {
            var server = primary
                ? BinaryStar(primary: true, frontend: primaryFrontend, statePublisher: primaryState, stateSubscriber: backupState)
                : BinaryStar(primary: false, frontend: backupFrontend, statePublisher: backupState, stateSubscriber: primaryState)
            server.heartbeat = .milliseconds(100)
            server.onEvent = feed.handler
            return server
        }
    }


    static func serve(_ server: BinaryStar, named name: String, in context: ZMQContext) -> Task<Void, any Error> {
        Task { try await server.run(in: context) { Message([Frame(name)] + $0.frames) } }
    }

    @Test("the active server dies mid-run: the client fails over, the backup takes over on the client's vote, every request is answered; the primary restarts passive")
    func failover() async throws {
        try await withContext { context in
            let pair = Pair()
            let (primaryEvents, backupEvents) = (EventFeed(of: BinaryStarEvent.self), EventFeed(of: BinaryStarEvent.self))
            var primary = Self.serve(pair.server(primary: true, feed: primaryEvents), named: "primary", in: context)
            let backup = Self.serve(pair.server(primary: false, feed: backupEvents), named: "backup", in: context)
            defer { backup.cancel() }
            await primaryEvents.waitFor(.active)
            await backupEvents.waitFor(.passive)

            let client = LazyPirateClient.failingOver(between: [pair.primaryFrontend, pair.backupFrontend], in: context,
                                                       retry: RetryPolicy(timeout: .milliseconds(300), attempts: 20),
                                                       settle: .milliseconds(100))
            for index in 0..<5 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == ["primary", Frame("\(index)")])
            }
            primary.cancel()  // the active server dies
            _ = await primary.result
            for index in 5..<10 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == ["backup", Frame("\(index)")])
            }
            await backupEvents.waitFor(.active)
            // The primary comes back: it hears the active backup and stands by.
            let restartedEvents = EventFeed(of: BinaryStarEvent.self)
            primary = Self.serve(pair.server(primary: true, feed: restartedEvents), named: "primary", in: context)
            defer { primary.cancel() }
            await restartedEvents.waitFor(.passive)
            let last = try await client.request(["10"])
            #expect(last == ["backup", "10"])
            await client.close()
        }
    }
}

extension EventFeed<BinaryStarEvent> {
    /// Waits until the server enters `state`.
    func waitFor(_ state: BinaryStarState) async {
        for await event in stream where event.kind == .stateChanged && event.state == state { return }
    }
}

/// A Majordomo broker as one half of a Binary Star pair, on a clock the test moves.
@Suite("Majordomo broker in a Binary Star pair (machine)")
struct BinaryStarPairMachineTests {
    typealias Machine = BinaryStarPairMachine<MajordomoBrokerMachine>
    static let at = BinaryStarMachineTests.at
    static let broker = MajordomoBrokerMachine.socket

    static func half(primary: Bool) -> Machine {
        let inner = MajordomoBrokerMachine(heartbeat: .seconds(1), liveness: 3, requestExpiry: .seconds(10), now: at(0))
        var machine = Machine(inner, frontends: [broker],
                              pairing: BinaryStarPairing(primary: primary, statePublisher: "inproc://out", stateSubscriber: "inproc://in"),
                              votes: MajordomoBrokerMachine.isVote, turnAway: MajordomoBrokerMachine.turnAway)
        _ = machine.start(now: at(0))
        return machine
    }

    static func pairEvents(_ actions: [Machine.Action]) -> [BinaryStarEvent] {
        actions.compactMap { if case .pair(let event)? = $0.event { event } else { nil } }
    }

    static func brokerEvents(_ actions: [Machine.Action]) -> [MajordomoBrokerEvent.Kind] {
        actions.compactMap { if case .inner(let event)? = $0.event { event.kind } else { nil } }
    }

    @Test("it opens the pair's state sockets around the broker's ROUTER, state socket first, and publishes its state every heartbeat beside the broker's heartbeats")
    func sockets() {
        let inner = MajordomoBrokerMachine(heartbeat: .seconds(1), liveness: 3, requestExpiry: .seconds(10), now: Self.at(0))
        var machine = Machine(inner, frontends: [Self.broker],
                              pairing: BinaryStarPairing(primary: true, statePublisher: "inproc://out", stateSubscriber: "inproc://in"))
        let started = machine.start(now: Self.at(0))
        let opened = started.compactMap { if case .open(let name, let plan) = $0 { (name, plan.type) } else { nil } }
        #expect(opened.map(\.0) == [Machine.stateSubscriber, Self.broker, Machine.statePublisher])
        #expect(opened.map(\.1) == [.sub, .router, .pub])
        _ = machine.received(BinaryStarState.backup.message, on: Machine.stateSubscriber, now: Self.at(0.1))
        _ = machine.received(["W", "MDPW02", Frame([1]), "echo"], on: Self.broker, now: Self.at(0.2))
        let tick = machine.tick(now: Self.at(1))
        #expect(tick.compactMap { $0.sent }.map(\.socket) == [Machine.statePublisher, Self.broker])
        #expect(tick.compactMap { $0.sent }.map(\.message).first == ["3"], "ACTIVE")
    }

    @Test("while passive it brokers nothing: a worker is told to DISCONNECT in its own version, a client's request is dropped")
    func passiveTurnsAway() {
        var backup = Self.half(primary: false)
        #expect(Self.pairEvents(backup.received(BinaryStarState.active.message, on: Machine.stateSubscriber, now: Self.at(0.5)))
                == [BinaryStarEvent(.stateChanged, state: .passive)])
        let ready = backup.received(["W", Frame(), "MDPW01", Frame([1]), "echo"], on: Self.broker, now: Self.at(1))
        #expect(ready.compactMap { $0.sent?.message } == [["W", Frame(), "MDPW01", Frame([5])]])
        #expect(Self.brokerEvents(ready).isEmpty && backup.inner.workers.isEmpty)
        let request = backup.received(["C", "MDPC02", Frame([1]), "echo", "hi"], on: Self.broker, now: Self.at(1.2))
        #expect(request.compactMap { $0.sent }.isEmpty)
        #expect(Self.pairEvents(request).map(\.kind) == [.requestRefused])
        #expect(backup.inner.services.isEmpty, "nothing queued")
    }

    @Test("the client vote: a worker's READY or a client's request reaching the passive broker after the active one fell silent makes it active, and is brokered; a heartbeat does not")
    func vote() {
        var backup = Self.half(primary: false)
        _ = backup.received(BinaryStarState.active.message, on: Machine.stateSubscriber, now: Self.at(0.5))
        let heartbeat = backup.received(["W", "MDPW02", Frame([5])], on: Self.broker, now: Self.at(2.5))
        #expect(Self.pairEvents(heartbeat).map(\.kind) == [.requestRefused] && backup.peering.state == .passive)
        #expect(heartbeat.compactMap { $0.sent?.message } == [["W", "MDPW02", Frame([6])]], "told to go")
        let ready = backup.received(["W", "MDPW02", Frame([1]), "echo"], on: Self.broker, now: Self.at(2.5))
        #expect(Self.pairEvents(ready) == [BinaryStarEvent(.stateChanged, state: .active)])
        #expect(Self.brokerEvents(ready) == [.workerReady])
        let request = backup.received(["C", "MDPC02", Frame([1]), "echo", "hi"], on: Self.broker, now: Self.at(2.6))
        #expect(request.compactMap { $0.sent?.message } == [["W", "MDPW02", Frame([2]), "C", "", "hi"]])
    }

    @Test("two actives end the run with splitBrain; a bad state message is counted and changes nothing")
    func faults() {
        var primary = Self.half(primary: true)
        _ = primary.received(BinaryStarState.backup.message, on: Machine.stateSubscriber, now: Self.at(0.1))
        let bad = primary.received(["7"], on: Machine.stateSubscriber, now: Self.at(0.2))
        #expect(Self.pairEvents(bad).map(\.kind) == [.badStateMessage] && primary.peering.badStateMessages == 1)
        let dual = primary.received(BinaryStarState.active.message, on: Machine.stateSubscriber, now: Self.at(0.3))
        #expect(dual.contains { if case .fail(let error) = $0 { error.code == .splitBrain } else { false } })
    }
}
