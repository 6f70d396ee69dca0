import Foundation
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

/// Clone servers and clients over real sockets.
@Suite("Clone", .timeLimit(.minutes(2)))
struct CloneTests {
    static func endpoints() -> CloneEndpoints {
        CloneEndpoints(snapshot: temporaryIPCEndpoint("clone-s"), publisher: temporaryIPCEndpoint("clone-p"),
                       collector: temporaryIPCEndpoint("clone-c"))
    }

    static func server(_ endpoints: CloneEndpoints, in context: ZMQContext, onEvent: @escaping EventHandler<CloneServerEvent> = { _ in }) -> Task<Void, any Error> {
        var server = CloneServer(endpoints: endpoints)
        server.heartbeat = .milliseconds(100)
        server.onEvent = onEvent
        return Task { try await server.run(in: context) }
    }

    static func client(_ servers: [CloneEndpoints], in context: ZMQContext, subtree: String = "") async throws -> CloneClient {
        let client = try await CloneClient(context, servers: servers, subtree: subtree, serverTimeout: .seconds(1))
        try await client.waitUntilSynchronized()
        return client
    }

    /// Waits until `client` has applied `key` = `value`.
    static func waitFor(_ client: CloneClient, _ key: String, _ value: Frame?) async {
        let changes = client.changes()
        if client[key] == value { return }
        for await change in changes where change.key == key && change.value == value { return }
    }

