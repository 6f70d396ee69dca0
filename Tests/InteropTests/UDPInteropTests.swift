import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// udp against libzmq (its RADIO with the empty group, and DGRAM: what its wheel can do without
/// the draft API) and against plain datagram sockets that check the octets; multicast between
/// two network namespaces.
@Suite("udp with libzmq and plain sockets", .serialized, .timeLimit(.minutes(2)))
struct UDPInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("udp_peer.py").path

    func peer(_ arguments: [String], namespace: String? = nil) throws -> PythonPeer {
        try PythonPeer(script: Self.script, arguments, namespace: namespace)
    }

    @Test("libzmq's RADIO reaches our DISH in the empty group")
    func libzmqRadio() async throws {
        try await withContext { context in
            let dish = try DishSocket(context)
            try dish.join("")
            let endpoint = try await dish.bind("udp://127.0.0.1:*")
            let radio = try peer(["radio", endpoint, "from libzmq"])
            let message = try await dish.receive()
            #expect(message == ["from libzmq"] && message.group == "")
            try await radio.result()
        }
    }

    @Test("our RADIO's datagram is group length, group, body, octet for octet")
    func radioOctets() async throws {
        try await withContext { context in
            let receiver = try peer(["plain-recv"])
            let radio = try RadioSocket(context)
            try await radio.connect(try await receiver.endpoint())
            try await radio.send(Frame("hello"), group: "weather")
            let report = try await receiver.result()
            #expect(report["datagram"] as? String == "07" + Self.hex("weather") + Self.hex("hello"))
        }
    }

    @Test("an empty datagram, one whose group runs past its end, or one over 8,192 octets is dropped and counted, never delivered in part")
    func malformedDatagrams() async throws {
        try await withContext { context in
            let dish = try DishSocket(context)
            try dish.join("ab")
            let endpoint = try await dish.bind("udp://127.0.0.1:*")
            let port = try #require(try Endpoint(endpoint).port)
            // Empty; a group of 5 octets with 2 there; 9,000 octets, more than any libzmq sends;
            // then a good one, which must come through.
            let tooLong = "026162" + String(repeating: "78", count: 8997)
            let sender = try peer(["plain-send", "\(port)", "", "056162", tooLong, "02616268690a"])
            try await sender.result()
            let good = try await dish.receive()
            #expect(good.group == "ab" && good == ["hi\n"])
            #expect(dish.socket.drops[.malformed] == 2 && dish.socket.drops[.tooLarge] == 1)
        }
    }

    @Test("DGRAM both ways with libzmq's: each side answers the address a datagram came from")
    func dgram() async throws {
        try await withContext { context in
            let ours = try context.socket(.dgram)
            let endpoint = try await ours.bind("udp://127.0.0.1:*")
            let echo = try peer(["dgram-echo"])
            let theirs = try await echo.endpoint()
            try await ours.send([Frame(String(theirs.dropFirst("udp://".count))), "ping"])
            let answer = try await ours.receive()
            #expect(answer[1].string == "echo:ping")
            let report = try await echo.result()
            #expect(report["body"] as? String == "ping")
            #expect(report["address"] as? String == String(endpoint.dropFirst("udp://".count)) + "\0", "libzmq shows the address with a NUL")

            let asking = try peer(["dgram-ask", endpoint])
            let question = try await ours.receive()
            #expect(question[1].string == "question")
            try await ours.send([question[0], "answer"])
            let asked = try await asking.result()
            #expect(asked["body"] as? String == "answer")
        }
    }

    #if os(Linux)
    @Test("multicast between two network namespaces: libzmq's RADIO to our DISH, our RADIO to a plain group member")
    func multicast() async throws {
        try await withNetwork { network in
            try await withContext { context in
                let dish = try DishSocket(context)
                try dish.join("")
                // Our side names its interface, libzmq's gives the address.
                let bound = try await dish.bind("udp://\(network.localLink);239.192.7.7:*")
                let port = try #require(try Endpoint(bound).port)
                let radio = try peer(["radio", "udp://\(network.peerAddress);239.192.7.7:\(port)", "over multicast"], namespace: network.namespace)
                let heard = try await dish.receive()
                #expect(heard == ["over multicast"] && heard.group == "")
                try await radio.result()

                let member = try peer(["plain-recv", "--group", "239.192.7.8", "--interface", network.peerAddress], namespace: network.namespace)
                let group = try await member.endpoint()
                let ours = try RadioSocket(context)
                try await ours.connect(group.replacingOccurrences(of: "udp://", with: "udp://\(network.localLink);"))
                try await ours.send(Frame("hello"), group: "weather")
                let report = try await member.result()
                #expect(report["datagram"] as? String == "07" + Self.hex("weather") + Self.hex("hello"))
            }
        }
    }
    #endif

    static func hex(_ text: String) -> String {
        text.utf8.map { String(format: "%02x", $0) }.joined()
    }
}
