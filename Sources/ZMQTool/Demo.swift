import ArgumentParser
import Foundation
import ZMQ

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the swift-zmq demos: the four basic topologies (the default), prescriptions processed exactly once, or shared state through a Clone server pair.",
        subcommands: [Topologies.self, Prescriptions.self, CloneDemo.self],
        defaultSubcommand: Topologies.self
    )
}

struct Topologies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the four basic topologies over tcp (exclusive pair, pipeline, publish-subscribe, request-reply), then CURVE security, and check what flowed.",
        discussion: "Exits 0 only if every check passed."
    )

    @Option(help: "Round trips between the two PAIR sockets.")
    var roundTrips = 10_000

    @Option(help: "Tasks sent through the pipeline.")
    var tasks = 100_000

    @Option(help: "Updates published on each topic.")
    var updates = 50_000

    @Option(help: "Requests each of the two clients sends through the broker.")
    var requests = 5_000

    func validate() throws {
        if roundTrips < 1 || tasks < 2 || updates < 1 || requests < 1 {
            throw ValidationError("--round-trips, --updates and --requests must be at least 1, --tasks at least 2")
        }
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        var checks: [(String, Bool)] = []
        print("swift-zmq demo: four topologies over tcp on loopback\n")
        checks += try await exclusivePair(context)
        print()
        checks += try await pipeline(context)
        print()
        checks += try await publishSubscribe(context)
        print()
        checks += try await requestReply(context)
        print()
        checks += try await securePipeline(context)
        await context.shutdown()
        print()
        for (name, passed) in checks { print("\(passed ? "PASS" : "FAIL")  \(name)") }
        guard checks.allSatisfy(\.1) else { throw ExitCode(1) }
    }

    /// CURVE (26/CURVEZMQ): a server that admits one client key; that client's tasks arrive
    /// encrypted, a stranger with a key of its own is refused and none of its tasks arrive.
    private func securePipeline(_ context: ZMQContext) async throws -> [(String, Bool)] {
        guard CurveAvailability.isBuilt else {
            print("CURVE: not built in (build with --traits CURVE and libsodium)")
            return []
        }
        print("CURVE: PULL server admitting one client key <- PUSH client, and a stranger")
        let serverKeys = try CurveKeyPair.generate()
        let clientKeys = try CurveKeyPair.generate()
        var rules = StandardAuthenticator()
        rules.curveClients = .only([clientKeys.publicKey])
        context.setAuthenticator(rules)
        let server = try context.socket(.pull)
        try server.set(.curveServer(serverKeys))
        let endpoint = try await server.bind("tcp://127.0.0.1:*")
        print("  server key \(serverKeys.publicKey), bound \(endpoint)")

        let stranger = try context.socket(.push)
        try stranger.set(.curveServerKey(serverKeys.publicKey))  // a fresh key pair of its own
        try stranger.set(.linger(.zero))
        let strangerEvents = stranger.monitor()
        try await stranger.connect(endpoint)
        try await stranger.send("from the stranger")

        let client = try context.socket(.push)
        try client.set(.curveKeyPair(clientKeys))
        try client.set(.curveServerKey(serverKeys.publicKey))
        try await client.connect(endpoint)
        let count = min(tasks, 10_000)
        let started = ContinuousClock.now
        for index in 0..<count { try await client.send(Message(Frame("task \(index)"))) }
        var inOrder = true
        for index in 0..<count where try await server.receive()[0].string != "task \(index)" { inOrder = false }
        let elapsed = ContinuousClock.now - started
        var refusal: HandshakeFailure?
        for await event in strangerEvents {
            if event.kind == .handshakeFailed { refusal = event.failure; break }
        }
        let rate = Double(count) / (Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
        print("  \(count) encrypted tasks from the admitted client, \(Int(rate)) per second")
        print("  the stranger: \(refusal.map(\.description) ?? "no refusal seen")")
        let strangerGotIn = (try? server.tryReceive()) != nil
        stranger.close()
        client.close()
        server.close()
        context.setAuthenticator(nil)
        return [
            ("CURVE: every task of the admitted client arrived, in order", inOrder),
            ("CURVE: the stranger was refused (status 400) and nothing of it arrived", refusal?.kind == .authentication && refusal?.status == "400" && !strangerGotIn),
        ]
    }

    /// Exclusive pair (31/EXPAIR): two PAIR sockets, one peer each, ping-pong.
    private func exclusivePair(_ context: ZMQContext) async throws -> [(String, Bool)] {
        print("Exclusive pair: PAIR (bind) <-> PAIR (connect), \(roundTrips) round trips")
        let left = try context.socket(.pair)
        let endpoint = try await left.bind("tcp://127.0.0.1:*")
        let right = try context.socket(.pair)
        try await right.connect(endpoint)
        print("  bound \(endpoint)")

        let echo = Task {
            for _ in 0..<roundTrips { try await right.send(try await right.receive()) }
        }
        let started = ContinuousClock.now
        var intact = true
        for index in 0..<roundTrips {
            let ping: Message = ["ping", Frame("\(index)")]
            try await left.send(ping)
            if try await left.receive() != ping { intact = false }
        }
        let elapsed = ContinuousClock.now - started
        try await echo.value
        let microseconds = elapsed / roundTrips / .microseconds(1)
        print("  \(roundTrips) pings answered, \(String(format: "%.1f", microseconds)) µs per round trip")
        left.close()
        right.close()
        return [("exclusive pair: every ping came back unchanged", intact)]
    }

    /// Pipeline (30/PIPELINE): a source, a stage of two workers, a sink.
    private func pipeline(_ context: ZMQContext) async throws -> [(String, Bool)] {
        print("Pipeline: source PUSH -> 2 workers (PULL, PUSH) -> sink PULL, \(tasks) tasks")
        let source = try context.socket(.push)
        let sourceEndpoint = try await source.bind("tcp://127.0.0.1:*")
        let sink = try context.socket(.pull)
        let sinkEndpoint = try await sink.bind("tcp://127.0.0.1:*")
        print("  source \(sourceEndpoint), sink \(sinkEndpoint)")

        var workers: [Task<Void, any Error>] = []
        var workerSockets: [ZMQSocket] = []
        for name in ["A", "B"] {
            let input = try context.socket(.pull)
            let output = try context.socket(.push)
            try await input.connect(sourceEndpoint)
            try await output.connect(sinkEndpoint)
            workerSockets += [input, output]
            workers.append(Task {
                for try await task in input.messages {
                    try await output.send([Frame(name), task[0]])
                }
            })
        }
        // Start only when both workers are connected, so the load is shared from the first task.
        try await source.waitForPeers(2)
        try await sink.waitForPeers(2)

        let started = ContinuousClock.now
        let producer = Task {
            for index in 0..<tasks { try await source.send(Frame("\(index)")) }
        }
        var seen = [Bool](repeating: false, count: tasks)
        var duplicates = 0
        var perWorker: [String: Int] = [:]
        for _ in 0..<tasks {
            let result = try await sink.receive()
            perWorker[result[0].string ?? "?", default: 0] += 1
            if let index = Int(result[1].string ?? ""), index >= 0, index < tasks {
                if seen[index] { duplicates += 1 }
                seen[index] = true
            }
        }
        let elapsed = ContinuousClock.now - started
        try await producer.value
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("  \(tasks) tasks through the pipeline in \(String(format: "%.2f", seconds)) s (\(Int(Double(tasks) / seconds)) tasks/s)")
        print("  worker A did \(perWorker["A", default: 0]), worker B did \(perWorker["B", default: 0])")

        for socket in workerSockets + [source, sink] { socket.close() }
        for worker in workers { _ = await worker.result }
        return [
            ("pipeline: every task reached the sink exactly once", seen.allSatisfy { $0 } && duplicates == 0),
            ("pipeline: both workers shared the load", perWorker["A", default: 0] > 0 && perWorker["B", default: 0] > 0),
        ]
    }

    /// Publish-subscribe (29/PUBSUB): a publisher, two subscribers with different topics, and a
    /// topic nobody subscribes to, which the publisher filters out before it reaches the network.
    private func publishSubscribe(_ context: ZMQContext) async throws -> [(String, Bool)] {
        print("Publish-subscribe: XPUB (bind) -> SUB \"weather.\" + SUB \"sport.\", \(updates) updates per topic")
        // An XPUB sends exactly as a PUB does and also sees the subscriptions arrive, so it can
        // start once both subscribers listen. No high-water mark: this run drops nothing.
        let publisher = try context.socket(.xpub)
        try publisher.set(.sendHighWaterMark(0))
        let endpoint = try await publisher.bind("tcp://127.0.0.1:*")
        print("  bound \(endpoint)")
        var listeners: [Task<(count: Int, inOrder: Bool, onTopic: Bool), any Error>] = []
        var subscribers: [ZMQSocket] = []
        for topic in ["weather.", "sport."] {
            let subscriber = try context.socket(.sub)
            try subscriber.set(.receiveHighWaterMark(0))
            try subscriber.subscribe(topic)
            try await subscriber.connect(endpoint)
            subscribers.append(subscriber)
            listeners.append(Task {
                var count = 0
                var inOrder = true
                var onTopic = true
                for try await update in subscriber.messages {
                    let text = update[0].string ?? ""
                    if text == topic + "end" { break }
                    onTopic = onTopic && text.hasPrefix(topic)
                    inOrder = inOrder && text == topic + "\(count)"
                    count += 1
                }
                return (count, inOrder, onTopic)
            })
        }
        var subscribed = 0
        while subscribed < 2 {
            if try await publisher.receive()[0].bytes.first == 1 { subscribed += 1 }
        }

        let started = ContinuousClock.now
        for index in 0..<updates {
            try await publisher.send(Frame("weather.\(index)"))
            try await publisher.send(Frame("sport.\(index)"))
            try await publisher.send(Frame("news.\(index)"))
        }
        try await publisher.send(Frame("weather.end"))
        try await publisher.send(Frame("sport.end"))
        var results: [(count: Int, inOrder: Bool, onTopic: Bool)] = []
        for listener in listeners { results.append(try await listener.value) }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("  weather got \(results[0].count), sport got \(results[1].count), in \(String(format: "%.2f", seconds)) s (\(Int(Double(2 * updates) / seconds)) deliveries/s)")
        for socket in subscribers + [publisher] { socket.close() }
        return [
            ("publish-subscribe: each subscriber got every update on its topic, in order",
             results.allSatisfy { $0.count == updates && $0.inOrder }),
            ("publish-subscribe: no subscriber got another topic", results.allSatisfy(\.onTopic)),
        ]
    }

    /// Request-reply (28/REQREP): two REQ clients, a ROUTER/DEALER broker (the proxy), two REP
    /// workers. The ROUTER's envelope carries each reply back to the client that asked.
    private func requestReply(_ context: ZMQContext) async throws -> [(String, Bool)] {
        print("Request-reply: 2 REQ -> ROUTER | proxy | DEALER -> 2 REP, \(requests) requests per client")
        let frontend = try context.socket(.router)
        let frontendEndpoint = try await frontend.bind("tcp://127.0.0.1:*")
        let backend = try context.socket(.dealer)
        let backendEndpoint = try await backend.bind("tcp://127.0.0.1:*")
        print("  clients connect to \(frontendEndpoint), workers to \(backendEndpoint)")
        let broker = Task { try await ZMQProxy.run(frontend: frontend, backend: backend) }

        var workers: [Task<Void, any Error>] = []
        var sockets: [ZMQSocket] = []
        for name in ["A", "B"] {
            let worker = try context.socket(.rep)
            try await worker.connect(backendEndpoint)
            sockets.append(worker)
            workers.append(Task {
                while true {
                    let request = try await worker.receive()
                    try await worker.send([Frame(name), request[0]])
                }
            })
        }
        try await backend.waitForPeers(2)

        let started = ContinuousClock.now
        let clients = try ["1", "2"].map { name in
            let client = try context.socket(.req)
            sockets.append(client)
            return Task { () -> (answered: Int, servedBy: Set<String>) in
                try await client.connect(frontendEndpoint)
                var answered = 0
                var servedBy: Set<String> = []
                for index in 0..<requests {
                    let question = "client \(name) request \(index)"
                    try await client.send(Frame(question))
                    let reply = try await client.receive()
                    if reply.count == 2, reply[1].string == question { answered += 1 }
                    servedBy.insert(reply[0].string ?? "?")
                }
                return (answered, servedBy)
            }
        }
        var results: [(answered: Int, servedBy: Set<String>)] = []
        for client in clients { results.append(try await client.value) }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let servedBy = results.reduce(into: Set<String>()) { $0.formUnion($1.servedBy) }
        print("  \(2 * requests) round trips through the broker in \(String(format: "%.2f", seconds)) s, served by workers \(servedBy.sorted().joined(separator: " and "))")

        broker.cancel()
        _ = await broker.result
        for socket in sockets + [frontend, backend] { socket.close() }
        for worker in workers { _ = await worker.result }
        return [
            ("request-reply: every client got the answer to each of its own requests", results.allSatisfy { $0.answered == requests }),
            ("request-reply: both workers served", servedBy == ["A", "B"]),
        ]
    }
}
