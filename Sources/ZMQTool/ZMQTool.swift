import ArgumentParser
import Foundation
import ZMQ

@main
struct ZMQTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zmq",
        abstract: "Send and receive ZeroMQ messages from a shell, run a proxy, and run the swift-zmq demo.",
        subcommands: [Receive.self, Send.self, Req.self, Rep.self, BinaryStarCommand.self, FreelanceServerCommand.self, FreelanceRequestCommand.self, Broker.self, TitanicCommand.self, Worker.self, Request.self, Proxy.self, CloneServerCommand.self, CloneClientCommand.self, LastValueCacheCommand.self, SpoolCommand.self, Keygen.self, Demo.self]
    )

    /// Usage errors exit 2 (as most Unix tools do), not ArgumentParser's 64.
    static func main() async {
        // A command run by `zmq worker --exec` that exits without reading its input must not
        // take the tool down with SIGPIPE: the write fails instead.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as UsageError {
            FileHandle.standardError.write(Data("zmq: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// A mistake in how the tool was called: printed and exit status 2.
struct UsageError: Error {
    var message: String
}

/// The options every socket-opening subcommand shares.
struct SocketArguments: ParsableArguments {
    @Option(help: "The socket type: \(SocketType.allCases.map(\.rawValue).dropLast().joined(separator: ", ")) or \(SocketType.allCases.last!).")
    var type: String

    @Option(help: "Bind to this endpoint, e.g. tcp://*:5555 (udp://*:5555 for DISH and DGRAM).")
    var bind: String?

    @Option(help: "Connect to this endpoint, e.g. tcp://localhost:5555 (udp://host:5555 for RADIO).")
    var connect: String?

    func validate() throws {
        try Self.validate(type: type, bind: bind, connect: connect, option: "")
    }

    /// Checks one socket's options; `option` is the prefix of their names ("frontend-" …).
    static func validate(type: String, bind: String?, connect: String?, option: String) throws {
        guard (bind == nil) != (connect == nil) else {
            throw ValidationError("give exactly one of --\(option)bind ENDPOINT or --\(option)connect ENDPOINT")
        }
        guard SocketType(rawValue: type.uppercased()) != nil else {
            throw ValidationError("unknown socket type '\(type)'")
        }
    }

    /// Opens the socket and binds or connects it; bad endpoints and unsupported types are usage errors.
    func open(
        in context: ZMQContext, security: SecuritySettings = SecuritySettings(), configure: (ZMQSocket) throws -> Void = { _ in }
    ) async throws -> ZMQSocket {
        try await Self.open(type: type, bind: bind, connect: connect, in: context) { socket in
            if let authenticator = try security.apply(to: socket, domain: "zmq") {
                context.setAuthenticator(authenticator)
            }
            try configure(socket)
        }
    }

    static func open(
        type: String, bind: String?, connect: String?, in context: ZMQContext,
        configure: (ZMQSocket) throws -> Void = { _ in }
    ) async throws -> ZMQSocket {
        let socket: ZMQSocket
        do {
            socket = try context.socket(SocketType(rawValue: type.uppercased())!)
        } catch {
            throw UsageError(message: "\(error)")
        }
        try configure(socket)
        do {
            if let bind {
                try await socket.bind(bind)
            } else if let connect {
                try await socket.connect(connect)
            }
        } catch let error as ZMQError where error.code == .invalidEndpoint {
            throw UsageError(message: "\(error)")
        }
        return socket
    }
}
