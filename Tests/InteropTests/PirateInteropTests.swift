import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// The Pirates against libzmq (pyzmq 27.3.0): Paranoid Pirate peers written in Python from 6/PPP
/// (pirate.py) against our queue and worker, and the Lazy Pirate client against a libzmq REP.
@Suite("Pirate interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct PirateInteropTests {
    static let pirateScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("pirate.py").path

    @Test("a Lazy Pirate client's requests are answered by a libzmq REP, which returns the sequence frame unread")
    func lazyPirateAndLibzmqRep() async throws {
        try await withContext { context in
            let rep = try PythonPeer(["echo", "--type", "REP", "--bind", "tcp://127.0.0.1:*", "--count", "5"])
            let client = LazyPirateClient(context, connectingTo: [try await rep.endpoint()], timeout: .seconds(10))
            for index in 0..<5 {
                let request = Pattern.message(index, shapes: Pattern.parse("1,300"))
                #expect(try await client.request(request) == request)
            }
            try await rep.result()
            await client.close()
        }
    }

    @Test("Python Paranoid Pirate workers behind our queue serve our clients, and their heartbeats keep them known through idle spells")
    func pythonWorkersOurQueue() async throws {
        try await withContext { context in
            let tag = UUID().uuidString.prefix(8)
            let (frontend, backend) = ("ipc://\(NSTemporaryDirectory())zmq-ppq-front-\(tag).sock", "ipc://\(NSTemporaryDirectory())zmq-ppq-back-\(tag).sock")
            var queue = PirateQueue(frontend: frontend, backend: backend)
            queue.heartbeat = .milliseconds(100)
            let log = EventLog(of: PirateQueueEvent.self)
            queue.onEvent = log.handler
            let running = Task { try await queue.run(in: context) }
            defer { running.cancel() }
            let workers = try (0..<2).map { _ in
                try PythonPeer(script: Self.pirateScript, ["worker", "--connect", backend, "--count", "5", "--heartbeat", "100"])
            }
            for worker in workers { _ = try await worker.endpoint() }
            // Both ready before the first request, so the least-recently-used turns give each five.
            while log.count(.workerReady) < 2 { try await Task.sleep(for: .milliseconds(5)) }
            let client = LazyPirateClient(context, connectingTo: [frontend], timeout: .seconds(5), attempts: 3)
            for index in 0..<5 {
                #expect(try await client.request(["job", "\(index)"]) == ["job", "\(index)", "python"])
            }
            // Five times the expiry with nothing to do: heartbeats both ways keep both workers.
            try await Task.sleep(for: .milliseconds(1500))
            #expect(log.count(.workerExpired) == 0, "\(log.all)")
            for index in 5..<10 {
                #expect(try await client.request(["job", "\(index)"]) == ["job", "\(index)", "python"])
            }
            for worker in workers {
                let report = try await worker.result()
                #expect(report["served"] as? Int == 5)
                #expect((report["heartbeats_heard"] as? Int ?? 0) >= 5)
            }
            await client.close()
        }
    }

    @Test("our Paranoid Pirate worker behind a Python queue serves its clients and heartbeats through idle spells")
    func ourWorkerPythonQueue() async throws {
        try await withContext { context in
            let queue = try PythonPeer(script: Self.pirateScript, ["queue", "--count", "10", "--heartbeat", "100"])
            let frontend = try await queue.endpoint()
            let backend = try await queue.endpoint()
            var worker = PirateWorker(connectingTo: backend)
            worker.heartbeat = .milliseconds(100)
            let log = EventLog(of: WorkerEvent.self)
            worker.onEvent = log.handler
            let serving = Task { try await worker.run(in: context) { Message($0.frames + ["swift"]) } }
            defer { serving.cancel() }
            let client = LazyPirateClient(context, connectingTo: [frontend], timeout: .seconds(5), attempts: 3)
            for index in 0..<5 {
                #expect(try await client.request(["job", "\(index)"]) == ["job", "\(index)", "swift"])
            }
            // The Python queue forgets a worker silent for 300 ms: ours must heartbeat to be served.
            try await Task.sleep(for: .milliseconds(1500))
            for index in 5..<10 {
                #expect(try await client.request(["job", "\(index)"]) == ["job", "\(index)", "swift"])
            }
            let report = try await queue.result()
            #expect(report["expired"] as? Int == 0)
            #expect((report["heartbeats_heard"] as? Int ?? 0) >= 10)
            #expect(log.count(.reconnecting) == 0, "the queue's heartbeats kept our worker from dialling again")
            await client.close()
        }
    }
}
