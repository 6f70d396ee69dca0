import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// The thread-safe draft types between sockets of ours, over every transport: their routing
/// rules from 47/CLIENTSERVER, 48/RADIO-DISH, 49/SCATTERGATHER, 51/P2P and 52/CHANNEL. Peers
/// written from the RFCs in Python are in DraftInteropTests.
@Suite("Draft socket types", .timeLimit(.minutes(1)))
struct DraftTypeTests {
    @Test("CLIENT and SERVER: the server names each client by a 32-bit routing id and answers it", arguments: Transport.allCases)
    func clientServer(transport: Transport) async throws {
        try await withContext { context in
            let server = try ServerSocket(context)
            let endpoint = try await server.bind(transport.freshEndpoint)
            let (first, second) = (try ClientSocket(context), try ClientSocket(context))
            try await first.connect(endpoint)
            try await second.connect(endpoint)
            try await first.send("from first")
            try await second.send("from second")
            var ids: [String: UInt32] = [:]
            for _ in 0..<2 {
                let request = try await server.receive()
                let id = try #require(request.routingID)
                #expect(id != 0)
                ids[request[0].string!] = id
            }
            #expect(ids.count == 2 && ids["from first"] != ids["from second"])
            try await server.send(Frame("to second"), to: ids["from second"]!)
            try await server.send(Frame("to first"), to: ids["from first"]!)
            let (a, b) = (try await first.receive(), try await second.receive())
            #expect(a == ["to first"] && b == ["to second"])
            #expect(a.routingID == nil, "a CLIENT's messages carry no routing id")
        }
    }

