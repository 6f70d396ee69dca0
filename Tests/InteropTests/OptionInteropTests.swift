import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// The options whose effect shows on the wire, against libzmq 4.3.5 (pyzmq 27.3.0).
@Suite("Options on the wire, with libzmq", .serialized, .timeLimit(.minutes(2)))
struct OptionInteropTests {
    @Test("a libzmq DEALER's ZMQ_PROBE_ROUTER reaches a swift-zmq ROUTER as [routing id, \"\"]")
    func probeFromLibzmq() async throws {
        try await withContext { context in
            let router = try context.socket(.router, options: [.receiveTimeout(.seconds(20))])
            let peer = try await startPeer(router, binder: .swift, transport: .tcp, arguments: [
                "send", "--type", "DEALER", "--probe-router", "--routing-id", "L", "--count", "2", "--shapes", "3"])
            #expect(try await router.receive() == ["L", ""])
            for _ in 0..<2 {
                let message = try await router.receive()
                #expect(message.count == 2 && message[0] == "L" && message[1].count == 3)
            }
            _ = try await peer.result()
        }
    }

    @Test("a swift-zmq DEALER's probe reaches a libzmq ROUTER, which learns its routing id from it")
    func probeToLibzmq() async throws {
        try await withContext { context in
            let dealer = try context.socket(.dealer, options: [.probeRouter(true), .routingID(Array("P".utf8)), .receiveTimeout(.seconds(20))])
            let peer = try await startPeer(dealer, binder: .libzmq, transport: .tcp, arguments: [
                "router-echo", "--type", "ROUTER", "--count", "2"])
            // The ROUTER echoes the probe back: one empty frame.
            #expect(try await dealer.receive() == [""])
            try await dealer.send("after the probe")
            #expect(try await dealer.receive() == ["after the probe"])
            let report = try await peer.result()
            #expect(report["routing_ids"] as? [String] == ["50"])
        }
    }

    @Test("a swift-zmq XPUB's welcome message reaches a libzmq SUB subscribed to its prefix")
    func welcomeToLibzmq() async throws {
        try await withContext { context in
            let publisher = try context.socket(.xpub, options: [.xpubWelcomeMessage("WELCOME")])
            let peer = try await startPeer(publisher, binder: .swift, transport: .tcp, arguments: [
                "subscriber", "--type", "SUB", "--topic", "W", "--count", "1"])
            _ = try await peer.result()
            #expect(try await publisher.receive() == Message(Frame([1] + Array("W".utf8))))
        }
    }
}
