import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// Every legal pair of classic socket types against libzmq 4.3.5 (pyzmq 27.3.0): swift-zmq on
/// each side of each pair, binding and connecting, over tcp and ipc, with multipart messages.
/// The side that speaks first sends and checks each echo (or publishes); the other echoes (or
/// subscribes and checks). peer.py's `matrix` mode plays libzmq's side by the same rules.
@Suite("The interop matrix: every legal pair with libzmq", .serialized, .timeLimit(.minutes(5)))
struct MatrixInteropTests {
    typealias Binder = InteropTests.Binder

    /// Each legal pair (23/ZMTP), the side that speaks first named first.
    static let pairs: [(speaker: SocketType, answerer: SocketType)] = [
        (.pair, .pair), (.req, .rep), (.req, .router), (.dealer, .rep), (.dealer, .router),
        (.dealer, .dealer), (.router, .router), (.push, .pull),
        (.pub, .sub), (.pub, .xsub), (.xpub, .sub), (.xpub, .xsub),
    ]

    enum Side: String, CaseIterable { case swiftSpeaks, libzmqSpeaks }

    static let count = 20
    /// Three frames, an empty frame, one frame.
    static let shapes = "1,2,3;0;5"

    static var cases: [String] { pairs.map { "\($0.speaker)-\($0.answerer)" } }

    @Test("messages cross intact", arguments: cases, Side.allCases)
    func exchange(pair: String, side: Side) async throws {
        let (speaker, answerer) = Self.pairs.first { "\($0.speaker)-\($0.answerer)" == pair }!
        for transport in Transport.overNetwork {
            for binder in Binder.allCases {
                try await withContext { context in
                    let swiftType = side == .swiftSpeaks ? speaker : answerer
                    let libzmqType = side == .swiftSpeaks ? answerer : speaker
                    var options: [SocketOption] = [.linger(.zero), .receiveTimeout(.seconds(20))]
                    // A ROUTER that answers a ROUTER is known to it by name.
                    if swiftType == .router, side == .libzmqSpeaks, libzmqType == .router { options.append(.routingID(Array("R".utf8))) }
                    let socket = try context.socket(swiftType, options: options)
                    var arguments = ["matrix", "--type", "\(libzmqType)", "--peer-type", "\(swiftType)",
                                     "--role", side == .swiftSpeaks ? "answer" : "speak",
                                     "--count", "\(Self.count)", "--shapes", Self.shapes]
                    if libzmqType == .router, side == .swiftSpeaks, swiftType == .router { arguments += ["--routing-id", "R"] }
                    if [SocketType.pub, .xpub].contains(libzmqType) { arguments += ["--timeout", "20"] }
                    let peer = try await startPeer(socket, binder: binder, transport: transport, arguments: arguments)
                    try await play(socket, as: swiftType, against: libzmqType, speaks: side == .swiftSpeaks, peer: peer)
                }
            }
        }
    }

    /// swift-zmq's side, by the rules peer.py follows for libzmq's.
    func play(_ socket: ZMQSocket, as type: SocketType, against peerType: SocketType, speaks: Bool, peer: PythonPeer) async throws {
        let shapes = Pattern.parse(Self.shapes)
        switch type {
        case .pub, .xpub:
            if type == .xpub { #expect(try await socket.receive() == Message(Frame([1]))) }
            let publishing = Task {
                var number = 0
                while !Task.isCancelled {
                    try? socket.trySend(Message([Frame(String(format: "%08d", number))] + Pattern.message(number, shapes: shapes).frames))
                    number += 1
                    await Task.yield()
                }
            }
            defer { publishing.cancel() }
            try await peer.result()
        case .sub, .xsub:
            if type == .sub { try socket.subscribe("") } else { try await socket.send(Message(Frame([1]))) }
            var last = -1
            for _ in 0..<Self.count {
                let message = try await socket.receive()
                let number = Int(message[0].string ?? "") ?? -1
                #expect(number > last)
                #expect(Message(Array(message.frames.dropFirst())) == Pattern.message(number, shapes: shapes))
                last = number
            }
            peer.kill()  // a libzmq publisher publishes until told to stop
        case .push:
            for index in 0..<Self.count { try await socket.send(Pattern.message(index, shapes: shapes)) }
            try await peer.result()
        case .pull:
            for index in 0..<Self.count { #expect(try await socket.receive() == Pattern.message(index, shapes: shapes)) }
            try await peer.result()
        default:
            if speaks {
                let envelope: [Frame] = switch type {
                case .dealer where peerType == .rep: [Frame()]
                case .router: ["R"]
                default: []
                }
                // A ROUTER can address its peer only once the handshake has named it.
                if type == .router { try await socket.waitForPeers(1) }
                for index in 0..<Self.count {
                    let request = Message(envelope + Pattern.message(index, shapes: shapes).frames)
                    try await socket.send(request)
                    #expect(try await socket.receive() == request)
                }
            } else {
                for _ in 0..<Self.count { try await socket.send(try await socket.receive()) }
            }
            try await peer.result()
        }
    }

    @Test("an incompatible pair is refused on both sides: PUSH and SUB", arguments: Binder.allCases, [SocketType.push, .sub])
    func incompatible(binder: Binder, swiftType: SocketType) async throws {
        try await withContext { context in
            let socket = try context.socket(swiftType, options: [.linger(.zero)])
            let events = socket.monitor()
            let libzmqType = swiftType == .push ? "SUB" : "PUSH"
            let peer = try await startPeer(socket, binder: binder, transport: .tcp, arguments: ["refused", "--type", libzmqType, "--timeout", "20"])
            let failure = await nextEvent(events) { $0.kind == .handshakeFailed || $0.kind == .handshakeSucceeded }
            #expect(failure?.kind == .handshakeFailed)
            #expect(failure?.failure?.kind == .incompatibleSocketType, "\(String(describing: failure))")
            try await peer.result()
        }
    }
}
