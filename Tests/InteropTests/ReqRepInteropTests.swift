import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// REQ/REP and DEALER/ROUTER against libzmq 4.3.5 (pyzmq 27.3.0): envelopes, delimiters and
/// routing ids on the wire, in both directions, with either side binding, over tcp and ipc.
@Suite("Request-reply interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct ReqRepInteropTests {
    typealias Binder = InteropTests.Binder

    enum Pairing: String, CaseIterable {
        /// swift-zmq REQ asks a libzmq REP (which echoes).
        case swiftReqToLibzmqRep
        /// libzmq REQ asks a swift-zmq REP.
        case libzmqReqToSwiftRep
        /// swift-zmq DEALER (with an Identity) through a libzmq ROUTER (which echoes).
        case swiftDealerToLibzmqRouter
        /// libzmq DEALER (with an Identity) through a swift-zmq ROUTER.
        case libzmqDealerToSwiftRouter
    }

    static let count = 50
    /// One frame, three frames, an empty frame and a long one.
    static let shapes = "5;1,2,3;0;300"

    @Test("requests and replies cross intact", arguments: Pairing.allCases, Transport.overNetwork)
    func exchange(pairing: Pairing, transport: Transport) async throws {
        for binder in Binder.allCases {
            try await withContext { context in
                try await run(pairing, transport: transport, binder: binder, context: context)
            }
        }
    }

    @Test("a correlated swift-zmq REQ puts a 4-octet request id before the delimiter, and a libzmq ROUTER echo brings it back", arguments: Transport.overNetwork)
    func correlatedRequestsToLibzmq(transport: Transport) async throws {
        try await withContext { context in
            let req = try context.socket(.req)
            try req.set(.reqCorrelate(true))
            try req.set(.reqRelaxed(true))
            try req.set(.receiveTimeout(.seconds(20)))
            let peer = try await startPeer(req, binder: .libzmq, transport: transport,
                                           arguments: ["router-echo", "--type", "ROUTER", "--count", "\(Self.count)"])
            for index in 0..<Self.count {
                try await req.send(["request", Frame("\(index)")])
                #expect(try await req.receive() == ["request", Frame("\(index)")])
            }
            let report = try await peer.result()
            #expect(report["envelopes"] as? [[Int]] == [[4]])
        }
    }

    @Test("a libzmq REQ with REQ_CORRELATE and REQ_RELAXED gets its replies from a swift-zmq REP", arguments: Transport.overNetwork)
    func correlatedRequestsFromLibzmq(transport: Transport) async throws {
        try await withContext { context in
            let rep = try context.socket(.rep)
            try rep.set(.receiveTimeout(.seconds(20)))
            let shapes = Pattern.parse(Self.shapes)
            let peer = try await startPeer(rep, binder: .swift, transport: transport,
                                           arguments: ["request", "--type", "REQ", "--req-correlate", "--req-relaxed",
                                                       "--count", "\(Self.count)", "--shapes", Self.shapes])
            for index in 0..<Self.count {
                let request = try await rep.receive()
                #expect(request == Pattern.message(index, shapes: shapes))
                try await rep.send(request)
            }
            try await peer.result()
        }
    }

    private func run(_ pairing: Pairing, transport: Transport, binder: Binder, context: ZMQContext) async throws {
        let shapes = Pattern.parse(Self.shapes)
        let common = ["--count", "\(Self.count)", "--shapes", Self.shapes]
        switch pairing {
        case .swiftReqToLibzmqRep, .swiftDealerToLibzmqRouter:
            let isDealer = pairing == .swiftDealerToLibzmqRouter
            let socket = try context.socket(isDealer ? .dealer : .req)
            if isDealer { try socket.set(.routingID(Array("swift-dealer".utf8))) }
            try socket.set(.receiveTimeout(.seconds(20)))
            let peer = try await startPeer(socket, binder: binder, transport: transport,
                                             arguments: [isDealer ? "router-echo" : "echo", "--type", isDealer ? "ROUTER" : "REP"] + common)
            for index in 0..<Self.count {
                let request = Pattern.message(index, shapes: shapes)
                try await socket.send(isDealer ? Message([Frame()] + request.frames) : request)
                let reply = try await socket.receive()
                #expect(reply == (isDealer ? Message([Frame()] + request.frames) : request))
            }
            let report = try await peer.result()
            if isDealer {
                #expect(report["routing_ids"] as? [String] == [Data("swift-dealer".utf8).map { String(format: "%02x", $0) }.joined()])
            }
        case .libzmqReqToSwiftRep, .libzmqDealerToSwiftRouter:
            let isRouter = pairing == .libzmqDealerToSwiftRouter
            let socket = try context.socket(isRouter ? .router : .rep)
            try socket.set(.receiveTimeout(.seconds(20)))
            let peer = try await startPeer(socket, binder: binder, transport: transport,
                                             arguments: ["request", "--type", isRouter ? "DEALER" : "REQ", "--routing-id", "py-peer"] + common)
            for index in 0..<Self.count {
                let request = try await socket.receive()
                let body = Pattern.message(index, shapes: shapes)
                if isRouter {
                    #expect(request == Message(["py-peer", Frame()] + body.frames))
                } else {
                    #expect(request == body)
                }
                try await socket.send(request)
            }
            try await peer.result()
        }
    }
}
