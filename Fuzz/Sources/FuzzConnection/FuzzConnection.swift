import NIOCore
import FuzzerDriver
import ZMTP

/// The mechanisms, in the order the selector octet picks them. Made once: CURVE key generation
/// is slow, and a `Connection` is a value, so every input starts from a copy of its template.
let templates: [Connection] = {
    let server = try! CurveKeyPair.generate()
    let client = try! CurveKeyPair.generate()
    let configurations: [Connection.Configuration] = [
        .init(socketType: .pull),
        .init(socketType: .pull, authenticatesNullPeers: true),
        .init(socketType: .push, security: .plainClient(username: "admin", password: "secret")),
        .init(socketType: .pull, security: .plainServer),
        .init(socketType: .push, security: .curveClient(serverKey: server.publicKey, keyPair: client)),
        .init(socketType: .pull, security: .curveServer(keyPair: server)),
    ]
    return configurations.map { Connection(configuration: $0) }
}()

/// Input: octet 0 is the selector: bits 0-2 the mechanism (modulo 6: NULL, NULL with ZAP, PLAIN
/// client, PLAIN server, CURVE client, CURVE server), bit 3 the authenticator's answer (0 accepts,
/// 1 denies), bits 4-7 the chunk size (0 = everything in one read). The rest is what the peer
/// sends, fed to the connection in chunks of that size, until it closes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let selector = input[0]
    var connection = templates[Int(selector & 7) % templates.count]
    let reply: AuthenticationReply = selector & 8 == 0 ? .accepted : .denied
    let rest = input.dropFirst()
    let chunkSize = selector >> 4 == 0 ? max(rest.count, 1) : Int(selector >> 4)
    _ = connection.start()

    var offset = rest.startIndex
    while offset < rest.endIndex {
        let end = min(offset + chunkSize, rest.endIndex)
        var chunk = ByteBuffer(bytes: UnsafeBufferPointer(rebasing: input[offset..<end]))
        let limit = 2 * (end - offset) + 64
        offset = end
        // Every action but the last consumes input or a queued action, so a chunk yields a
        // bounded number of them; more means the state machine spins.
        var steps = 0
        reading: while true {
            steps += 1
            precondition(steps <= limit, "the state machine kept producing actions")
            switch connection.receive(&chunk) {
            case .needMoreData:
                precondition(chunk.readableBytes == 0, "needMoreData left octets unread")
                break reading
            case .close:
                // A closed connection takes nothing more and asks for nothing more.
                var more = ByteBuffer(bytes: [0x04, 1, 0])
                guard case .needMoreData = connection.receive(&more) else {
                    preconditionFailure("an action after close")
                }
                return 0
            case .authenticate:
                connection.authenticated(reply)
            case .handshakeComplete, .write, .message, .command:
                continue
            }
        }
    }
    return 0
}

/// SwiftPM makes the linker's `main` this symbol (`--defsym main=FuzzConnection_main`); libFuzzer's
/// own main is then not linked, so hand the command line to its driver.
@_cdecl("FuzzConnection_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}