    @Test("single frames only; a SERVER needs a known routingID")
    func refusals() async throws {
        try await withContext { context in
            let client = try ClientSocket(context)
            let server = try ServerSocket(context)
            for socket in [client.socket, server.socket] {
                await #expect {
                    try await socket.send(["two", "frames"])
                } throws: { error in
                    (error as? ZMQError)?.code == .invalidMessage && "\(error)".contains("one frame, not 2")
                }
            }
            await #expect {
                try await server.socket.send("nobody")
            } throws: { error in
                (error as? ZMQError)?.code == .invalidMessage && "\(error)".contains("needs a routingID")
            }
            await #expect(throws: ZMQError(code: .unroutable, message: "no peer with routing id 7", routingID: [0, 0, 0, 7])) {
                try await server.send(Frame("lost"), to: 7)
            }
        }
    }

    @Test("RADIO and DISH: only the groups joined arrive, each with its group, and a leave stops one", arguments: Transport.allCases)
    func radioDish(transport: Transport) async throws {
        try await withContext { context in
            let radio = try RadioSocket(context)
            let endpoint = try await radio.bind(transport.freshEndpoint)
            let dish = try DishSocket(context)
            try dish.join("weather")
            try dish.join("news")
            try await dish.connect(endpoint)
            // The radio drops what it sends before the JOINs reach it: repeat until one arrives.
            // Paced, so that the warm-ups queued meanwhile cannot fill the dish's queue (the
            // radio would then drop the messages the test sends next).
            let warming = Task {
                while !Task.isCancelled {
                    try? await radio.send(Frame("warm-up"), group: "weather")
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            while try await dish.receive()[0].string != "warm-up" {}
            warming.cancel()
            _ = await warming.result
            try await radio.send(Frame("goal"), group: "sports")
            try await radio.send(Frame("sunny"), group: "weather")
            try await radio.send(Frame("elections"), group: "news")
            var got: [String] = []
            while got.count < 2 {
                let message = try await dish.receive()
                if message[0].string == "warm-up" { continue }
                got.append("\(message.group ?? "?"):\(message[0].string ?? "")")
            }
            #expect(got == ["weather:sunny", "news:elections"])
            try dish.leave("news")
            try await radio.send(Frame("more elections"), group: "news")
            try await radio.send(Frame("rain"), group: "weather")
            let next = try await dish.receive()
            #expect(next.group == "weather" && next[0].string == "rain", "the dish filters a group it left, whatever is in flight")
        }
    }

    @Test("groups: at most 255 octets, joined once; DISH joins and SUB subscribes, not the other way round")
    func groupRules() async throws {
        try await withContext { context in
            let dish = try DishSocket(context)
            try dish.join(String(repeating: "g", count: 255))
            #expect(throws: ZMQError.invalidMessage("a group is at most 255 octets, not 256")) {
                try dish.join(String(repeating: "g", count: 256))
            }
            try dish.join("once")
            #expect(throws: ZMQError.invalidState("already joined group 'once'")) { try dish.join("once") }
            #expect(throws: ZMQError.invalidState("not a member of group 'never'")) { try dish.leave("never") }
            #expect(throws: ZMQError.self) { try dish.socket.subscribe("x") }
            let sub = try context.socket(.sub)
            #expect(throws: ZMQError.notSupported("only DISH sockets join groups")) { try sub.join("x") }
            let radio = try RadioSocket(context)
            await #expect {
                try await radio.send(Frame("x"), group: String(repeating: "g", count: 256))
            } throws: { error in
                (error as? ZMQError)?.code == .invalidMessage
            }
        }
    }

    @Test("SCATTER and GATHER: round-robin out, fair-queued in, one frame per message", arguments: Transport.allCases)
    func scatterGather(transport: Transport) async throws {
        try await withContext { context in
            let scatter = try ScatterSocket(context)
            let endpoint = try await scatter.bind(transport.freshEndpoint)
            let (left, right) = (try GatherSocket(context), try GatherSocket(context))
            try await left.connect(endpoint)
            try await right.connect(endpoint)
            try await scatter.socket.waitForPeers(2)
            for index in 0..<4 { try await scatter.send(Message(Frame("\(index)"))) }
            let fromLeft = [try await left.receive(), try await left.receive()].map { $0[0].string! }
            let fromRight = [try await right.receive(), try await right.receive()].map { $0[0].string! }
            #expect(Set(fromLeft + fromRight) == ["0", "1", "2", "3"] && fromLeft.count == 2)
            await #expect(throws: ZMQError.self) { try await scatter.send(["a", "b"]) }
        }
    }

    @Test("PEER: connectPeer gives the id at once, messages for it wait for the connection, replies go back by id", arguments: Transport.allCases)
    func peers(transport: Transport) async throws {
        try await withContext { context in
            let (here, there) = (try PeerSocket(context), try PeerSocket(context))
            let endpoint = try await there.bind(transport.freshEndpoint)
            let id = try await here.connectPeer(endpoint)
            #expect(id != 0)
            try await here.send(Frame("hello"), to: id)
            let hello = try await there.receive()
            #expect(hello == ["hello"])
            let back = try #require(hello.routingID)
            try await there.send(Frame("hello yourself"), to: back)
            let reply = try await here.receive()
            #expect(reply == ["hello yourself"] && reply.routingID == id)
            await #expect(throws: ZMQError.self) { _ = try await context.socket(.server).connectPeer(endpoint) }
            // Disconnected, the id names nobody: a send to it fails rather than queueing forever.
            try await here.disconnect(endpoint)
            await #expect(throws: ZMQError(code: .unroutable, message: "no peer with routing id \(id)", routingID: withUnsafeBytes(of: id.bigEndian) { Array($0) })) {
                try await here.send(Frame("gone"), to: id)
            }
        }
    }

    @Test("CHANNEL: one peer both ways; a second is refused", arguments: Transport.allCases)
    func channel(transport: Transport) async throws {
        try await withContext { context in
            let (left, right) = (try ChannelSocket(context), try ChannelSocket(context))
            let endpoint = try await left.bind(transport.freshEndpoint)
            try await right.connect(endpoint)
            try await right.send("ping")
            #expect(try await left.receive() == ["ping"])
            try await left.send("pong")
            #expect(try await right.receive() == ["pong"])
            let third = try ChannelSocket(context)
            let events = left.monitor()
            try await third.connect(endpoint)
            let refused = await nextEvent(events) { $0.kind == .peerRefused }
            #expect(refused != nil)
        }
    }

    @Test("a multipart message to a single-frame type is dropped whole, never delivered in part", arguments: [
        (SocketType.client, "SERVER"), (.server, "CLIENT"), (.gather, "SCATTER"), (.channel, "CHANNEL"), (.peer, "PEER"),
    ])
    func multipartDropped(type: SocketType, peerType: String) async throws {
        try await withContext { context in
            let socket = try context.socket(type)
            let endpoint = try await socket.bind("tcp://127.0.0.1:*")
            // A peer that breaks the rule: only a hand-written one sends more than one frame.
            let peer = try RawPeer(port: port(of: endpoint))
            defer { peer.close() }
            let parts = [0x01, 5] + Array("part1".utf8) + [0x00, 5] + Array("part2".utf8)
            peer.send(RawPeer.greeting + RawPeer.ready(peerType) + parts + [0x00, 5] + Array("whole".utf8))
            #expect(try await socket.receive() == ["whole"])
            #expect(throws: ZMQError.wouldBlock) { try socket.tryReceive() }
        }
    }

    @Test("CLIENT and SERVER used from several tasks at once deliver every message exactly once")
    func concurrentUse() async throws {
        try await withContext { context in
            let server = try ServerSocket(context, options: [.receiveTimeout(.seconds(20))])
            let endpoint = try await server.bind("tcp://127.0.0.1:*")
            let client = try ClientSocket(context)
            try await client.connect(endpoint)
            let (tasks, each) = (4, 250)
            // Senders and as many receivers, each receiver taking its share: a message lost or
            // delivered twice leaves one short (it times out) or the set smaller than was sent.
            let received = try await withThrowingTaskGroup(of: [String].self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        for index in 0..<each { try await client.send(Message(Frame("\(task).\(index)"))) }
                        return []
                    }
                    group.addTask {
                        var share: [String] = []
                        for _ in 0..<each { share.append(try await server.receive()[0].string ?? "") }
                        return share
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let sent = (0..<tasks).flatMap { task in (0..<each).map { "\(task).\($0)" } }
            #expect(received.count == sent.count && Set(received) == Set(sent))
        }
    }
}
