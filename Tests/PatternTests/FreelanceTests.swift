import Dispatch
import Foundation
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

/// The Freelance server and the client's agent as values, on a clock the test moves (10/FLP).
@Suite("Freelance state machines")
struct FreelanceMachineTests {
    static let at = FixedClock.at
    static func sent(_ actions: [PatternAction<FreelanceEvent>], on socket: SocketName) -> [Message] {
        actions.compactMap { $0.sent?.socket == socket ? $0.sent?.message : nil }
    }
    static func kinds(_ actions: [PatternAction<FreelanceEvent>]) -> [FreelanceEvent.Kind] { actions.compactMap(\.event?.kind) }

    @Test("a server's routing id is its name; PING gets PONG; a request's control frame comes back with the reply; a lone frame is dropped and counted")
    func server() throws {
        var server = FreelanceServerMachine(bind: "tcp://*:5555", name: "tcp://localhost:5555", options: [])
        let opened = server.start(now: Self.at(0))
        guard case .open(_, let plan)? = opened.first else { Issue.record("\(opened)"); return }
        var applied = SocketOptions()
        for option in plan.options { try applied.apply(option) }
        #expect(applied.routingID == Array("tcp://localhost:5555".utf8))
        #expect(Self.sent(server.received(["client", "PING"], on: FreelanceServerMachine.socket, now: Self.at(1)), on: FreelanceServerMachine.socket)
                == [["client", "PONG"]])
        let asked = server.received(["client", "7", "lookup", "42"], on: FreelanceServerMachine.socket, now: Self.at(1))
        guard case .handle(let request, let id)? = asked.first else { Issue.record("\(asked)"); return }
        #expect(request == ["lookup", "42"])
        #expect(Self.sent(server.handled(["found"], id: id, final: true, now: Self.at(2)), on: FreelanceServerMachine.socket) == [["client", "7", "found"]])
        #expect(Self.kinds(server.received(["client", "hello"], on: FreelanceServerMachine.socket, now: Self.at(3))) == [.malformed])
        #expect(server.malformed == 1)
    }

    typealias Agent = FreelanceAgentMachine

    @Test("a server hands at most maxConcurrentRequests to its handler; beyond, it stops reading until one is answered")
    func serverCap() {
        var server = FreelanceServerMachine(bind: "inproc://s", name: "inproc://s", options: [], maxConcurrentRequests: 1)
        _ = server.start(now: Self.at(0))
        let first = server.received(["client", "1", "body"], on: FreelanceServerMachine.socket, now: Self.at(0))
        #expect(!server.reads(FreelanceServerMachine.socket))
        guard case .handle(_, let id)? = first.first else { Issue.record("\(first)"); return }
        _ = server.handled(["reply"], id: id, final: true, now: Self.at(0.1))
        #expect(server.reads(FreelanceServerMachine.socket))
    }

    static func agent() -> Agent {
        var agent = Agent(api: "inproc://api", servers: ["tcp://a:1", "tcp://b:2"], options: [], pingInterval: .seconds(2),
                          serverTTL: .seconds(6), requestTimeout: .seconds(3))
        _ = agent.start(now: at(0))
        return agent
    }

    @Test("the agent pings every server, sends a request to the first alive, and hands the reply to the application")
    func agentServes() {
        var agent = Self.agent()
        #expect(Self.sent(agent.tick(now: Self.at(0)), on: Agent.servers) == [["tcp://a:1", "PING"], ["tcp://b:2", "PING"]])
        #expect(agent.reads(Agent.api))
        // A ping refused before the connection is up is tried again soon, not a ping interval later.
        #expect(agent.sendFailed(["tcp://a:1", "PING"], on: Agent.servers, error: ZMQError(code: .unroutable, message: "not yet"), now: Self.at(0)).isEmpty)
        #expect(agent.nextDeadline == Self.at(0) + Agent.pingRetry)
        // Asked before any server is alive: it waits for one.
        #expect(Self.sent(agent.received(["id", "hello"], on: Agent.api, now: Self.at(0.1)), on: Agent.servers).isEmpty)
        #expect(!agent.reads(Agent.api), "one request at a time")
        let alive = agent.received(["tcp://b:2", "PONG"], on: Agent.servers, now: Self.at(0.2))
        #expect(Self.kinds(alive) == [.serverAlive, .requestSent])
        #expect(Self.sent(alive, on: Agent.servers) == [["tcp://b:2", "1", "hello"]])
        let answered = agent.received(["tcp://b:2", "1", "HELLO"], on: Agent.servers, now: Self.at(0.3))
        #expect(Self.sent(answered, on: Agent.api) == [["id", "OK", "HELLO"]])
        #expect(agent.request == nil && agent.reads(Agent.api))
    }

    @Test("a request whose server is lost goes to the next server alive; with none left before its timeout it fails")
    func agentFailsOver() {
        var agent = Self.agent()
        _ = agent.tick(now: Self.at(0))
        _ = agent.received(["tcp://a:1", "PONG"], on: Agent.servers, now: Self.at(0.1))
        _ = agent.received(["tcp://b:2", "PONG"], on: Agent.servers, now: Self.at(0.1))
        #expect(Self.sent(agent.received(["id", "job"], on: Agent.api, now: Self.at(0.2)), on: Agent.servers) == [["tcp://a:1", "1", "job"]])
        // b keeps answering pings; a goes silent and is lost after its TTL; the request moves.
        _ = agent.received(["tcp://b:2", "PONG"], on: Agent.servers, now: Self.at(2.1))
        let moved = agent.tick(now: Self.at(6.1))
        #expect(Self.kinds(moved).contains(.serverLost))
        #expect(Self.sent(moved, on: Agent.servers).contains(["tcp://b:2", "1", "job"]) == false, "the request's own timeout (3 s) has passed")
        #expect(Self.sent(moved, on: Agent.api) == [["id", "FAILED"]])

        var quick = Self.agent()
        _ = quick.tick(now: Self.at(0))
        _ = quick.received(["tcp://a:1", "PONG"], on: Agent.servers, now: Self.at(0))
        _ = quick.received(["tcp://b:2", "PONG"], on: Agent.servers, now: Self.at(0))
        _ = quick.received(["id", "job"], on: Agent.api, now: Self.at(0.1))
        // A send to a that fails (its connection is gone) moves the request to b at once.
        let refused = quick.sendFailed(["tcp://a:1", "1", "job"], on: Agent.servers, error: ZMQError(code: .unroutable, message: "gone"), now: Self.at(0.2))
        #expect(Self.kinds(refused) == [.serverLost, .requestSent])
        #expect(Self.sent(refused, on: Agent.servers) == [["tcp://b:2", "1", "job"]])
    }

    @Test("a reply with a missing or unknown control frame is dropped and counted; a server under another name is reported, not used")
    func agentBadReplies() {
        var agent = Self.agent()
        _ = agent.received(["tcp://a:1", "PONG"], on: Agent.servers, now: Self.at(0))
        _ = agent.received(["id", "job"], on: Agent.api, now: Self.at(0.1))
        #expect(Self.kinds(agent.received(["tcp://a:1", "999", "x"], on: Agent.servers, now: Self.at(0.2))) == [.malformed])
        #expect(Self.kinds(agent.received(["tcp://a:1", "x"], on: Agent.servers, now: Self.at(0.2))) == [.malformed])
        #expect(agent.malformed == 2 && agent.request != nil)
        #expect(Self.kinds(agent.received(["tcp://c:3", "PONG"], on: Agent.servers, now: Self.at(0.3))) == [.unknownServer])
        #expect(agent.servers["tcp://c:3"] == nil)
    }
}

