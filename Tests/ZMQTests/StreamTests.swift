import Foundation
import Testing
@testable import ZMQ
import ZMQTestSupport

/// STREAM's rules, checked with a hand-written TCP peer (`RawPeer`) and between two STREAM
/// sockets of ours; libzmq's STREAM and plain programs are in StreamInteropTests.
@Suite("STREAM sockets", .timeLimit(.minutes(1)))
struct StreamTests {
    /// The port of a bound tcp endpoint.
    func port(of endpoint: String) -> Int { Int(endpoint.split(separator: ":").last!)! }

    @Test("raw octets both ways, the connect notice, and the peer's own close announced")
    func rawPeer() async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            let endpoint = try await stream.bind("tcp://127.0.0.1:*")
            let peer = try RawPeer(port: port(of: endpoint))
            let notice = try await stream.receive()
            #expect(notice.count == 2 && notice[1].isEmpty)
            let id = notice[0]
            peer.send(Array("no framing at all".utf8))
            var got = ""
            while got.count < 17 {
                let part = try await stream.receive()
                #expect(part[0] == id)
                got += part[1].string ?? ""
            }
            #expect(got == "no framing at all")
            try await stream.send([id, "back"])
            #expect(peer.read(4) == Array("back".utf8))
            close(peer.fd)
            let gone = try await stream.receive()
            #expect(gone.count == 2 && gone[0] == id && gone[1].isEmpty)
            stream.close()
        }
    }

    @Test("a zero-length frame closes that connection after what was sent before it, and no disconnect notice follows")
    func closeByEmptyFrame() async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            let endpoint = try await stream.bind("tcp://127.0.0.1:*")
            let first = try RawPeer(port: port(of: endpoint))
            let firstID = try await stream.receive()[0]
            try await stream.send([firstID, "last words"])
            try await stream.send([firstID, Frame()])
            #expect(first.read(10) == Array("last words".utf8))
            #expect(first.readSome().isEmpty, "the connection is closed")
            // Our side closed before the peer saw the end: a notice for it would already be queued.
            let second = try RawPeer(port: port(of: endpoint))
            second.send([7])
            let next = try await stream.receive()
            #expect(next[0] != firstID && next[1].isEmpty, "the next message is the new peer's connect notice")
            let data = try await stream.receive()
            #expect(data[0] == next[0] && data[1].bytes == [7])
            await #expect(throws: ZMQError.unroutable(routingID: firstID.bytes)) {
                try await stream.send([firstID, "too late"])
            }
            stream.close()
        }
    }

    @Test("sending to an unknown id throws unroutable; anything but two frames is refused with a reason")
    func sendRules() async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            await #expect(throws: ZMQError.unroutable(routingID: [0, 1, 2, 3, 4])) {
                try await stream.send([Frame([0, 1, 2, 3, 4]), "data"])
            }
            await #expect {
                try await stream.send(["id", "one", "two"])
            } throws: { error in
                guard let error = error as? ZMQError, error.code == .invalidMessage else { return false }
                return error.message.contains("[routing id, data]")
            }
            stream.close()
        }
    }

    @Test("a hundred peers come and go: every engine and pipe of theirs is freed")
    func churn() async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            let endpoint = try await stream.bind("tcp://127.0.0.1:*")
            let enginesBefore = RawEngine.liveCount.load(ordering: .relaxed)
            for round in 0..<100 {
                let peer = try RawPeer(port: port(of: endpoint))
                peer.send(Array("round \(round)".utf8))
                _ = try await stream.receive()  // the connect notice
                var data = try await stream.receive()
                while data[1].isEmpty { data = try await stream.receive() }
                close(peer.fd)
                let gone = try await stream.receive()
                #expect(gone[1].isEmpty, "the disconnect notice")
            }
            let freed = await ConnectionChurnTests.eventually { RawEngine.liveCount.load(ordering: .relaxed) <= enginesBefore }
            #expect(freed, "\(RawEngine.liveCount.load(ordering: .relaxed) - enginesBefore) raw engines still alive")
            #expect(stream.state.withLock { $0.pipes.count + $0.readable.pipes.count } == 0, "no pipe is left behind")
            stream.close()
        }
    }

    @Test("streamNotify off: no notices, data only")
    func noNotify() async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            try stream.set(.streamNotify(false))
            let endpoint = try await stream.bind("tcp://127.0.0.1:*")
            let peer = try RawPeer(port: port(of: endpoint))
            peer.send([1, 2, 3])
            let first = try await stream.receive()
            #expect(first[1].bytes.first == 1, "the first message is data, not a notice")
            stream.close()
        }
    }

    @Test("two STREAM sockets of ours: connectRoutingID names the connection on the connecting side")
    func streamToStream() async throws {
        try await withContext { context in
            let server = try context.socket(.stream)
            let client = try context.socket(.stream)
            let endpoint = try await server.bind("tcp://127.0.0.1:*")
            try client.set(.connectRoutingID(Array("upstream".utf8)))
            try await client.connect(endpoint)
            let connected = try await client.receive()
            #expect(connected.strings == ["upstream", ""])
            let accepted = try await server.receive()
            #expect(accepted[1].isEmpty)
            try await client.send(["upstream", "ping"])
            let ping = try await server.receive()
            #expect(ping[0] == accepted[0] && ping[1].string == "ping")
            try await server.send([accepted[0], "pong"])
            let pong = try await client.receive()
            #expect(pong.strings == ["upstream", "pong"])
            // Closed by an empty frame, a connect endpoint is done: it is not dialled again.
            let events = client.monitor()
            try await client.send(["upstream", Frame()])
            let gone = try await server.receive()
            #expect(gone[0] == accepted[0] && gone[1].isEmpty)
            let closed = await nextEvent(events) { $0.kind == .closed || $0.kind == .connectRetried }
            #expect(closed?.kind == .closed)
            client.close()
            server.close()
        }
    }

    @Test("inproc cannot carry raw octets; routerRaw must come before bind or connect")
    func refusals() async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            await #expect {
                try await stream.bind("inproc://raw")
            } throws: { error in
                guard let error = error as? ZMQError, error.code == .invalidEndpoint else { return false }
                return error.message.contains("inproc cannot carry raw octets")
            }
            let router = try context.socket(.router)
            _ = try await router.bind("tcp://127.0.0.1:*")
            #expect(throws: ZMQError.invalidOption(name: "routerRaw", reason: "must be set before bind or connect")) {
                try router.set(.routerRaw(true))
            }
            #expect(throws: ZMQError.invalidOption(name: "routerMandatory", reason: "applies to ROUTER sockets only, not STREAM")) {
                try stream.set(.routerMandatory(true))
            }
            stream.close()
            router.close()
        }
    }
}
