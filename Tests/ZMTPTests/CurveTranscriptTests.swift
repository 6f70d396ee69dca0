import NIOCore
import Synchronization
import Testing
@testable import ZMTP

/// Our CURVE client and server against a transcript made by an independent implementation
/// (curve_transcript.py: PyNaCl, written from 26/CURVEZMQ and 25/ZMTP-CURVE), with every key and
/// random octet fixed: each side must write exactly the transcript's octets and accept the other's.
@Suite("CURVE transcript")
struct CurveTranscriptTests {
    #if CURVE
    // Output of `python3 Tests/ZMTPTests/curve_transcript.py`: whole wire frames, as hex.
    static let hello = "04c80548454c4c4f010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000064b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d484660000000000000001e837536af7ea722fbc55ff508d3b84739ec8d9fb342cb415fecf81fb45f789c58f435d40ea86ba28d26dff622314ac43a96ef092a9f9fbec5fb7d33022b5d84d139af1c6be5e1d5ced00ecc21bba78b4"
    static let welcome = "04a80757454c434f4d45606162636465666768696a6b6c6d6e6f53fb9adcfe005bbaa62858a17f2d7b1bebb4b09f88140f8620621d8f8ff3907beb53a027b03815e7aa62bce4fc459f613f1ed642d905c44071d9125c7c585f528bd355deace81c37e62f471f9de4e2a8e9c86f0bcb14c65ccff8a9c33d0f134dbaa7685f3f3afad10b330df911164ced0af9355de125bddc23b2d51dd5c244c0dbabd951e39039ee9503da145b9b9fb6"
    static let initiate = "06000000000000011508494e495449415445505152535455565758595a5b5c5d5e5f65a221718c010181b449088d89053d778100b3d26c28859d95def2dcc8cf6ed5adbf0ce774c435982de6aa056ac9be0cfe62165204e6adad48c6019eb389801c141069de0882f6225d0013efcde351770000000000000002daeb520a289ffe23f92f7829deb3771e742d670b76beef0e3f0c892409faa23dba87de59b1020650195634f541d420b37904e135278b97b9cb1f80d8d51e83ad8798cfa846b5bbaa4e6bfd0f78f6d786b8b44597c9d85b2dafb5cf369cc42f44400c9f10ef71a99a68bad7aacb6d5598d1f8c14a8864fabb4adbc30ebe26ca1a80f4335b0aa70014e4b4638a79b0193129f5fbcf4923a63ddc1954f57f30c90b68e06338"
    static let ready = "04320552454144590000000000000001a5a762f250a07fb771eda874ff6e7c1bd039689bdba958d7c5fb46f7a8dc8fd7787cc000"
    static let clientMessage = "0026074d45535341474500000000000000035daabf3ddfe3e8adb5ef31449c5571ccdd94126fb7dd"
    static let serverMessage = "0026074d45535341474500000000000000028c4daa1d580680b11c72be396c337425994d78363e68"

    static func octets(_ start: UInt8) -> [UInt8] { (0..<32).map { start &+ $0 } }

    static let clientKeys = try! CurveKeyPair(secretKey: CurveSecretKey(bytes: octets(0x01)))
    static let serverKeys = try! CurveKeyPair(secretKey: CurveSecretKey(bytes: octets(0x81)))

    /// A random source that hands out fixed octets, in the order the transcript drew them.
    final class Draws: Sendable {
        private let queue: Mutex<[[UInt8]]>
        init(_ draws: [[UInt8]]) { queue = Mutex(draws) }

