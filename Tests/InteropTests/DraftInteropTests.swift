import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// The draft types against ZMTP peers written in Python from the RFCs (zmtp_peer.py), each
/// side in each role, over tcp and ipc. No packaged libzmq can be the peer: it is built without
/// the draft API and aborts when a draft type speaks ZMTP.
@Suite("Draft types with peers written from the RFCs", .serialized, .timeLimit(.minutes(2)))
struct DraftInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("zmtp_peer.py").path

    func peer(_ arguments: [String]) throws -> PythonPeer {
        try PythonPeer(script: Self.script, arguments)
    }

    /// Our asking socket (CLIENT, PEER or CHANNEL) against the peer's answering one.
    /// Each pair of (their type, our type) over tcp and over ipc.
    static func overNetwork(_ pairs: [(String, SocketType)]) -> [(String, SocketType, Transport)] {
        pairs.flatMap { pair in Transport.overNetwork.map { (pair.0, pair.1, $0) } }
    }

    @Test("ours asks, theirs answers: CLIENT to SERVER, PEER to PEER, CHANNEL to CHANNEL", arguments: overNetwork([
        ("SERVER", .client), ("PEER", .peer), ("CHANNEL", .channel),
    ]))
    func oursAsks(answering: String, ours: SocketType, transport: Transport) async throws {
        try await withContext { context in
            let remote = try peer(["echo", answering, "--bind", transport.rawValue + "://", "--count", "3"])
            let socket = try context.socket(ours)
            let endpoint = try await remote.endpoint()
            var id: UInt32?
            if ours == .peer { id = try await socket.connectPeer(endpoint) } else { try await socket.connect(endpoint) }
            for index in 0..<3 {
                var request = Message(Frame("request \(index)"))
                request.routingID = id
                try await socket.send(request)
                let reply = try await socket.receive()
                #expect(reply == [Frame("echo:request \(index)")])
                #expect(reply.routingID == id)
            }
            try await remote.result()
        }
    }

    @Test("theirs asks, ours answers: SERVER, PEER and CHANNEL reply to whoever asked", arguments: overNetwork([
        ("CLIENT", .server), ("PEER", .peer), ("CHANNEL", .channel),
    ]))
    func theirsAsks(theirs: String, ours: SocketType, transport: Transport) async throws {
        try await withContext { context in
            let socket = try context.socket(ours)
            let endpoint = try await socket.bind(transport.freshEndpoint)
            let remote = try peer(["echo", theirs, "--connect", endpoint, "--count", "3"])
            for _ in 0..<3 {
                let request = try await socket.receive()
                #expect(request.count == 1)
                if ours != .channel { #expect(request.routingID != nil) }
                var reply = Message(Frame("echo:" + (request[0].string ?? "")))
                reply.routingID = request.routingID
                try await socket.send(reply)
            }
            try await remote.result()
        }
    }

    @Test("SCATTER to their GATHER, and their SCATTER to our GATHER", arguments: Transport.overNetwork)
    func scatterGather(transport: Transport) async throws {
        try await withContext { context in
            let scatter = try ScatterSocket(context)
            let endpoint = try await scatter.bind(transport.freshEndpoint)
            let gathering = try peer(["gather", "--connect", endpoint, "--count", "3"])
            for index in 0..<3 { try await scatter.send(Message(Frame("job \(index)"))) }
            let report = try await gathering.result()
            #expect(report["bodies"] as? [String] == ["job 0", "job 1", "job 2"])

            let gather = try GatherSocket(context)
            let inward = try await gather.bind(transport.freshEndpoint)
            let scattering = try peer(["scatter", "--connect", inward, "--count", "3"])
            var bodies: [String] = []
            for _ in 0..<3 { bodies.append(try await gather.receive()[0].string ?? "") }
            #expect(bodies == ["task 0", "task 1", "task 2"])
            gather.close()
            try await scattering.result()
        }
    }

    @Test("our DISH joins their RADIO: JOIN and LEAVE on the wire, and the DISH filters groups itself", arguments: Transport.overNetwork)
    func dish(transport: Transport) async throws {
        try await withContext { context in
            let radio = try peer(["radio", "--bind", transport.rawValue + "://"])
            let dish = try DishSocket(context)
            try dish.join("weather")
            try dish.join("news")
            try await dish.connect(try await radio.endpoint())
            let first = try await dish.receive()
            let second = try await dish.receive()
            #expect([first.group, second.group] == ["weather", "news"], "the group never joined was dropped")
            #expect(first == ["sunny"] && second == ["elections"])
            try dish.leave("news")
            let last = try await dish.receive()
            #expect(last.group == "weather" && last == ["end"])
            dish.close()
            let report = try await radio.result()
            let commands = report["commands"] as? [String] ?? []
            // The joins of a new connection come in no particular order.
            #expect(Set(commands.prefix(2)) == ["JOIN weather", "JOIN news"] && commands.last == "LEAVE news" && commands.count == 3)
        }
    }

    @Test("our RADIO sends their DISH only the groups it joined, each as [group, body]", arguments: Transport.overNetwork)
    func radio(transport: Transport) async throws {
        try await withContext { context in
            let radio = try RadioSocket(context)
            let endpoint = try await radio.bind(transport.freshEndpoint)
            let dish = try peer(["dish", "--connect", endpoint])
            // What goes out before the JOINs arrive is dropped: send until the dish has both.
            let sending = Task {
                while !Task.isCancelled {
                    try? await radio.send(Frame("goal"), group: "sports")
                    try? await radio.send(Frame("sunny"), group: "weather")
                    try? await radio.send(Frame("elections"), group: "news")
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            let report = try await dish.result()
            sending.cancel()
            #expect(report["seen"] as? [String: String] == ["weather": "sunny", "news": "elections"])
        }
    }
}
