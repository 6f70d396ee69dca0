import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// `zmq send` and `zmq recv` with every classic socket type, each against a swift-zmq peer of a
/// type it can talk to, and `recv | send` relaying messages unchanged.
@Suite("zmq send and recv with every socket type", .timeLimit(.minutes(1)))
struct ToolSocketTypeTests {
    typealias Running = ToolTests.Running

    /// recv with each type that can receive, and the peer that sends to it.
    @Test("recv prints what a peer of each type sends it", arguments: [
        ("PAIR", SocketType.pair), ("PULL", .push), ("SUB", .pub), ("XSUB", .xpub), ("XPUB", .sub),
        ("DEALER", .dealer), ("ROUTER", .dealer), ("REP", .req),
    ])
    func receive(type: String, peerType: SocketType) async throws {
        let context = ZMQContext()
        let peer = try context.socket(peerType, options: peerType == .dealer ? [.routingID(Array("peer".utf8)), .linger(.zero)] : [.linger(.zero)])
        let endpoint = try await peer.bind("tcp://127.0.0.1:*")
        let running = try Running(["recv", "--type", type, "--connect", endpoint, "--count", "1", "--timeout", "20"])
        let expected: String
        switch peerType {
        case .sub:
            // An XPUB receives the subscription, as 0x01 and the topic.
            try peer.subscribe("t")
            expected = "0x0174"
        case .pub, .xpub:
            if peerType == .xpub { _ = try await peer.receive() }  // the XSUB's subscription
            let sending = Task { while !Task.isCancelled { try? peer.trySend(["news", "0"]); await Task.yield() } }
            let run = await running.finish()
            sending.cancel()
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == "news\t0\n")
            await context.shutdown()
            return
        case .req:
            try await peer.send(["hello", "rep"])
            expected = "hello\trep"
            #expect(try await peer.receive() == [""])  // the REP's empty answer
        default:
            try await peer.send(["hello", Frame([0, 1])])
            expected = type == "ROUTER" ? "peer\thello\t0x0001" : "hello\t0x0001"
        }
        let run = await running.finish()
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output == expected + "\n")
        await context.shutdown()
    }

    /// send with each type that can send, and the peer that receives from it.
    @Test("send delivers to a peer of each type", arguments: [
        ("PAIR", SocketType.pair), ("PUSH", .pull), ("DEALER", .router), ("ROUTER", .dealer), ("REQ", .rep),
        ("XSUB", .xpub), ("PUB", .sub), ("XPUB", .xsub),
    ])
    func send(type: String, peerType: SocketType) async throws {
        let context = ZMQContext()
        let peer = try context.socket(peerType, options: peerType == .dealer ? [.routingID(Array("D".utf8)), .linger(.zero)] : [.linger(.zero)])
        let endpoint = try await peer.bind("tcp://127.0.0.1:*")
        switch type {
        case "ROUTER":
            let run = try await ToolTests.run(["send", "--type", "ROUTER", "--connect", endpoint, "D", "to you"])
            #expect(run.status == 0, "\(run.errors)")
            #expect(try await peer.receive() == ["to you"])
        case "REQ":
            let running = try Running(["send", "--type", "REQ", "--connect", endpoint, "--timeout", "20", "question"])
            try running.input.fileHandleForWriting.close()
            #expect(try await peer.receive() == ["question"])
            try await peer.send(["answer", Frame([0xff])])
            let run = await running.finish()
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == "answer\t0xff\n")
        case "XSUB":
            let run = try await ToolTests.run(["send", "--type", "XSUB", "--connect", endpoint, "0x0174"])
            #expect(run.status == 0, "\(run.errors)")
            #expect(try await peer.receive() == Message(Frame([1, 0x74])))
        case "PUB", "XPUB":
            if peerType == .sub { try peer.subscribe("") } else { try await peer.send(Message(Frame([1]))) }
            // Fed a line every 20 ms until the subscriber has one: what is published before its
            // subscription arrives is missed, by design.
            let running = try Running(["send", "--type", type, "--connect", endpoint])
            let feeding = Task.detached {
                while running.process.isRunning {
                    // Throws, rather than traps, once the tool has gone.
                    guard (try? running.input.fileHandleForWriting.write(contentsOf: Data("news\n".utf8))) != nil else { return }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            #expect(try await peer.receive() == ["news"])
            feeding.cancel()
            try? running.input.fileHandleForWriting.close()
            let run = await running.finish()
            #expect(run.status == 0, "\(run.errors)")
        default:
            let run = try await ToolTests.run(["send", "--type", type, "--connect", endpoint, "one", "0x00"])
            #expect(run.status == 0, "\(run.errors)")
            // A ROUTER receives the DEALER's routing id first.
            let message = try await peer.receive()
            #expect(message.count == (type == "DEALER" ? 3 : 2))
            #expect(Array(message.frames.suffix(2)) == ["one", Frame([0])])
        }
        await context.shutdown()
    }

    @Test("recv --type STREAM prints [routing id, data] as a ROUTER does, the connect notice included")
    func receiveStream() async throws {
        let context = ZMQContext()
        let server = try context.socket(.stream, options: [.linger(.zero)])
        let endpoint = try await server.bind("tcp://127.0.0.1:*")
        let running = try Running(["recv", "--type", "STREAM", "--connect", endpoint, "--count", "2", "--timeout", "20"])
        let client = try await server.receive()[0]
        try await server.send([client, "hello\r\n"])
        let run = await running.finish()
        #expect(run.status == 0, "\(run.errors)")
        let lines = run.output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty)
        let id = lines[0].dropLast()
        #expect(lines[0].hasPrefix("0x00") && lines[0].count == 13 && lines[0].hasSuffix("\t"), "a 5-octet id and an empty frame: \(run.output)")
        #expect(lines[1] == id + "\t0x68656c6c6f0d0a")
        await context.shutdown()
    }

    @Test("send --type STREAM --connect writes every frame to its one connection, then closes it")
    func sendStream() async throws {
        let context = ZMQContext()
        let server = try context.socket(.stream, options: [.linger(.zero)])
        let endpoint = try await server.bind("tcp://127.0.0.1:*")
        let run = try await ToolTests.run(["send", "--type", "STREAM", "--connect", endpoint, "GET / HTTP/1.0", "0x0d0a0d0a"])
        #expect(run.status == 0, "\(run.errors)")
        let client = try await server.receive()[0]
        var request = ""
        while true {
            let part = try await server.receive()
            #expect(part[0] == client)
            if part[1].isEmpty { break }  // the tool closed its connection
            request += part[1].string ?? ""
        }
        #expect(request == "GET / HTTP/1.0\r\n\r\n")
        await context.shutdown()
    }

    @Test("recv --type DISH prints group and body for the groups it joins; send --type RADIO sends to --group over udp")
    func radioDish() async throws {
        let context = ZMQContext()
        let radio = try context.socket(.radio, options: [.linger(.zero)])
        let endpoint = try await radio.bind("tcp://127.0.0.1:*")
        let running = try Running(["recv", "--type", "DISH", "--connect", endpoint, "--group", "weather", "--group", "", "--count", "3", "--timeout", "20"])
        // A RADIO drops what it sends before the DISH's JOINs arrive: feed until it has three.
        // Three lines from rounds of one message per group hold both joined groups, whichever
        // JOIN the RADIO took first.
        let feeding = Task {
            while !Task.isCancelled {
                for (group, body) in [("", "plain"), ("sports", "goal"), ("weather", "sunny")] {
                    var message = Message(Frame(body))
                    message.group = group
                    try? radio.trySend(message)
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let run = await running.finish()
        feeding.cancel()
        #expect(run.status == 0, "\(run.errors)")
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && Set(lines) == ["weather\tsunny", "\tplain"], "\(run.output)")

        let dish = try context.socket(.dish, options: [.linger(.zero)])
        try dish.join("news")
        let udp = try await dish.bind("udp://127.0.0.1:*")
        let sent = try await ToolTests.run(["send", "--type", "RADIO", "--connect", udp, "--group", "news", "extra"])
        #expect(sent.status == 0, "\(sent.errors)")
        let heard = try await dish.receive()
        #expect(heard == ["extra"] && heard.group == "news")
        await context.shutdown()
    }

    @Test("SERVER prints the routing id in decimal; a connecting PEER sends to its peer; DGRAM prints the sender's address")
    func routedTypes() async throws {
        let context = ZMQContext()
        let client = try context.socket(.client, options: [.linger(.zero)])
        let endpoint = try await client.bind("tcp://127.0.0.1:*")
        let running = try Running(["recv", "--type", "SERVER", "--connect", endpoint, "--count", "1", "--timeout", "20"])
        try await client.send("hi")
        let run = await running.finish()
        #expect(run.status == 0, "\(run.errors)")
        let fields = run.output.dropLast().split(separator: "\t")
        #expect(fields.count == 2 && UInt32(fields[0]) != nil && fields[1] == "hi", "\(run.output)")

        let peer = try context.socket(.peer, options: [.linger(.zero)])
        let peerEndpoint = try await peer.bind("tcp://127.0.0.1:*")
        let sent = try await ToolTests.run(["send", "--type", "PEER", "--connect", peerEndpoint, "hello peer"])
        #expect(sent.status == 0, "\(sent.errors)")
        let hello = try await peer.receive()
        #expect(hello == ["hello peer"] && hello.routingID != nil)

        let dgram = try context.socket(.dgram, options: [.linger(.zero)])
        let ours = try await dgram.bind("udp://127.0.0.1:*")
        let port = unusedTCPPort()
        let receiving = try Running(["recv", "--type", "DGRAM", "--bind", "udp://127.0.0.1:\(port)", "--count", "1", "--timeout", "20"])
        // Sent until the tool has bound and heard one: a datagram before its bind is lost.
        let feeding = Task {
            while !Task.isCancelled {
                try? await dgram.send([Frame("127.0.0.1:\(port)"), "ping"])
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let received = await receiving.finish()
        feeding.cancel()
        #expect(received.status == 0, "\(received.errors)")
        #expect(received.output == String(ours.dropFirst("udp://".count)) + "\tping\n")
        await context.shutdown()
    }

    @Test("send --type RADIO without --group sends to the empty group, which a DISH joins with \"\"")
    func radioEmptyGroup() async throws {
        let context = ZMQContext()
        let dish = try context.socket(.dish, options: [.linger(.zero)])
        try dish.join("")
        let endpoint = try await dish.bind("udp://127.0.0.1:*")
        let sent = try await ToolTests.run(["send", "--type", "RADIO", "--connect", endpoint, "plain"])
        #expect(sent.status == 0, "\(sent.errors)")
        let heard = try await dish.receive()
        #expect(heard == ["plain"] && heard.group == "")
        await context.shutdown()
    }

    @Test("recv --type PEER prints the sender's routing id in decimal, then the body, whether it connects or binds")
    func receivePeer() async throws {
        let context = ZMQContext()
        // A bound PEER cannot name a peer that has not spoken to it, so the one the tool connects
        // to is written by hand on a STREAM (23/ZMTP, 51/P2P): greeting, READY, one message.
        let raw = try context.socket(.stream, options: [.linger(.zero)])
        let endpoint = try await raw.bind("tcp://127.0.0.1:*")
        let running = try Running(["recv", "--type", "PEER", "--connect", endpoint, "--count", "1", "--timeout", "20"])
        let tool = try await raw.receive()[0]  // the connect notice
        let zeros = { (count: Int) in [UInt8](repeating: 0, count: count) }
        let greeting = [0xff] + zeros(8) + [0x7f, 3, 1] + Array("NULL".utf8) + zeros(16) + [0] + zeros(31)
        let ready = [5] + Array("READY".utf8) + [11] + Array("Socket-Type".utf8) + [0, 0, 0, 4] + Array("PEER".utf8)
        try await raw.send([tool, Frame(greeting + [0x04, UInt8(ready.count)] + ready + [0x00, 5] + Array("hello".utf8))])
        let connected = await running.finish()
        #expect(connected.status == 0, "\(connected.errors)")
        let fields = connected.output.dropLast().split(separator: "\t", omittingEmptySubsequences: false)
        #expect(fields.count == 2 && (UInt32(fields[0]) ?? 0) != 0 && fields[1] == "hello", "\(connected.output)")

        let port = unusedTCPPort()
        let receiving = try Running(["recv", "--type", "PEER", "--bind", "tcp://127.0.0.1:\(port)", "--count", "1", "--timeout", "20"])
        let peer = try context.socket(.peer, options: [.linger(.zero)])
        // Queued until the connection is up: connectPeer retries until the tool has bound.
        let id = try await peer.connectPeer("tcp://127.0.0.1:\(port)")
        var message = Message(Frame("hi"))
        message.routingID = id
        try await peer.send(message)
        let bound = await receiving.finish()
        #expect(bound.status == 0, "\(bound.errors)")
        let printed = bound.output.dropLast().split(separator: "\t", omittingEmptySubsequences: false)
        #expect(printed.count == 2 && (UInt32(printed[0]) ?? 0) != 0 && printed[1] == "hi", "\(bound.output)")
        await context.shutdown()
    }

    @Test("send and recv with CLIENT, SCATTER, GATHER and CHANNEL carry one frame to and from their peers", arguments: [
        ("send", "CLIENT", SocketType.server), ("send", "SCATTER", .gather), ("send", "CHANNEL", .channel),
        ("recv", "GATHER", .scatter), ("recv", "CHANNEL", .channel),
    ])
    func singleFrameTypes(command: String, type: String, peerType: SocketType) async throws {
        let context = ZMQContext()
        let peer = try context.socket(peerType, options: [.linger(.zero)])
        let endpoint = try await peer.bind("tcp://127.0.0.1:*")
        if command == "send" {
            let run = try await ToolTests.run(["send", "--type", type, "--connect", endpoint, "0x00ff"])
            #expect(run.status == 0, "\(run.errors)")
            let message = try await peer.receive()
            #expect(message == Message(Frame([0, 0xff])))
            // A SERVER learns who asked: the routing id it would answer.
            #expect((message.routingID != nil) == (peerType == .server))
        } else {
            let running = try Running(["recv", "--type", type, "--connect", endpoint, "--count", "1", "--timeout", "20"])
            try await peer.send("one frame")  // waits for the tool to connect
            let run = await running.finish()
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.output == "one frame\n")
        }
        await context.shutdown()
    }

    @Test("send --type DGRAM sends the body to the address in the first frame")
    func sendDatagram() async throws {
        let context = ZMQContext()
        let dgram = try context.socket(.dgram, options: [.linger(.zero)])
        let endpoint = try await dgram.bind("udp://127.0.0.1:*")
        let address = String(endpoint.dropFirst("udp://".count))
        let run = try await ToolTests.run(["send", "--type", "DGRAM", "--bind", "udp://127.0.0.1:*", address, "ping"])
        #expect(run.status == 0, "\(run.errors)")
        let heard = try await dgram.receive()
        #expect(heard.count == 2 && heard[0].string?.hasPrefix("127.0.0.1:") == true && heard[1] == "ping", "\(heard)")
        await context.shutdown()
    }

    @Test("send --type SERVER and a bound PEER read the routing id from the first frame: one naming no peer fails naming it")
    func sendRouted() async throws {
        // The tool's socket numbers the peers it accepts itself, and prints none of them, so an
        // id that reaches a peer cannot be known here; one that names nobody shows the first
        // frame is the id routed by, not a body sent to whichever peer there is.
        for type in ["SERVER", "PEER"] {
            let context = ZMQContext()
            let port = unusedTCPPort()
            let running = try Running(["send", "--type", type, "--bind", "tcp://127.0.0.1:\(port)", "7", "lost"])
            let peer = try context.socket(type == "SERVER" ? .client : .peer, options: [.linger(.zero)])
            if type == "SERVER" { try await peer.connect("tcp://127.0.0.1:\(port)") } else { _ = try await peer.connectPeer("tcp://127.0.0.1:\(port)") }
            try running.input.fileHandleForWriting.close()
            let run = await running.finish()
            #expect(run.status == 1)
            #expect(run.errors.contains("no peer with routing id 7"), "\(run.errors)")
            await context.shutdown()
        }
    }

    @Test("send --type STREAM --bind says each connection's routing id as it comes, and a line naming it writes the data to that connection")
    func sendStreamBound() async throws {
        let port = unusedTCPPort()
        let running = try Running(["send", "--type", "STREAM", "--bind", "tcp://127.0.0.1:\(port)"])
        let notices = BinaryStarToolTests.Lines(running.errors.fileHandleForReading)
        let context = ZMQContext()
        // A raw TCP peer: another STREAM, which hears the data the tool writes to it.
        let client = try context.socket(.stream, options: [.linger(.zero)])
        try await client.connect("tcp://127.0.0.1:\(port)")
        _ = try await client.receive()  // its own connect notice
        let announced = try #require(await notices.next())
        #expect(announced.hasPrefix("connected\t"), "\(announced)")
        let id = String(announced.dropFirst("connected\t".count))
        #expect(id.hasPrefix("0x00") && id.count == 12, "a 5-octet id, 0x00 first: \(announced)")
        try running.input.fileHandleForWriting.write(contentsOf: Data("\(id)\thello\n".utf8))
        let data = try await client.receive()
        #expect(data.count == 2 && data[1] == "hello")
        try running.input.fileHandleForWriting.close()
        #expect(await running.finish().status == 0)
        await context.shutdown()
    }

    @Test("recv --type STREAM --bind prints what a plain TCP client sends, between its connect and disconnect notices")
    func receiveStreamFromTCP() async throws {
        let port = unusedTCPPort()
        let running = try Running(["recv", "--type", "STREAM", "--bind", "tcp://127.0.0.1:\(port)", "--count", "3", "--timeout", "20"])
        // A client that is not ZeroMQ: Python's socket module, retrying until the tool listens.
        let python = ProcessInfo.processInfo.environment["SWIFT_ZMQ_PYTHON"] ?? "python3"
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = [python, "-c", """
            import socket, sys, time
            for attempt in range(1000):
                try:
                    peer = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                    break
                except ConnectionRefusedError:
                    time.sleep(0.02)
            peer.sendall(b"hello")
            peer.close()
            """, String(port)]
        try client.run()
        let run = await running.finish()
        client.waitUntilExit()
        #expect(run.status == 0, "\(run.errors)")
        let lines = run.output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty, "\(run.output)")
        guard lines.count == 4 else { return }
        // A made-up 5-octet id, 0x00 first, then an empty frame: the connect notice.
        let id = lines[0].dropLast()
        #expect(id.hasPrefix("0x00") && id.count == 12 && lines[0].hasSuffix("\t"), "\(run.output)")
        #expect(lines[1] == id + "\thello")
        #expect(lines[2] == lines[0], "the disconnect notice: the same id and an empty frame")
    }

    @Test("a line of standard input that breaks the type's rule is a usage error naming it", arguments: [
        (["send", "--type", "STREAM", "--bind", "tcp://127.0.0.1:*"], "id\tone\ttwo", "a bound STREAM sends [routing id, data]: give two frames, not 3"),
        (["send", "--type", "STREAM", "--bind", "tcp://127.0.0.1:*"], "data only", "a bound STREAM sends [routing id, data]: give two frames, not 1"),
        (["send", "--type", "CLIENT", "--bind", "tcp://127.0.0.1:*"], "a\tb", "a CLIENT message is one frame: give one, not 2"),
        (["send", "--type", "SERVER", "--bind", "tcp://127.0.0.1:*"], "body", "a SERVER message is [routing id, body]: give two frames, not 1"),
    ])
    func refusedLines(arguments: [String], line: String, message: String) async throws {
        let running = try Running(arguments)
        try running.input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
        try running.input.fileHandleForWriting.close()
        let run = await running.finish()
        #expect(run.status == 2)
        #expect(run.errors.contains(message), "\(run.errors)")
    }

    @Test("the draft types' rules are usage errors naming the rule; a message over udp's limit fails naming it", arguments: [
        (["send", "--type", "CLIENT", "--bind", "tcp://127.0.0.1:*", "a", "b"], 2, "a CLIENT message is one frame: give one, not 2"),
        (["send", "--type", "SERVER", "--bind", "tcp://127.0.0.1:*", "body"], 2, "a SERVER message is [routing id, body]: give two frames, not 1"),
        (["send", "--type", "RADIO", "--connect", "udp://127.0.0.1:9", "--group", String(repeating: "g", count: 256), "x"], 2, "a group is at most 255 octets, not 256"),
        (["recv", "--type", "DISH", "--bind", "udp://127.0.0.1:*"], 2, "a DISH receives only the groups it joins"),
        (["recv", "--type", "DISH", "--bind", "udp://127.0.0.1:*", "--group", String(repeating: "g", count: 256)], 2, "a group is at most 255 octets, not 256"),
        (["send", "--type", "RADIO", "--connect", "udp://127.0.0.1:9", String(repeating: "a", count: 8200)], 1, "udp carries at most 8192 octets per datagram"),
    ])
    func draftRules(arguments: [String], status: Int32, message: String) async throws {
        let run = try await ToolTests.run(arguments)
        #expect(run.status == status)
        #expect(run.errors.contains(message), "\(run.errors)")
    }

    @Test("types that cannot send or receive are usage errors that say what to use", arguments: [
        (["recv", "--type", "PUSH"], "cannot receive"), (["recv", "--type", "REQ"], "use zmq send --type REQ"),
        (["send", "--type", "SUB"], "cannot send"), (["send", "--type", "REP"], "use zmq recv --type REP"),
        (["send", "--type", "STREAM", "id", "one", "two"], "a bound STREAM sends [routing id, data]: give two frames, not 3"),
    ])
    func refusedTypes(arguments: [String], message: String) async throws {
        let run = try await ToolTests.run(arguments + ["--bind", "tcp://127.0.0.1:*"])
        #expect(run.status == 2)
        #expect(run.errors.contains(message), "\(run.errors)")
    }

    @Test("zmq recv | zmq send relays messages unchanged: binary frames, empty frames, tabs, text that looks like hex")
    func relay() async throws {
        let context = ZMQContext()
        let source = try context.socket(.push)
        let inbound = try await source.bind("tcp://127.0.0.1:*")
        let sink = try context.socket(.pull)
        let outbound = try await sink.bind("tcp://127.0.0.1:*")
        let messages: [Message] = [
            ["plain", "text"],
            [Frame([0, 1, 2, 255]), Frame()],
            ["tab\there", "new\nline"],
            ["0xff", "0x"],
            [Frame()],
            ["wörld ✓"],
        ]
        let tool = ToolTests.executable.path
        let pipeline = Process()
        pipeline.executableURL = URL(fileURLWithPath: "/bin/sh")
        pipeline.arguments = ["-c", "'\(tool)' recv --type PULL --connect '\(inbound)' --count \(messages.count) | '\(tool)' send --type PUSH --connect '\(outbound)'"]
        try pipeline.run()
        for message in messages { try await source.send(message) }
        for message in messages { #expect(try await sink.receive() == message) }
        pipeline.waitUntilExit()
        #expect(pipeline.terminationStatus == 0)
        await context.shutdown()
    }
}