    @Test("a client that joins while another writes ends with exactly the writer's map; updates and deletes reach every client")
    func joinWhileUpdating() async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            let server = Self.server(endpoints, in: context)
            let writer = try await Self.client([endpoints], in: context)
            var late: CloneClient?
            var expected: [String: Frame] = [:]
            for round in 0..<300 {
                try await writer.set("/k/\(round % 40)", Frame("v\(round)"))
                expected["/k/\(round % 40)"] = Frame("v\(round)")
                if round % 7 == 0 {
                    try await writer.delete("/k/\((round + 3) % 40)")
                    expected["/k/\((round + 3) % 40)"] = nil
                }
                if round == 120 {
                    late = try await CloneClient(context, servers: [endpoints], serverTimeout: .seconds(1))
                }
            }
            try await writer.set("/done", "yes")
            expected["/done"] = "yes"
            #expect(writer.values == expected)
            let joined = try #require(late)
            await Self.waitFor(joined, "/done", "yes")
            #expect(joined.values == writer.values && joined.sequence == writer.sequence)
            let fresh = try await Self.client([endpoints], in: context)
            #expect(fresh.values == writer.values && fresh.sequence == writer.sequence)
            for client in [writer, joined, fresh] { await client.close() }
            server.cancel()
        }
    }

    @Test("a client under a subtree takes and follows only the keys under it")
    func subtree() async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            let server = Self.server(endpoints, in: context)
            let all = try await Self.client([endpoints], in: context)
            try await all.set("/a/1", "one")
            try await all.set("/b/1", "other")
            let onlyA = try await Self.client([endpoints], in: context, subtree: "/a/")
            #expect(onlyA.values == ["/a/1": "one"])
            var withMap = onlyA.changes(includingMap: true).makeAsyncIterator()
            #expect(await withMap.next() == CloneChange(key: "/a/1", value: "one", sequence: 2, snapshot: 1), "the map first")
            try await all.set("/b/2", "other")
            try await all.set("/a/2", "two")
            await Self.waitFor(onlyA, "/a/2", "two")
            #expect(onlyA.values == ["/a/1": "one", "/a/2": "two"])
            try await onlyA.set("/a/3", "three")
            #expect(onlyA["/a/3"] == "three", "set returns once the update is back")
            await all.close()
            await onlyA.close()
            server.cancel()
        }
    }

    @Test("an ephemeral key disappears from every client when its ttl runs out; HUGZ keep a quiet client with its server")
    func ephemeral() async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            let log = EventLog<CloneServerEvent>()
            let server = Self.server(endpoints, in: context, onEvent: log.handler)
            let client = try await Self.client([endpoints], in: context)
            let events = client.events()
            let changes = client.changes()
            try await client.set("/session", "alive", ttl: .milliseconds(300))
            try await client.set("/config", "kept")
            var seen: [CloneChange] = []
            for await change in changes {
                seen.append(change)
                if change.key == "/session", change.value == nil { break }
            }
            #expect(seen.map(\.description) == ["/session=alive", "/config=kept", "/session="])
            #expect(client.values == ["/config": "kept"] && log.count(.keyExpired) == 1)
            // A second's silence would lose the server; HUGZ every 0.1 s keep it.
            try await Task.sleep(for: .seconds(1.5))
            await client.close()
            var kinds: [CloneClientEvent.Kind] = []
            for await event in events { kinds.append(event.kind) }
            #expect(!kinds.contains(.serverLost), "\(kinds)")
            server.cancel()
        }
    }

    @Test("a malformed update from the network is dropped and reported by the server; the map stays and the server goes on")
    func badUpdates() async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            let feed = EventFeed<CloneServerEvent>()
            let server = Self.server(endpoints, in: context, onEvent: feed.handler)
            let client = try await Self.client([endpoints], in: context)
            try await client.set("/k", "v")
            // An XPUB, to see the collector's subscription before sending: a PUB drops until then.
            let raw = try context.socket(.xpub, options: [.linger(.zero)])
            try await raw.connect(endpoints.collector)
            #expect(try await raw.receive().first == Frame([1]))
            try await raw.send(["/k", Frame([0, 1]), "", "", "broken"])
            var dropped: CloneServerEvent?
            for await event in feed.stream where event.kind == .messageDropped {
                dropped = event
                break
            }
            #expect(dropped?.reason == "a sequence number of 2 octets, not 8" && dropped?.dropped == 1)
            try await client.set("/k", "still")
            #expect(client.values == ["/k": "still"])
            raw.close()
            await client.close()
            server.cancel()
        }
    }

    @Test("clients that ask for snapshots and never read hold the server to its snapshot queue and are dropped after the timeout; a client that reads meanwhile takes the whole map, larger than that queue")
    func snapshotsToClientsThatDoNotRead() async throws {
        try await withContext { context in
            // inproc: no kernel buffers, so what a client can read is what the server queued for it.
            let endpoints = CloneEndpoints(snapshot: "inproc://clone-s", publisher: "inproc://clone-p", collector: "inproc://clone-c")
            let feed = EventFeed<CloneServerEvent>()
            var server = CloneServer(endpoints: endpoints)
            server.heartbeat = .milliseconds(100)
            server.snapshotHighWaterMark = 100
            server.snapshotTimeout = .milliseconds(500)
            server.onEvent = feed.handler
            let running = Task { try await server.run(in: context) }
            let writer = try await Self.client([endpoints], in: context)
            let keys = 2_000
            for index in 0..<keys { try await writer.set("/k/\(index)", "v") }
            var stuck: [ZMQSocket] = []
            for _ in 0..<3 {
                let dealer = try context.socket(.dealer, options: [.linger(.zero), .receiveHighWaterMark(100), .receiveTimeout(.milliseconds(300))])
                try await dealer.connect(endpoints.snapshot)
                for _ in 0..<20 { try await dealer.send(CloneProtocol.snapshotRequest(subtree: "")) }
                stuck.append(dealer)
            }
            let reader = try await Self.client([endpoints], in: context)
            #expect(reader.values.count == keys && reader.sequence == writer.sequence)
            var abandoned = 0
            for await event in feed.stream where event.kind == .snapshotAbandoned {
                abandoned += 1
                if abandoned == 3 { break }
            }
            for dealer in stuck {
                // Unbounded, the server would have queued 20 snapshots of 2,000 entries each.
                var received = 0
                while received < 10_000, let message = try? await dealer.receive() {
                    #expect(message[0].string != "KTHXBAI")
                    received += 1
                }
                #expect(received <= 400, "at most the server's queue, the client's and a batch on the way: \(received)")
                dealer.close()
            }
            await writer.close()
            await reader.close()
            running.cancel()
        }
    }

    @Test("a server restarted without a store starts from nothing: its clients see the connection drop, take the new map, and follow it")
    func restartedServer() async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            let first = Self.server(endpoints, in: context)
            let client = try await Self.client([endpoints], in: context)
            let events = client.events()
            try await client.set("/a", "1")
            first.cancel()
            _ = await first.result
            let second = Self.server(endpoints, in: context)
            for await event in events where event.kind == .updatesMissed {
                #expect(event.reason == "the connection to the publisher dropped")
                break
            }
            try await client.set("/b", "2")
            #expect(client.values == ["/b": "2"], "the new server's map, not the old one's")
            await client.close()
            second.cancel()
        }
    }

    @Test("on a store (SQLite in WAL with synchronous FULL, or PostgreSQL), a server stopped and started again serves the same map, and its sequence goes on", arguments: StoreBackEnd.allCases)
    func stored(backEnd: StoreBackEnd) async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            let location = try await backEnd.freshLocation("clone")
            func server() async throws -> Task<Void, any Error> {
                var server = CloneServer(endpoints: endpoints)
                server.heartbeat = .milliseconds(100)
                server.store = try await cloneStore(at: location)
                return Task { try await server.run(in: context) }
            }
            if case .sqlite(let path) = location {
                #expect(try await SQLiteCloneStore(path: path).durability() == SQLiteDurability(journalMode: "wal", synchronous: 2))
            }
            let first = try await server()
            let client = try await Self.client([endpoints], in: context)
            try await client.set("/a", Frame([0, 255]))
            try await client.set("/b", "two", ttl: .seconds(60))
            try await client.set("/c", "three")
            try await client.delete("/c")
            let before = (client.values, client.sequence)
            await client.close()
            first.cancel()
            _ = await first.result
            let second = try await server()
            let again = try await Self.client([endpoints], in: context)
            #expect(again.values == before.0 && again.sequence == before.1 && before.1 == 4)
            #expect(again.entries["/b"]?.properties["ttl"].flatMap(Double.init).map { $0 > 50 && $0 <= 60 } == true,
                    "an ephemeral key keeps its time left")
            try await again.set("/d", "four")
            #expect(again.sequence == 5)
            await again.close()
            second.cancel()
        }
    }

    /// A hand-made server: a ROUTER for snapshots and an XPUB playing the publisher (to see the
    /// subscription); a client of it, and that client's snapshot request.
    static func handMadeServer(in context: ZMQContext) async throws -> (snapshots: ZMQSocket, publisher: ZMQSocket, client: CloneClient, request: Message) {
        let endpoints = Self.endpoints()
        let snapshots = try context.socket(.router)
        try await snapshots.bind(endpoints.snapshot)
        let publisher = try context.socket(.xpub)
        try await publisher.bind(endpoints.publisher)
        let client = try await CloneClient(context, servers: [endpoints], serverTimeout: .seconds(30))
        _ = try await publisher.receive()
        try await publisher.send(CloneProtocol.heartbeat)
        return (snapshots, publisher, client, try await snapshots.receive())
    }

    @Test("a client fed malformed updates by a server drops and counts each, and its map takes only the well-formed ones")
    func badServer() async throws {
        try await withContext { context in
            let (snapshots, publisher, client, request) = try await Self.handMadeServer(in: context)
            #expect(Array(request.frames.dropFirst()) == CloneProtocol.snapshotRequest(subtree: "").frames)
            for reply in [CloneEntry(key: "/k", sequence: 1, value: "v").message, ["/bad", Frame([1, 2, 3]), "", "", "x"],
                          CloneProtocol.snapshotEnd(sequence: 1, subtree: "")] {
                try await snapshots.send(Message([request[0]] + reply.frames))
            }
            try await client.waitUntilSynchronized()
            let changes = client.changes()
            for update: Message in [["/k", Frame([0, 2]), "", "", "broken"], ["/k", Frame([UInt8](repeating: 0, count: 8)), "", "ttl=soon\n", "x"],
                                    CloneEntry(key: "/k2", sequence: 2, value: "fine").message] {
                try await publisher.send(update)
            }
            for await change in changes where change.key == "/k2" { break }
            #expect(client.values == ["/k": "v", "/k2": "fine"] && client.droppedMessages == 3)
            await client.close()
        }
    }

    @Test("a Binary Star pair: the active server stopped while clients write, every client fails over and ends with the survivor's map")
    func pairFailover() async throws {
        try await withContext { context in
            let (first, second) = (Self.endpoints(), Self.endpoints())
            let (state1, state2) = (temporaryIPCEndpoint("clone-state"), temporaryIPCEndpoint("clone-state"))
            func server(_ endpoints: CloneEndpoints, primary: Bool, peer: CloneEndpoints, feed: EventFeed<BinaryStarEvent>) -> Task<Void, any Error> {
                var server = CloneServer(endpoints: endpoints)
                server.heartbeat = .milliseconds(100)
                server.pair = BinaryStarPairing(primary: primary, statePublisher: primary ? state1 : state2, stateSubscriber: primary ? state2 : state1)
                server.pair?.heartbeat = .milliseconds(100)
                server.peer = peer
                server.onPairEvent = feed.handler
                return Task { try await server.run(in: context) }
            }
            let (primaryStates, backupStates) = (EventFeed<BinaryStarEvent>(), EventFeed<BinaryStarEvent>())
            let primary = server(first, primary: true, peer: second, feed: primaryStates)
            let backup = server(second, primary: false, peer: first, feed: backupStates)
            for await event in backupStates.stream where event.state == .passive { break }
            let clients = try await withThrowingTaskGroup(of: CloneClient.self) { group in
                for _ in 0..<3 { group.addTask { try await Self.client([first, second], in: context) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let events = clients.map { $0.events() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        for round in 0..<60 {
                            try await client.set("/c\(index)/\(round % 10)", Frame("\(round)"))
                            if index == 0, round == 20 { primary.cancel() }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for await event in backupStates.stream where event.state == .active { break }
            for stream in events {
                for await event in stream where event.kind == .failedOver {
                    #expect(event.server == second.snapshot)
                    break
                }
            }
            try await clients[0].set("/done", "yes")
            let survivor = try await Self.client([second], in: context)
            for client in clients {
                await Self.waitFor(client, "/done", "yes")
                #expect(client.values == survivor.values)
            }
            #expect(survivor.values.count == 31 && survivor["/c2/9"] == "59")
            for client in clients + [survivor] { await client.close() }
            _ = await primary.result
            backup.cancel()
        }
    }
}