        var random: CurveRandom {
            CurveRandom { count in
                self.queue.withLock { queue in
                    let next = queue.removeFirst()
                    precondition(next.count == count, "drew \(count) octets, the transcript has \(next.count)")
                    return next
                }
            }
        }
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    /// A command frame's name and data.
    static func command(_ hex: String) throws -> (name: String, data: [UInt8]) {
        var buffer = ByteBuffer(bytes: bytes(hex))
        var decoder = FrameDecoder()
        let frame = try #require(try decoder.next(from: &buffer))
        #expect(frame.isCommand && buffer.readableBytes == 0)
        let body = Array(frame.body.readableBytesView)
        let nameLength = Int(body[0])
        return (String(decoding: body[1...nameLength], as: UTF8.self), Array(body[(1 + nameLength)...]))
    }

    static func sent(_ steps: [MechanismStep]) -> [UInt8]? {
        for case .send(let frame) in steps { return Array(frame.readableBytesView) }
        return nil
    }

    static func metadata(_ type: String) -> Metadata {
        Metadata([(name: "Socket-Type", value: Array(type.utf8))])
    }

    @Test("the handshake and the first MESSAGE each way are octet for octet the independent transcript")
    func transcript() throws {
        let clientDraws = Draws([Self.octets(0x41), Array(0x20..<0x30)])
        let serverDraws = Draws([Self.octets(0xC1), Self.octets(0xA1), Array(0x50..<0x60), Array(0x60..<0x70)])
        var client = CurveClientMechanism(serverKey: Self.serverKeys.publicKey, keyPair: Self.clientKeys,
                                          ourMetadata: Self.metadata("PUSH"), random: clientDraws.random)
        var server = CurveServerMechanism(keyPair: Self.serverKeys, ourMetadata: Self.metadata("PULL"), random: serverDraws.random)
        let accept: (Metadata) throws(ZMTPError) -> Void = { _ in }

        #expect(Self.sent(try client.start()) == Self.bytes(Self.hello))
        let hello = try Self.command(Self.hello)
        #expect(Self.sent(try server.receive(name: hello.name, data: hello.data, validate: accept)) == Self.bytes(Self.welcome))
        let welcome = try Self.command(Self.welcome)
        #expect(Self.sent(try client.receive(name: welcome.name, data: welcome.data, validate: accept)) == Self.bytes(Self.initiate))
        let initiate = try Self.command(Self.initiate)
        let asked = try server.receive(name: initiate.name, data: initiate.data, validate: accept)
        guard case .authenticate(let request) = asked.first else { Issue.record("no authentication asked: \(asked)"); return }
        #expect(request == AuthenticationRequest(mechanism: "CURVE", credentials: [Self.clientKeys.publicKey.bytes]))
        let readySteps = try server.authenticated(.accepted)
        #expect(Self.sent(readySteps) == Self.bytes(Self.ready))
        let ready = try Self.command(Self.ready)
        let done = try client.receive(name: ready.name, data: ready.data, validate: accept)
        guard case .complete(let peerMetadata) = done.first else { Issue.record("handshake not complete: \(done)"); return }
        #expect(peerMetadata == Self.metadata("PULL"))

        var clientCipher = try #require(client.cipher)
        var serverCipher = try #require(server.cipher)
        var written = ByteBuffer()
        clientCipher.seal(Frame("hello"), more: true, into: &written)
        #expect(Array(written.readableBytesView) == Self.bytes(Self.clientMessage))
        written.clear()
        serverCipher.seal(Frame("world"), more: false, into: &written)
        #expect(Array(written.readableBytesView) == Self.bytes(Self.serverMessage))

        // And each side opens what the transcript's other side sealed.
        var decoder = FrameDecoder()
        var fromClient = ByteBuffer(bytes: Self.bytes(Self.clientMessage))
        let opened = try serverCipher.open(try #require(try decoder.next(from: &fromClient)).body)
        #expect(opened.flags == 0x01 && opened.frame == Frame("hello"))
        var fromServer = ByteBuffer(bytes: Self.bytes(Self.serverMessage))
        let reply = try clientCipher.open(try #require(try decoder.next(from: &fromServer)).body)
        #expect(reply.flags == 0x00 && reply.frame == Frame("world"))
    }
    #endif
}
