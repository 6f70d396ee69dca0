import ArgumentParser
import Foundation
import ZMQ

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the exclusive-pair and pipeline topologies over tcp and check what flowed.",
        discussion: "Exits 0 only if every check passed."
    )

    @Option(help: "Round trips between the two PAIR sockets.")
    var roundTrips = 10_000

    @Option(help: "Tasks sent through the pipeline.")
    var tasks = 100_000

    func validate() throws {
        if roundTrips < 1 || tasks < 2 { throw ValidationError("--round-trips must be at least 1 and --tasks at least 2") }
    }

    func run() async throws {
        let context = ZMQContext()
        var checks: [(String, Bool)] = []
        print("swift-zmq demo: two topologies over tcp on loopback\n")
        checks += try await exclusivePair(context)
        print()
        checks += try await pipeline(context)
        await context.shutdown()
        print()
        for (name, passed) in checks { print("\(passed ? "PASS" : "FAIL")  \(name)") }
        guard checks.allSatisfy(\.1) else { throw ExitCode(1) }
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
        await left.close()
        await right.close()
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

        for socket in workerSockets + [source, sink] { await socket.close() }
        for worker in workers { _ = await worker.result }
        return [
            ("pipeline: every task reached the sink exactly once", seen.allSatisfy { $0 } && duplicates == 0),
            ("pipeline: both workers shared the load", perWorker["A", default: 0] > 0 && perWorker["B", default: 0] > 0),
        ]
    }
}
