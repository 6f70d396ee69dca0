import Testing
import ZMQ
import ZMQTestSupport

@Suite("disconnect and unbind", .timeLimit(.minutes(1)))
struct DisconnectTests {
    @Test("disconnect stops sending to that peer only", arguments: ["tcp", "inproc"])
    func disconnect(transport: String) async throws {
        try await withContext { context in
            let kept = try context.socket(.pull)
            let dropped = try context.socket(.pull)
            let keptEndpoint = try await kept.bind(transport == "tcp" ? "tcp://127.0.0.1:*" : "inproc://kept")
            let droppedEndpoint = try await dropped.bind(transport == "tcp" ? "tcp://127.0.0.1:*" : "inproc://dropped")
            let push = try context.socket(.push)
            try await push.connect(keptEndpoint)
            try await push.connect(droppedEndpoint)
            try await push.waitForPeers(2)

            try await push.disconnect(droppedEndpoint)
            #expect(push.connectedPeerCount == 1)
            // Round-robin over two peers would give the kept one every other message.
            for index in 0..<10 { try await push.send(Frame("\(index)")) }
            for index in 0..<10 { #expect(try await kept.receive()[0].string == "\(index)") }
            #expect(throws: ZMQError.wouldBlock) { try dropped.tryReceive() }
            await #expect(throws: ZMQError.invalidEndpoint(droppedEndpoint, reason: "this socket is not connected to it")) {
                try await push.disconnect(droppedEndpoint)
            }
        }
    }

    @Test("disconnect drops what was still queued for that endpoint, and counts it")
    func disconnectCountsDrops() async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            let endpoint = "tcp://127.0.0.1:\(unusedTCPPort())"
            try await push.connect(endpoint)  // nobody there: messages wait in its queue
            for index in 0..<3 { try push.trySend(Message(Frame("\(index)"))) }
            try await push.disconnect(endpoint)
            #expect(push.drops[.peerGone] == 3 && push.drops.total == 3)
        }
    }

    @Test("unbind closes the endpoint and the connections accepted there; the address is free again")
    func unbindTCP() async throws {
        try await withContext { context in
            let first = try context.socket(.pull)
            let endpoint = try await first.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try push.set(.reconnectInterval(.milliseconds(10)))
            let events = push.monitor()
            try await push.connect(endpoint)
            try await push.waitForPeers(1)

            try await first.unbind(endpoint)
            #expect(await nextEvent(events) { $0.kind == .disconnected } != nil)
            // Another socket can bind the same address, and the PUSH reconnects to it.
            let second = try context.socket(.pull)
            try await second.bind(endpoint)
            try await push.send("after unbind")
            #expect(try await second.receive()[0].string == "after unbind")
            #expect(throws: ZMQError.wouldBlock) { try first.tryReceive() }
            await #expect(throws: ZMQError.invalidEndpoint(endpoint, reason: "this socket is not bound to it")) {
                try await first.unbind(endpoint)
            }
        }
    }

    @Test("unbinding an inproc name unlinks its peers, which wait for the next bind")
    func unbindInproc() async throws {
        try await withContext { context in
            let first = try context.socket(.pull)
            try await first.bind("inproc://moving")
            let push = try context.socket(.push)
            try await push.connect("inproc://moving")
            try await push.waitForPeers(1)
            try await first.unbind("inproc://moving")
            #expect(push.connectedPeerCount == 0)

            let second = try context.socket(.pull)
            try await second.bind("inproc://moving")
            try await push.send("to the new binder")
            #expect(try await second.receive()[0].string == "to the new binder")
            #expect(throws: ZMQError.wouldBlock) { try first.tryReceive() }
        }
    }
}
