import Foundation
import Testing
@testable import ZMQ
import ZMQTestSupport

/// udp between sockets of ours: RADIO to DISH, DGRAM to DGRAM, and what udp refuses.
@Suite("udp", .timeLimit(.minutes(1)))
struct UDPTests {
    @Test("RADIO to DISH: every group travels, the DISH keeps those it joined")
    func radioDish() async throws {
        try await withContext { context in
            let dish = try DishSocket(context)
            try dish.join("weather")
            let endpoint = try await dish.bind("udp://127.0.0.1:*")
            #expect(!endpoint.hasSuffix(":*") && endpoint.hasPrefix("udp://127.0.0.1:"))
            let radio = try RadioSocket(context)
            try await radio.connect(endpoint)
            try await radio.send(Frame("goal"), group: "sports")
            try await radio.send(Frame("sunny"), group: "weather")
            let message = try await dish.receive()
            #expect(message == ["sunny"] && message.group == "weather")
            // The largest that fits arrives whole (a datagram of 8,192 octets with its group).
            let largest = Frame([UInt8](repeating: 7, count: 8192 - 1 - 7))
            try await radio.send(largest, group: "weather")
            #expect(try await dish.receive() == Message(largest))
        }
    }

    @Test("unbinding, disconnecting and closing free every udp engine")
    func enginesFreed() async throws {
        let enginesBefore = DatagramEngine.liveCount.load(ordering: .relaxed)
        try await withContext { context in
            for _ in 0..<20 {
                let dish = try DishSocket(context)
                let endpoint = try await dish.bind("udp://127.0.0.1:*")
                let radio = try RadioSocket(context)
                try await radio.connect(endpoint)
                try await radio.socket.waitForPeers(1)
                try await radio.disconnect(endpoint)
                try await dish.unbind(endpoint)
                radio.close()
                dish.close()
            }
        }
        let freed = await ConnectionChurnTests.eventually { DatagramEngine.liveCount.load(ordering: .relaxed) <= enginesBefore }
        #expect(freed, "\(DatagramEngine.liveCount.load(ordering: .relaxed) - enginesBefore) udp engines still alive")
    }

    @Test("a message over 8,192 octets with its group is refused, naming the limit")
    func datagramLimit() async throws {
        try await withContext { context in
            let dish = try DishSocket(context)
            let endpoint = try await dish.bind("udp://127.0.0.1:*")
            let radio = try RadioSocket(context)
            try await radio.connect(endpoint)
            try await radio.socket.waitForPeers(1)
            await #expect(throws: ZMQError.invalidMessage("udp carries at most 8192 octets per datagram; this one needs 8193")) {
                try await radio.send(Frame([UInt8](repeating: 1, count: 8191)), group: "g")
            }
            let dgram = try context.socket(.dgram)
            _ = try await dgram.bind("udp://127.0.0.1:*")
            try await dgram.waitForPeers(1)
            await #expect(throws: ZMQError.invalidMessage("udp carries at most 8192 octets per datagram; this one needs 8193")) {
                try await dgram.send([Frame("127.0.0.1:9"), Frame([UInt8](repeating: 1, count: 8193))])
            }
            await #expect(throws: ZMQError.invalidMessage("'nowhere' is not an ip:port address")) {
                try await dgram.send(["nowhere", "x"])
            }
        }
    }

    @Test("DGRAM to DGRAM: the receiver sees the sender's ip:port and answers it")
    func dgram() async throws {
        try await withContext { context in
            let (left, right) = (try context.socket(.dgram), try context.socket(.dgram))
            let leftEndpoint = try await left.bind("udp://127.0.0.1:*")
            let rightEndpoint = try await right.bind("udp://127.0.0.1:*")
            try await right.send([Frame(String(leftEndpoint.dropFirst("udp://".count))), "ping"])
            let ping = try await left.receive()
            #expect(ping[0].string == String(rightEndpoint.dropFirst("udp://".count)) && ping[1].string == "ping")
            try await left.send([ping[0], "pong"])
            let pong = try await right.receive()
            #expect(pong[1].string == "pong")
        }
    }

    @Test("a DISH that leaves a group over udp stops receiving it, and keeps the groups it stays in")
    func leave() async throws {
        try await withContext { context in
            let dish = try DishSocket(context)
            try dish.join("news")
            try dish.join("weather")
            let endpoint = try await dish.bind("udp://127.0.0.1:*")
            let radio = try RadioSocket(context)
            try await radio.connect(endpoint)
            try await radio.send(Frame("elections"), group: "news")
            let before = try await dish.receive()
            #expect(before == ["elections"] && before.group == "news")
            try dish.leave("news")
            // The RADIO sends every group over udp: the DISH itself drops the one it left.
            try await radio.send(Frame("more elections"), group: "news")
            try await radio.send(Frame("rain"), group: "weather")
            let next = try await dish.receive()
            #expect(next == ["rain"] && next.group == "weather")
            #expect(throws: ZMQError.wouldBlock) { try dish.tryReceive() }
        }
    }

    @Test("a udp endpoint that cannot work is refused, naming what is wrong with it", arguments: [
        (SocketType.radio, "udp://;127.0.0.1:5555", "empty interface before ';'"),
        (.radio, "udp://no-such-interface0;239.1.1.1:5555", "no interface named or addressed no-such-interface0"),
        (.radio, "udp://*:5555", "connect needs a host, not * (which only bind accepts)"),
        (.dgram, "udp://127.0.0.1:*", "connect needs a port, not * or 0 (which only bind accepts)"),
    ])
    func badEndpoints(type: SocketType, endpoint: String, reason: String) async throws {
        try await withContext { context in
            let socket = try context.socket(type)
            await #expect {
                try await socket.connect(endpoint)
            } throws: { error in
                (error as? ZMQError)?.code == .invalidEndpoint && "\(error)".contains(reason)
            }
        }
    }

    @Test("udp carries RADIO (connecting), DISH (binding) and DGRAM; DGRAM needs udp", arguments: [
        (SocketType.radio, true, "over udp a RADIO connects; its DISH binds"),
        (.dish, false, "over udp a DISH binds; its RADIO connects"),
        (.push, true, "udp carries RADIO, DISH and DGRAM only, not PUSH"),
    ])
    func refusals(type: SocketType, binding: Bool, reason: String) async throws {
        try await withContext { context in
            let socket = try context.socket(type)
            await #expect {
                if binding { try await socket.bind("udp://127.0.0.1:*") } else { try await socket.connect("udp://127.0.0.1:5555") }
            } throws: { error in
                (error as? ZMQError)?.code == .invalidEndpoint && "\(error)".contains(reason)
            }
            let dgram = try context.socket(.dgram)
            await #expect { try await dgram.bind("tcp://127.0.0.1:*") } throws: { "\($0)".contains("use udp") }
        }
    }
}