@Suite("Freelance", .serialized, .timeLimit(.minutes(2)))
struct FreelanceTests {
    @Test("the agent client routes to the first server alive; a server killed mid-run costs a retry, not a request")
    func agentSurvivesServerLoss() async throws {
        try await withContext { context in
            let names = [temporaryIPCEndpoint("fl-a"), temporaryIPCEndpoint("fl-b")]
            var servers = names.map { name in
                Task { try await FreelanceServer(bind: name).run(in: context) { Message([Frame(name)] + $0.frames) } }
            }
            defer { for server in servers { server.cancel() } }
            let client = try await FreelanceClient(context, servers: names, pingInterval: .milliseconds(100),
                                                   serverTTL: .milliseconds(300), requestTimeout: .seconds(10))
            // Whichever answered its ping first serves, until it dies.
            let first = try await client.request(["0"])
            let serving = try #require(names.firstIndex { Frame($0) == first.first })
            for index in 1..<5 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == [Frame(names[serving]), Frame("\(index)")])
            }
            servers[serving].cancel()
            _ = await servers[serving].result
            for index in 5..<10 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == [Frame(names[1 - serving]), Frame("\(index)")])
            }
            await client.close()
        }
    }

    @Test("a handler that blocks its thread does not block the I/O thread (every pattern's handler runs in a task of its own)")
    func blockingHandler() async throws {
        try await withContext { context in
            let name = temporaryIPCEndpoint("fl-blocking")
            let server = Task {
                try await FreelanceServer(bind: name).run(in: context) { _ in
                    // Holds its thread until the context's one I/O thread has run a job: it never
                    // would if the handler were holding that thread.
                    let ran = DispatchSemaphore(value: 0)
                    context.eventLoopGroup.next().execute { ran.signal() }
                    return Message(Frame(ran.wait(timeout: .now() + 5) == .success ? "ran" : "blocked"))
                }
            }
            defer { server.cancel() }
            let client = try await FreelanceClient(context, servers: [name], pingInterval: .milliseconds(100),
                                                   serverTTL: .seconds(10), requestTimeout: .seconds(20))
            #expect(try await client.request(["work"]) == [Frame("ran")])
            await client.close()
        }
    }

    @Test("with no server answering, a request fails with noReply after its timeout, in the agent and the shotgun model")
    func noServer() async throws {
        try await withContext { context in
            let agent = try await FreelanceClient(context, servers: [temporaryIPCEndpoint("fl-none")], pingInterval: .milliseconds(50),
                                                  serverTTL: .milliseconds(150), requestTimeout: .milliseconds(300))
            let shotgun = try await FreelanceShotgunClient(context, servers: [temporaryIPCEndpoint("fl-shot-none")],
                                                           requestTimeout: .milliseconds(200))
            let requests: [(String, () async throws -> Message)] = [
                ("agent", { try await agent.request(["anyone?"]) }), ("shotgun", { try await shotgun.request(["anyone?"]) }),
            ]
            for (model, request) in requests {
                do {
                    _ = try await request()
                    Issue.record("\(model): a reply came from nowhere")
                } catch let error as ZMQError {
                    #expect(error.code == .noReply, "\(model): \(error)")
                }
            }
            await agent.close()
            await shotgun.close()
        }
    }

    @Test("shotgun: every REP server gets the request, the first reply wins, a late one is dropped and counted; a dead server changes nothing")
    func shotgun() async throws {
        try await withContext { context in
            let names = [temporaryIPCEndpoint("fl-shot-a"), temporaryIPCEndpoint("fl-shot-b"), temporaryIPCEndpoint("fl-shot-dead")]
            let (calls, lateGate) = ([Tally(), Tally()], Gate(opensAt: 2))
            // Server 0 gets the second request on its own time: the test meets it here.
            let zeroHasSecond = Gate(opensAt: 2)
            var servers: [Task<Void, any Error>] = []
            for (index, name) in names.prefix(2).enumerated() {
                let rep = try ReplySocket(context)
                _ = try await rep.bind(name)
                servers.append(Task {
                    try await rep.serve { request in
                        calls[index].add()
                        switch (index, calls[index].value) {
                        case (0, 1): break  // the first request: server 0 answers at once
                        case (0, _):  // later ones: never
                            await zeroHasSecond.arrive()
                            try await Task.sleep(for: .seconds(60))
                        case (_, 1): await lateGate.arrive()  // server 1 answers the first only when told
                        default: break
                        }
                        return Message(request.frames + [Frame("server \(index)")])
                    }
                })
            }
            defer { for server in servers { server.cancel() } }
            let dropped = Tally()
            let client = try await FreelanceShotgunClient(context, servers: names, requestTimeout: .seconds(10)) { event in
                if event.kind == .replyDropped { dropped.add() }
            }
            let first = try await client.request(["one"])
            #expect(first == ["one", "server 0"])
            await lateGate.arrive()
            // Server 1's late answer to the first request comes ahead of its answer to this one.
            let second = try await client.request(["two"])
            #expect(second == ["two", "server 1"])
            #expect(dropped.value == 1, "the late reply to the first request")
            await zeroHasSecond.arrive()
            #expect(calls[0].value == 2 && calls[1].value == 2, "each live server got each request once")
            await client.close()
        }
    }
}
