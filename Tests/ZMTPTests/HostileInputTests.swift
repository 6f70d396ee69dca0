import NIOCore
import Testing
@testable import ZMTP

/// What a hostile peer could use to make a connection hold memory without bound.
@Suite("Hostile input bounds")
struct HostileInputTests {
    @Test("a message of endless empty frames is cut off at the frame limit")
    func endlessFrames() {
        var connection = ConnectionTests.openConnection(.init(socketType: .pull, maxMessageSize: 64), peer: .push)
        let limit = Connection.frameLimit(forMessageSize: 64)
        #expect(limit == 1024)
        var input = ByteBuffer()
        for _ in 0..<(limit + 1) { input.writeBytes([0x01, 0x00]) }
        let actions = feed(&connection, input)
        #expect(actions.last?.closeError == .tooManyFrames(limit: limit))
    }

    @Test("a message of many frames within the limit passes")
    func manyFramesPass() {
        var connection = ConnectionTests.openConnection(.init(socketType: .pull, maxMessageSize: 64), peer: .push)
        var input = ByteBuffer()
        for _ in 0..<1000 { input.writeBytes([0x01, 0x00]) }
        input.writeBytes([0x00, 0x00])
        let actions = feed(&connection, input)
        #expect(actions.first?.message?.count == 1001)
    }

    @Test("READY with more properties than the limit is refused")
    func tooManyProperties() {
        var metadata = Metadata([("Socket-Type", ascii("PUSH"))])
        for index in 0..<Metadata.propertyLimit { metadata.append("X-\(index)", []) }
        var connection = Connection(configuration: .init(socketType: .pull))
        var input = ConnectionTests.greeting()
        var ready = Command.ready(metadata).encoded
        input.writeBuffer(&ready)
        let actions = feed(&connection, input)
        #expect(actions.last?.closeError == .malformedCommand("more than 64 metadata properties"))
    }

    @Test("credentials never print")
    func noSecretsInDescriptions() {
        let security = Security.plainClient(username: "admin", password: "hunter2")
        #expect(!"\(security)".contains("hunter2"))
        let request = AuthenticationRequest(mechanism: "PLAIN", credentials: [ascii("admin"), ascii("hunter2")])
        #expect(!"\(request)".contains("hunter2"))
        #expect(!String(reflecting: request).contains("104"))  // 'h' as a number in a dumped array
        var dumped = ""
        dump(request, to: &dumped)
        #expect(!dumped.contains("104"))
    }
}
