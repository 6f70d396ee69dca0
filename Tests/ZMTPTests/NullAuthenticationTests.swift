import NIOCore
import Testing
@testable import ZMTP

/// NULL with a ZAP domain: libzmq asks its ZAP handler before sending READY.
@Suite("NULL with authentication")
struct NullAuthenticationTests {
    static let server = Connection.Configuration(socketType: .pull, authenticatesNullPeers: true)

    static func peerHello() -> ByteBuffer {
        var input = ConnectionTests.greeting()
        var ready = ConnectionTests.ready(.push)
        input.writeBuffer(&ready)
        return input
    }

    @Test("the authenticator is asked before READY; the peer's early READY waits for the answer")
    func approved() throws {
        var connection = Connection(configuration: Self.server)
        let actions = feed(&connection, Self.peerHello())
        #expect(actions.count == 1)
        #expect(actions.first?.authenticationRequest == AuthenticationRequest(mechanism: "NULL", credentials: []))
        #expect(!connection.isOpen)

        let after = answer(&connection, with: .accepted)
        #expect(after.count == 2)
        #expect(after.first.flatMap(\.written).map(bytes) == bytes(ConnectionTests.ready(.pull)))
        #expect(after.last?.peerInfo?.socketType == .push)
        #expect(connection.isOpen)
    }

    @Test("a refusal sends ERROR with the status code in the RFC's form, and no READY")
    func refused() throws {
        var connection = Connection(configuration: Self.server)
        _ = feed(&connection, Self.peerHello())
        let after = answer(&connection, with: .denied)
        #expect(after.count == 1)
        #expect(after.first?.closeError == .authenticationRefused(status: "400"))
        let farewell = try #require(after.first?.farewell ?? nil)
        #expect(try parseCommandFrame(farewell) == .error(reason: "400"))
    }

    @Test("without a ZAP domain NULL asks nobody")
    func notAsked() {
        var connection = Connection(configuration: .init(socketType: .pull))
        let actions = feed(&connection, Self.peerHello())
        #expect(actions.allSatisfy { $0.authenticationRequest == nil })
        #expect(connection.isOpen)
    }
}
