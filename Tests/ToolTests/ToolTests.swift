import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// The `zmq` executable, run as a user would run it.
@Suite("zmq tool", .timeLimit(.minutes(1)))
struct ToolTests {
    /// The tool is built next to the test bundle.
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zmq")

    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    final class Running: @unchecked Sendable {
        let process = Process()
        let output = Pipe()
        let errors = Pipe()
        let input = Pipe()

        /// Runs `zmq arguments`, in the network namespace `namespace` if given (a test host).
        init(_ arguments: [String], namespace: String? = nil) throws {
            if let namespace {
                process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                process.arguments = ["netns", "exec", namespace, ToolTests.executable.path] + arguments
            } else {
                process.executableURL = ToolTests.executable
                process.arguments = arguments
            }
            process.standardOutput = output
            process.standardError = errors
            process.standardInput = input
            try process.run()
        }

        func finish() async -> Run {
            // Wait without blocking a cooperative thread.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    self.process.waitUntilExit()
                    continuation.resume()
                }
            }
            return Run(
                status: process.terminationStatus,
                output: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                errors: String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            )
        }
    }

    static func run(_ arguments: [String]) async throws -> Run {
        let running = try Running(arguments)
        try running.input.fileHandleForWriting.close()
        return await running.finish()
    }



    @Test("recv prints text frames as text and others as hex, tab-separated, then exits 0")
    func receivePrints() async throws {
        let endpoint = temporaryIPCEndpoint()
        let running = try Running(["recv", "--type", "PULL", "--bind", endpoint, "--count", "2"])
        let context = ZMQContext()
        let push = try context.socket(.push)
        try await push.connect(endpoint)
        try await push.send(["hello", Frame([0x00, 0x01]), "wörld"])
        try await push.send(Message(Frame("tab\there")))
        let run = await running.finish()
        await context.shutdown()
        #expect(run.status == 0)
        #expect(run.output == "hello\t0x0001\twörld\n0x7461620968657265\n")
    }

    @Test("recv --type SUB prints only the subscribed topics")
    func receiveSubscribes() async throws {
        let endpoint = temporaryIPCEndpoint()
        let context = ZMQContext()
        let publisher = try context.socket(.xpub)
        try await publisher.bind(endpoint)
        let running = try Running(["recv", "--type", "SUB", "--connect", endpoint, "--subscribe", "a", "--subscribe", "c", "--count", "2"])
        // The XPUB hears both subscriptions before anything is published.
        for _ in 0..<2 { _ = try await publisher.receive() }
        for text in ["a1", "b1", "c1"] { try await publisher.send(Message(Frame(text))) }
        let run = await running.finish()
        await context.shutdown()
        #expect(run.status == 0)
        #expect(run.output == "a1\nc1\n")
    }

    @Test("proxy forwards from its frontend to its backend and exits 0 on SIGTERM")
    func proxy() async throws {
        let (inward, outward) = (temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let running = try Running(["proxy", "--frontend", "PULL", "--frontend-bind", inward, "--backend", "PUSH", "--backend-bind", outward])
        let context = ZMQContext()
        let source = try context.socket(.push)
        let sink = try context.socket(.pull)
        try sink.set(.receiveTimeout(.seconds(10)))
        try await source.connect(inward)
        try await sink.connect(outward)
        for text in ["one", "two", "three"] { try await source.send(Message(Frame(text))) }
        var got: [Message] = []
        for _ in 0..<3 { got.append(try await sink.receive()) }
        running.process.terminate()
        let run = await running.finish()
        await context.shutdown()
        #expect(got == ["one", "two", "three"])
        #expect(run.status == 0, "stderr was: \(run.errors)")
    }

    @Test("proxy --trace prints each subscription, message and unsubscription that passes, with its direction")
    func proxyTrace() async throws {
        let (inward, outward) = (temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let running = try Running(["proxy", "--frontend", "XSUB", "--frontend-bind", inward, "--backend", "XPUB", "--backend-bind", outward, "--trace"])
        let lines = BinaryStarToolTests.Lines(running.output.fileHandleForReading)
        let context = ZMQContext()
        let publisher = try context.socket(.xpub)
        let subscriber = try context.socket(.sub)
        try await publisher.connect(inward)
        try await subscriber.connect(outward)
        try subscriber.subscribe("news")
        #expect(await lines.waitFor("backend>frontend\tsubscribe\tnews").count == 1)
        _ = try await publisher.receive()
        try await publisher.send(["news", Frame([0, 1])])
        #expect(await lines.waitFor("frontend>backend\tmessage\tnews\t0x0001").count == 1)
        try subscriber.unsubscribe("news")
        #expect(await lines.waitFor("backend>frontend\tunsubscribe\tnews").count == 1)
        running.process.terminate()
        let run = await running.finish()
        #expect(run.status == 0, "exit \(run.status), stderr was: \(run.errors)")
        await context.shutdown()
    }

    @Test("proxy with CURVE on its frontend, PLAIN on its backend and --max-message-size: each side admits only its own, and a message over the size is dropped with its sender's connection")
    func secureProxy() async throws {
        let directory = NSTemporaryDirectory() + "zmq-proxy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await Self.run(["keygen", "--out", directory + "/server"])
        let serverKey = try Certificate.load(path: directory + "/server").publicKey
        try "worker=secret\n".write(toFile: directory + "/passwords", atomically: true, encoding: .utf8)
        let (inward, outward) = (temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let running = try Running(["proxy", "--frontend", "PULL", "--frontend-bind", inward, "--backend", "PUSH", "--backend-bind", outward,
                                   "--frontend-curve-server", "--frontend-curve-cert", directory + "/server_secret",
                                   "--backend-plain-server", "--backend-plain-passwords", directory + "/passwords",
                                   "--max-message-size", "16"])
        let context = ZMQContext()
        let source = try context.socket(.push)
        try source.set(.curveServerKey(serverKey))
        try source.set(.curveKeyPair(try CurveKeyPair.generate()))
        let sourceEvents = source.monitor()
        let sink = try context.socket(.pull)
        try sink.set(.plainUsername("worker"))
        try sink.set(.plainPassword("secret"))
        try sink.set(.receiveTimeout(.seconds(20)))
        // A backend client with the wrong password is refused: it never takes a message.
        let intruder = try context.socket(.pull)
        try intruder.set(.plainUsername("worker"))
        try intruder.set(.plainPassword("guess"))
        let intruderEvents = intruder.monitor()
        try await intruder.connect(outward)
        let refused = await nextEvent(intruderEvents) { $0.kind == .handshakeFailed }
        #expect(refused?.failure?.kind == .authentication && refused?.failure?.status == "400")
        try await source.connect(inward)
        try await sink.connect(outward)
        try await source.send("through CURVE")
        #expect(try await sink.receive() == ["through CURVE"])
        try await source.send("longer than sixteen octets")
        _ = await nextEvent(sourceEvents) { $0.kind == .disconnected }
        try await source.send("short again")
        #expect(try await sink.receive() == ["short again"])
        #expect((try? intruder.tryReceive()) == nil)
        running.process.terminate()
        let run = await running.finish()
        await context.shutdown()
        #expect(run.status == 0, "stderr was: \(run.errors)")
    }

    @Test("proxy --control takes STATISTICS and TERMINATE, as zmq_proxy_steerable does, and exits 0")
    func steerableProxy() async throws {
        let (inward, outward, control) = (temporaryIPCEndpoint(), temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let running = try Running(["proxy", "--frontend", "PULL", "--frontend-bind", inward, "--backend", "PUSH",
                                   "--backend-bind", outward, "--control", control])
        let context = ZMQContext()
        let source = try context.socket(.push)
        let sink = try context.socket(.pull)
        let steer = try context.socket(.req)
        for socket in [sink, steer] { try socket.set(.receiveTimeout(.seconds(10))) }
        try await source.connect(inward)
        try await sink.connect(outward)
        try await steer.connect(control)
        try await source.send("through")
        #expect(try await sink.receive() == ["through"])
        try await steer.send("STATISTICS")
        let counters = try await steer.receive().map { $0.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } }
        #expect(counters == [1, 7, 0, 0, 0, 0, 1, 7])
        try await steer.send("TERMINATE")
        #expect(try await steer.receive() == [Frame()])
        let run = await running.finish()
        await context.shutdown()
        #expect(run.status == 0, "stderr was: \(run.errors)")
    }

    @Test("recv says on standard error why it dropped a peer whose message was over the 64 MiB default, naming --max-message-size, and goes on")
    func receiveReportsTooLarge() async throws {
        let endpoint = temporaryIPCEndpoint()
        let running = try Running(["recv", "--type", "PULL", "--bind", endpoint, "--count", "1"])
        let context = ZMQContext()
        let push = try context.socket(.push)
        let events = push.monitor()
        try await push.connect(endpoint)
        try await push.send(Message(Frame([UInt8](repeating: 7, count: 64 << 20 + 1))))
        _ = await nextEvent(events) { $0.kind == .disconnected }
        try await push.send("small enough")
        let run = await running.finish()
        await context.shutdown()
        #expect(run.status == 0)
        #expect(run.output == "small enough\n")
        #expect(run.errors.contains("exceeds the maximum message size of 67108864"), "stderr was: \(run.errors)")
        #expect(run.errors.contains("--max-message-size"), "stderr was: \(run.errors)")
    }

    @Test("recv says on standard error that it refused a peer whose READY was malformed")
    func receiveReportsMalformedReady() async throws {
        let port = Int.random(in: 20_000..<60_000)
        let endpoint = "tcp://127.0.0.1:\(port)"
        let running = try Running(["recv", "--type", "PULL", "--bind", endpoint, "--count", "1"])
        let context = ZMQContext()
        let push = try context.socket(.push)
        let events = push.monitor()
        try await push.connect(endpoint)
        _ = await nextEvent(events) { $0.kind == .handshakeSucceeded }
        // A peer whose READY property claims more octets than the command holds.
        let python = ProcessInfo.processInfo.environment["SWIFT_ZMQ_PYTHON"] ?? "python3"
        let raw = Process()
        raw.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        raw.arguments = [python, "-c", """
            import socket, sys
            peer = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            greeting = b"\\xff" + b"\\x00" * 8 + b"\\x01\\x7f\\x03\\x01" + b"NULL".ljust(20, b"\\x00") + b"\\x00" * 32
            peer.sendall(greeting + b"\\x04\\x1a\\x05READY\\x0bSocket-Type\\x00\\x00\\x00\\x40PUSH")
            while peer.recv(4096):
                pass
            """, String(port)]
        try raw.run()
        raw.waitUntilExit()
        try await push.send("after it")
        let run = await running.finish()
        await context.shutdown()
        #expect(run.status == 0)
        #expect(run.errors.contains("handshake failed"), "stderr was: \(run.errors)")
    }

    @Test("recv prints a large binary frame as hex with little more memory than the frame itself")
    func receiveLargeBinaryFrame() async throws {
        let endpoint = temporaryIPCEndpoint()
        let output = NSTemporaryDirectory() + "zmq-tool-hex-\(getpid()).txt"
        defer { unlink(output) }
        // Python runs the tool and reports the largest resident size any of its children reached.
        let python = ProcessInfo.processInfo.environment["SWIFT_ZMQ_PYTHON"] ?? "python3"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", """
            import resource, subprocess, sys
            status = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "wb")).returncode
            print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """, output, Self.executable.path, "recv", "--type", "PULL", "--bind", endpoint, "--count", "1"]
        let report = Pipe()
        process.standardOutput = report
        try process.run()
        let context = ZMQContext()
        let push = try context.socket(.push)
        try await push.connect(endpoint)
        let size = 32 << 20
        try await push.send(Message(Frame([UInt8](repeating: 0xAB, count: size))))
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                process.waitUntilExit()
                continuation.resume()
            }
        }
        await context.shutdown()
        let fields = String(decoding: report.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ")
        #expect(fields.first == "0")
        let peakKiB = Int(fields.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? .max
        print("hex: peak \(peakKiB) KiB")
        // The frame is 32 MiB and its hex 64 MiB; a string per octet took 19 times the frame.
        #expect(peakKiB < 3 * (size >> 10), "peak resident size \(peakKiB) KiB")
        let printed = try Data(contentsOf: URL(fileURLWithPath: output))
        #expect(printed.count == 2 + 2 * size + 1)
        #expect(printed.prefix(6) == Data("0xabab".utf8))
    }

    @Test("recv --max-message-size disconnects a peer whose message is larger")
    func receiveMaxMessageSize() async throws {
        let endpoint = temporaryIPCEndpoint()
        let running = try Running(["recv", "--type", "PULL", "--bind", endpoint, "--count", "1", "--max-message-size", "10"])
        let context = ZMQContext()
        let push = try context.socket(.push)
        let events = push.monitor()
        try await push.connect(endpoint)
        try await push.send("this message is longer than ten octets")
        // The tool drops the connection; the message is gone with it, and the next one arrives.
        for await event in events { if event.kind == .disconnected { break } }
        try await push.send("short")
        let run = await running.finish()
        await context.shutdown()
        #expect(run.status == 0)
        #expect(run.output == "short\n")
    }

    @Test("keygen prints a matching Z85 key pair, or writes a certificate pair")
    func keygen() async throws {
        let run = try await Self.run(["keygen"])
        #expect(run.status == 0, "\(run.errors)")
        let lines = run.output.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("public: ") && lines[1].hasPrefix("secret: "))
        let publicKey = try CurvePublicKey(z85: String(lines[0].dropFirst(8)))
        let secretKey = try CurveSecretKey(z85: String(lines[1].dropFirst(8)))
        #expect(try CurveKeyPair(secretKey: secretKey).publicKey == publicKey)

        let directory = NSTemporaryDirectory() + "zmq-keygen-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await Self.run(["keygen", "--out", directory + "/server"]).status == 0)
        let written = try Certificate.load(path: directory + "/server_secret")
        #expect(try Certificate.load(path: directory + "/server").publicKey == written.publicKey)
        #expect(written.secretKey != nil)
    }

    @Test("recv and send under CURVE: an admitted client's messages arrive, an unknown key's do not")
    func curveSendReceive() async throws {
        let directory = NSTemporaryDirectory() + "zmq-curve-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/clients", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await Self.run(["keygen", "--out", directory + "/server"])
        // The server admits the certificates in clients/, written there by keygen as they are.
        _ = try await Self.run(["keygen", "--out", directory + "/clients/client"])
        let serverKey = try Certificate.load(path: directory + "/server").publicKey.z85

        let endpoint = temporaryIPCEndpoint()
        let receiving = try Running(["recv", "--type", "PULL", "--bind", endpoint, "--count", "1", "--timeout", "20",
                                     "--curve-server", "--curve-cert", directory + "/server_secret", "--curve-allow", directory + "/clients"])
        // A fresh key of its own: refused, so its message never leaves its queue.
        let stranger = try Running(["send", "--type", "PUSH", "--connect", endpoint, "--curve-server-key=" + serverKey, "from a stranger"])
        defer { stranger.process.terminate() }
        let admitted = try await Self.run(["send", "--type", "PUSH", "--connect", endpoint, "--curve-server-key=" + serverKey,
                                           "--curve-cert", directory + "/clients/client", "from the client"])
        #expect(admitted.status == 0, "\(admitted.errors)")
        let run = await receiving.finish()
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output == "from the client\n")
    }

    @Test("a CURVE server with --curve-allow '*', or with no --curve-allow, admits a client with any key", arguments: [["--curve-allow", "*"], []])
    func curveAllowAny(allow: [String]) async throws {
        let directory = NSTemporaryDirectory() + "zmq-curve-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await Self.run(["keygen", "--out", directory + "/server"])
        let serverKey = try Certificate.load(path: directory + "/server").publicKey.z85
        let endpoint = temporaryIPCEndpoint()
        let receiving = try Running(["recv", "--type", "PULL", "--bind", endpoint, "--count", "1", "--timeout", "20",
                                     "--curve-server", "--curve-cert", directory + "/server_secret"] + allow)
        // No certificate: the client makes a fresh key pair that nobody has seen.
        let sent = try await Self.run(["send", "--type", "PUSH", "--connect", endpoint, "--curve-server-key=" + serverKey, "from anyone"])
        #expect(sent.status == 0, "\(sent.errors)")
        let run = await receiving.finish()
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output == "from anyone\n")
    }

    @Test("req prints the reply to its request; rep prints each request and answers with its frames, or echoes, and exits 0 on SIGINT")
    func reqRep() async throws {
        let endpoint = temporaryIPCEndpoint()
        let answering = try Running(["rep", "--bind", endpoint, "--count", "2", "--reply", "ok", "0xff"])
        // The request waits for the server to bind: the client dials until it does.
        let first = try await Self.run(["req", "--connect", endpoint, "--timeout", "10", "hello", "world"])
        #expect(first.status == 0, "\(first.errors)")
        #expect(first.output == "ok\t0xff\n")
        let second = try await Self.run(["req", "--connect", endpoint, "--timeout", "10", "0x0102"])
        #expect(second.output == "ok\t0xff\n")
        let served = await answering.finish()
        #expect(served.status == 0, "\(served.errors)")
        #expect(served.output == "hello\tworld\n0x0102\n")

        let echoEndpoint = temporaryIPCEndpoint()
        let echoing = try Running(["rep", "--bind", echoEndpoint])
        let echoed = try await Self.run(["req", "--connect", echoEndpoint, "--timeout", "10", "same", "frames"])
        #expect(echoed.output == "same\tframes\n")
        // Without --count it serves until SIGINT, and exits 0.
        echoing.process.interrupt()
        #expect(await echoing.finish().status == 0)
    }

    @Test("req exits 1 after its retries when nobody answers, and says so")
    func reqGivesUp() async throws {
        let endpoint = temporaryIPCEndpoint()
        let run = try await Self.run(["req", "--connect", endpoint, "--timeout", "0.1", "--retries", "2", "anyone?"])
        #expect(run.status == 1)
        #expect(run.output.isEmpty)
        #expect(run.errors.contains("no reply after 2 attempts of 0.1 seconds each"), "\(run.errors)")
    }

    @Test("recv and send under PLAIN with a password file")
    func plainSendReceive() async throws {
        let passwords = NSTemporaryDirectory() + "zmq-passwords-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try "# users\nadmin=secret\n".write(toFile: passwords, atomically: true, encoding: .utf8)
        defer { unlink(passwords) }
        let endpoint = temporaryIPCEndpoint()
        let receiving = try Running(["recv", "--type", "PULL", "--bind", endpoint, "--count", "1", "--timeout", "20",
                                     "--plain-server", "--plain-passwords", passwords])
        let sent = try await Self.run(["send", "--type", "PUSH", "--connect", endpoint, "--plain-user", "admin", "--plain-password", "secret", "hello"])
        #expect(sent.status == 0, "\(sent.errors)")
        let run = await receiving.finish()
        #expect(run.output == "hello\n")
    }

    @Test("recv exits 1 when the timeout passes first")
    func receiveTimesOut() async throws {
        let run = try await Self.run(["recv", "--type", "PULL", "--bind", temporaryIPCEndpoint(), "--count", "1", "--timeout", "0.2"])
        #expect(run.status == 1)
        #expect(run.output.isEmpty)
    }

    @Test("send sends the frames --count times and exits once they are on the wire")
    func sendFrames() async throws {
        let context = ZMQContext()
        let pull = try context.socket(.pull)
        let endpoint = try await pull.bind("tcp://127.0.0.1:*")
        let run = try await Self.run(["send", "--type", "PUSH", "--connect", endpoint, "--count", "3", "job", "0xff00"])
        #expect(run.status == 0)
        for _ in 0..<3 {
            let message = try await pull.receive()
            #expect(message.map(\.bytes) == [Array("job".utf8), [0xFF, 0x00]])
        }
        await context.shutdown()
    }

    @Test("send with no frames sends each line of standard input")
    func sendLines() async throws {
        let context = ZMQContext()
        let pull = try context.socket(.pull)
        let endpoint = try await pull.bind("tcp://127.0.0.1:*")
        let running = try Running(["send", "--type", "PUSH", "--connect", endpoint])
        running.input.fileHandleForWriting.write(Data("first\nsecond line\n".utf8))
        try running.input.fileHandleForWriting.close()
        let run = await running.finish()
        #expect(run.status == 0)
        #expect(try await pull.receive().map(\.string) == ["first"])
        #expect(try await pull.receive().map(\.string) == ["second line"])
        await context.shutdown()
    }

    @Test("usage errors exit 2 with a message that says what is wrong", arguments: [
        (["recv", "--type", "PULL"], "exactly one of --bind"),
        (["recv", "--type", "PULL", "--bind", "tcp://*:1", "--connect", "tcp://a:1"], "exactly one of --bind"),
        (["recv", "--type", "SPOON", "--bind", "tcp://*:1"], "unknown socket type 'SPOON'"),
        (["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:99999"], "port '99999'"),
        (["recv", "--type", "PULL", "--connect", "pgm://x:1"], "unknown transport 'pgm'"),
        (["send", "--type", "PUSH", "--connect", "tcp://127.0.0.1:1", "0xzz"], "not valid hex"),
        (["recv", "--type", "PULL", "--bind", "tcp://*:1", "--count", "0"], "--count must be at least 1"),
        (["recv", "--type", "PULL", "--bind", "tcp://*:1", "--max-message-size=-1"], "--max-message-size must not be negative"),
        (["recv", "--type", "PULL", "--bind", "tcp://*:1", "--subscribe", "a"], "--subscribe needs --type SUB or XSUB"),
        (["frobnicate"], "Unexpected argument"),
        (["recv", "--type", "PULL", "--bind", "tcp://*:1", "--curve-server"], "--curve-server needs --curve-cert FILE"),
        (["recv", "--type", "PULL", "--bind", "tcp://*:1", "--plain-server"], "--plain-server needs --plain-passwords FILE"),
        (["send", "--type", "PUSH", "--connect", "tcp://127.0.0.1:1", "--curve-server-key", "short"], "40 characters"),
        (["proxy", "--frontend", "PULL", "--frontend-bind", "tcp://*:1", "--backend", "PUSH", "--backend-bind", "tcp://*:2",
          "--frontend-curve-server"], "--frontend-curve-server needs --frontend-curve-cert FILE"),
        (["proxy", "--frontend", "XSUB", "--backend", "XPUB", "--backend-bind", "tcp://*:1"], "exactly one of --frontend-bind"),
        (["proxy", "--frontend", "SUB", "--frontend-bind", "tcp://127.0.0.1:*", "--backend", "PULL", "--backend-bind", "tcp://127.0.0.1:*"],
         "pass nothing between them"),
    ])
    func usageErrors(arguments: [String], message: String) async throws {
        let run = try await Self.run(arguments)
        #expect(run.status == 2)
        #expect(run.errors.contains(message), "stderr was: \(run.errors)")
    }

    @Test("demo runs the four topologies and exits 0 when every check passed")
    func demo() async throws {
        let run = try await Self.run(["demo", "--tasks", "2000", "--round-trips", "200", "--updates", "500", "--requests", "200"])
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(run.output.contains("PASS  exclusive pair: every ping came back unchanged"))
        #expect(run.output.contains("PASS  pipeline: every task reached the sink exactly once"))
        #expect(run.output.contains("PASS  pipeline: both workers shared the load"))
        #expect(run.output.contains("PASS  publish-subscribe: each subscriber got every update on its topic, in order"))
        #expect(run.output.contains("PASS  publish-subscribe: no subscriber got another topic"))
        #expect(run.output.contains("PASS  request-reply: every client got the answer to each of its own requests"))
        #expect(run.output.contains("PASS  request-reply: both workers served"))
        #expect(run.output.contains("PASS  CURVE: every task of the admitted client arrived, in order"))
        #expect(run.output.contains("PASS  CURVE: the stranger was refused (status 400) and nothing of it arrived"))
        #expect(!run.output.contains("FAIL"))
    }
}
