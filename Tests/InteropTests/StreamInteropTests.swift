import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// STREAM against what it exists to talk to: plain TCP (and Unix-socket) programs, and libzmq's
/// own STREAM socket through pyzmq, each side binding in turn. A tiny HTTP exchange shows the
/// notifications, the raw octets both ways, and the close by a zero-length frame.
@Suite("STREAM with plain sockets and libzmq", .serialized, .timeLimit(.minutes(2)))
struct StreamInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("stream.py").path
    static let request = "GET /hello HTTP/1.0\r\nHost: swift-zmq\r\n\r\n"
    static let reply = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from STREAM\n"

    /// Serves one HTTP request on a bound STREAM: the connect notice, the request (in however
    /// many reads it takes) with the peer's address, the reply, and the close.
    func serveOneRequest(_ stream: ZMQSocket, expectPeerAddress: Bool) async throws {
        let notice = try await stream.receive()
        #expect(notice.count == 2 && notice[1].isEmpty, "a connect is announced by an empty data frame")
        let id = notice[0]
        #expect(id.count == 5 && id.bytes[0] == 0, "made-up ids are 0x00 and a 32-bit counter, as libzmq's")
        var request = ""
        while !request.hasSuffix("\r\n\r\n") {
            let part = try await stream.receive()
            #expect(part[0] == id && !part[1].isEmpty)
            if expectPeerAddress { #expect(part.metadata?.peerAddress == "127.0.0.1") }
            request += part[1].string ?? ""
        }
        #expect(request == Self.request)
        try await stream.send([id, Frame(Self.reply)])
        try await stream.send([id, Frame()])
    }

    @Test("a plain HTTP client gets its answer from a bound STREAM, over tcp and ipc", arguments: [Transport.tcp, .ipc])
    func plainClient(transport: Transport) async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            let endpoint = try await stream.bind(transport.freshEndpoint)
            let address = endpoint.replacingOccurrences(of: "tcp://", with: "").replacingOccurrences(of: "ipc://", with: "")
            let client = try PythonPeer(script: Self.script, ["http-client", address])
            try await serveOneRequest(stream, expectPeerAddress: transport == .tcp)
            let report = try await client.result()
            #expect(report["reply"] as? String == Self.reply, "the reply arrives whole, then the connection closes")
            stream.close()
        }
    }

    @Test("libzmq's STREAM, connecting over tcp and ipc, gets its answer from ours", arguments: [Transport.tcp, .ipc])
    func libzmqClient(transport: Transport) async throws {
        try await withContext { context in
            let stream = try context.socket(.stream)
            let endpoint = try await stream.bind(transport.freshEndpoint)
            let client = try PythonPeer(script: Self.script, ["stream-client", endpoint])
            try await serveOneRequest(stream, expectPeerAddress: transport == .tcp)
            let report = try await client.result()
            #expect(report["reply"] as? String == Self.reply)
            stream.close()
        }
    }

    @Test("ours, connecting over tcp and ipc with a routing id of its choosing, asks libzmq's STREAM and sees it close", arguments: [Transport.tcp, .ipc])
    func libzmqServer(transport: Transport) async throws {
        try await withContext { context in
            let server = try PythonPeer(script: Self.script, ["stream-server", transport.rawValue])
            let stream = try context.socket(.stream)
            try stream.set(.connectRoutingID(Array("web".utf8)))
            try await stream.connect(try await server.endpoint())
            let notice = try await stream.receive()
            #expect(notice.strings == ["web", ""])
            try await stream.send(["web", Frame(Self.request)])
            var reply = ""
            while true {
                let part = try await stream.receive()
                #expect(part[0].string == "web")
                if part[1].isEmpty { break }  // the server closed: the disconnect notice
                reply += part[1].string ?? ""
            }
            #expect(reply == Self.reply)
            let report = try await server.result()
            #expect(report["request"] as? String == Self.request)
            #expect(report["peer_id_length"] as? Int == 5)
            stream.close()
        }
    }

    @Test("a STREAM connects to a plain line server over tcp and ipc, talks, and is told when it closes", arguments: [Transport.tcp, .ipc])
    func plainServer(transport: Transport) async throws {
        try await withContext { context in
            try await talkToLineServer(try context.socket(.stream), transport: transport)
        }
    }

    @Test("a connecting ROUTER with routerRaw talks to a plain line server as a STREAM does")
    func routerRawConnecting() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            try router.set(.routerRaw(true))
            try await talkToLineServer(router, transport: .tcp)
        }
    }

    /// Connects `stream` to a plain line server: the connect notice, lines out, the server's
    /// upper-cased answers back in however many reads, and the notice of its close.
    func talkToLineServer(_ stream: ZMQSocket, transport: Transport) async throws {
        let server = try PythonPeer(script: Self.script, ["echo-server", transport.rawValue])
        try await stream.connect(try await server.endpoint())
        let notice = try await stream.receive()
        #expect(notice.count == 2 && notice[1].isEmpty)
        let id = notice[0]
        try await stream.send([id, "hello\nworld\n"])
        var echoed = ""
        while echoed != "HELLO\nWORLD\n" {
            let part = try await stream.receive()
            #expect(part[0] == id && !part[1].isEmpty)
            echoed += part[1].string ?? ""
            #expect(echoed.count <= 12)
        }
        try await stream.send([id, "bye\n"])
        let gone = try await stream.receive()
        #expect(gone.count == 2 && gone[0] == id && gone[1].isEmpty, "the server's close is announced")
        let report = try await server.result()
        #expect(report["lines"] as? [String] == ["hello", "world", "bye"])
        stream.close()
    }

    @Test("a ROUTER with routerRaw is a STREAM socket")
    func routerRaw() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            try router.set(.routerRaw(true))
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            let client = try PythonPeer(script: Self.script, ["http-client", endpoint.replacingOccurrences(of: "tcp://", with: "")])
            try await serveOneRequest(router, expectPeerAddress: true)
            let report = try await client.result()
            #expect(report["reply"] as? String == Self.reply)
            router.close()
        }
    }
}
