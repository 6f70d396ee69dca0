import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// Every received message says where it came from: the peer's address, the user id and
/// properties the authenticator gave it, and the peer's own handshake properties.
@Suite("Message metadata", .timeLimit(.minutes(1)))
struct MessageMetadataTests {
    @Test("over NULL: the peer's address and socket type, no user id")
    func null() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let push = try context.socket(.push)
            try await push.connect(try await pull.bind("tcp://127.0.0.1:*"))
            try await push.send("hello")
            let message = try await pull.receive()
            let metadata = try #require(message.metadata)
            #expect(metadata.peerAddress == "127.0.0.1")
            #expect(metadata["Peer-Address"] == "127.0.0.1")
            #expect(metadata.socketType == "PUSH")
            #expect(metadata["socket-type"] == "PUSH")
            #expect(metadata.userID == nil && metadata["User-Id"] == nil)
            // Metadata is not content: the message equals one made locally.
            #expect(message == Message("hello"))
        }
    }

    @Test("over PLAIN: the user id and properties the authenticator gave the peer, on every message")
    func plain() async throws {
        try await withContext { context in
            context.authenticate { request in
                guard request.credentials == [Array("alice".utf8), Array("secret".utf8)] else { return .denied }
                return AuthenticationReply(statusCode: "200", statusText: "OK", userID: "alice",
                                           metadata: Metadata([(name: "X-Role", value: Array("admin".utf8))]))
            }
            let router = try context.socket(.router)
            try router.set(.plainServer(true))
            let dealer = try context.socket(.dealer)
            try dealer.set(.plainUsername("alice"))
            try dealer.set(.plainPassword("secret"))
            try dealer.set(.routingID(Array("A1".utf8)))
            try await dealer.connect(try await router.bind("tcp://127.0.0.1:*"))
            for index in 0..<3 {
                try await dealer.send("request \(index)")
                let message = try await router.receive()
                let metadata = try #require(message.metadata)
                #expect(metadata.userID == "alice")
                #expect(metadata["User-Id"] == "alice")
                #expect(metadata["X-Role"] == "admin")
                #expect(metadata["Identity"] == "A1" && metadata["Routing-Id"] == "A1")
                #expect(metadata.socketType == "DEALER")
            }
        }
    }

    @Test("over CURVE with the standard authenticator: the user id is the client's public key")
    func curve() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let clientKeys = try CurveKeyPair.generate()
            var authenticator = StandardAuthenticator()
            authenticator.curveClients = .only([clientKeys.publicKey])
            context.setAuthenticator(authenticator)
            let pull = try context.socket(.pull)
            try pull.set(.curveServer(serverKeys))
            let push = try context.socket(.push)
            try push.set(.curveKeyPair(clientKeys))
            try push.set(.curveServerKey(serverKeys.publicKey))
            try await push.connect(try await pull.bind("tcp://127.0.0.1:*"))
            try await push.send("sealed")
            let metadata = try #require(try await pull.receive().metadata)
            #expect(metadata.userID == clientKeys.publicKey.z85)
            #expect(metadata.peerAddress == "127.0.0.1")
        }
    }

    @Test("REQ and REP keep it when they take the envelope off")
    func envelopes() async throws {
        try await withContext { context in
            let rep = try context.socket(.rep)
            let req = try context.socket(.req)
            try await req.connect(try await rep.bind("tcp://127.0.0.1:*"))
            try await req.send("question")
            #expect(try await rep.receive().metadata?.socketType == "REQ")
            try await rep.send("answer")
            #expect(try await req.receive().metadata?.socketType == "REP")
        }
    }

    @Test("over ipc there is no peer address; over inproc, and on messages made locally, no metadata")
    func ipcAndInproc() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let push = try context.socket(.push)
            try await push.connect(try await pull.bind(temporaryIPCEndpoint()))
            try await push.send("over ipc")
            let metadata = try #require(try await pull.receive().metadata)
            #expect(metadata.peerAddress == nil && metadata.socketType == "PUSH")

            let inproc = try context.socket(.pull)
            try await inproc.bind("inproc://metadata")
            let local = try context.socket(.push)
            try await local.connect("inproc://metadata")
            try await local.send("in process")
            #expect(try await inproc.receive().metadata == nil)
            #expect(Message("made here").metadata == nil)
        }
    }
}
