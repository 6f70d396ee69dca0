import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// PUB/SUB and XPUB/XSUB against libzmq 4.3.5 (pyzmq 27.3.0): subscriptions and filtered
/// messages in both directions, with either side binding, over tcp and ipc.
@Suite("Publish-subscribe interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct PubSubInteropTests {
    typealias Binder = InteropTests.Binder

    /// The two publishing cases: swift-zmq PUB to libzmq XSUB (which does not filter what
    /// arrives, so only our publisher's filter keeps the other topics out), and swift-zmq XPUB
    /// to libzmq SUB (which shows that libzmq's SUBSCRIBE reached us).
    enum Publishing: String, CaseIterable { case pubToXsub, xpubToSub }

    static let count = 200

    @Test("libzmq receives only its topic from a swift-zmq publisher", arguments: Publishing.allCases, Transport.overNetwork)
    func swiftPublishes(publishing: Publishing, transport: Transport) async throws {
        for binder in Binder.allCases {
            try await withContext { context in
                let (ours, theirs): (SocketType, String) = publishing == .pubToXsub ? (.pub, "XSUB") : (.xpub, "SUB")
                let publisher = try context.socket(ours)
                try publisher.set(.receiveTimeout(.seconds(20)))
                // The peer confirms what it received; what the flood left queued for it when it
                // went must not hold the context's shutdown (linger is forever by default).
                try publisher.set(.linger(.zero))
                let peer = try await startPeer(publisher, binder: binder, transport: transport,
                                                 arguments: ["subscriber", "--type", theirs, "--topic", "A", "--count", "\(Self.count)"])
                if ours == .xpub {
                    // Nothing is lost once the subscription is here: send exactly what is expected.
                    #expect(try await publisher.receive() == Message(Frame([1, 65])))
                    for index in 0..<Self.count {
                        try await publisher.send("~A\(index)")
                        try await publisher.send("A\(index)")
                    }
                    try await peer.result()
                } else {
                    let flood = keepPublishing(["B is not subscribed", "A matches", ["A", "two frames"]], on: publisher)
                    defer { flood.cancel() }
                    try await peer.result()
                }
            }
        }
    }

    @Test("a swift-zmq SUB's subscription reaches a libzmq XPUB, and only its topic comes back", arguments: Transport.overNetwork)
    func swiftSubscribes(transport: Transport) async throws {
        for binder in Binder.allCases {
            try await withContext { context in
                let subscriber = try context.socket(.sub)
                try subscriber.set(.receiveTimeout(.seconds(20)))
                try subscriber.subscribe("A")
                let peer = try await startPeer(subscriber, binder: binder, transport: transport,
                                                 arguments: ["publisher", "--type", "XPUB", "--topic", "A", "--count", "\(Self.count)"])
                try await peer.waitFor("SUBSCRIBED")
                for index in 0..<Self.count {
                    #expect(try await subscriber.receive() == Message(Frame(Array("A\(index)".utf8))))
                }
                try await peer.result()
            }
        }
    }

    @Test("a swift-zmq XSUB/XPUB proxy between a libzmq publisher and a libzmq subscriber", arguments: Transport.overNetwork)
    func proxyBetweenLibzmqPeers(transport: Transport) async throws {
        try await withContext { context in
            let frontend = try context.socket(.xsub)
            let backend = try context.socket(.xpub)
            // The libzmq XPUB publishes once our proxy has passed the subscription up to it.
            let publisher = try await startPeer(frontend, binder: .libzmq, transport: transport,
                                                  arguments: ["publisher", "--type", "XPUB", "--topic", "A", "--count", "\(Self.count)"])
            let subscriber = try await startPeer(backend, binder: .swift, transport: transport,
                                                   arguments: ["subscriber", "--type", "SUB", "--topic", "A", "--count", "\(Self.count)"])
            let proxy = Task { try await ZMQProxy.run(frontend: frontend, backend: backend) }
            defer { proxy.cancel() }
            try await publisher.waitFor("SUBSCRIBED")
            try await subscriber.result()
            try await publisher.result()
        }
    }
}

/// Publishes `messages` over and over until the task is cancelled: a plain PUB cannot see when
/// a subscription has arrived, so it keeps publishing until the subscriber has what it needs.
func keepPublishing(_ messages: [Message], on publisher: ZMQSocket) -> Task<Void, Never> {
    Task {
        while !Task.isCancelled {
            for message in messages { try? publisher.trySend(message) }
            await Task.yield()
        }
    }
}
