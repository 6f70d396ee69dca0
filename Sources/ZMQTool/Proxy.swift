import ArgumentParser
import Foundation
import ServiceLifecycle
import ZMQ

struct Proxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forward messages between a frontend and a backend socket until interrupted.",
        discussion: """
            XSUB/XPUB makes a forwarder for publish-subscribe (subscriptions travel upstream), \
            PULL/PUSH a streamer. With --trace, each message or subscription that passes is \
            printed as "frontend>backend" or "backend>frontend", a tab, "message", "subscribe" \
            or "unsubscribe", a tab, and its frames as zmq recv prints them (for a \
            subscription, the topic). Exits 0 on SIGINT or SIGTERM.
            """
    )

    @Option(help: "The frontend's socket type, e.g. XSUB or PULL.")
    var frontend: String

    @Option(help: "Bind the frontend to this endpoint.")
    var frontendBind: String?

    @Option(help: "Connect the frontend to this endpoint.")
    var frontendConnect: String?

    @Option(help: "The backend's socket type, e.g. XPUB or PUSH.")
    var backend: String

    @Option(help: "Bind the backend to this endpoint.")
    var backendBind: String?

    @Option(help: "Connect the backend to this endpoint.")
    var backendConnect: String?

    @Option(help: "Also publish every forwarded message on a PUB socket bound here.")
    var capture: String?

    @Flag(help: "Print a line per message or subscription that passes: direction, kind, then the frames as recv prints them.")
    var trace = false

    @Option(help: "Take PAUSE, RESUME, TERMINATE and STATISTICS on a REP socket bound here (zmq_proxy_steerable).")
    var control: String?

    @OptionGroup(title: "Frontend security") var frontendSecurity: FrontendSecurityArguments
    @OptionGroup(title: "Backend security") var backendSecurity: BackendSecurityArguments

    @Option(help: ArgumentHelp(
        "Disconnect a peer of either side that sends a message larger than this many octets (default 64 MiB).",
        discussion: "0 means no limit."))
    var maxMessageSize: Int?

    func validate() throws {
        if let maxMessageSize, maxMessageSize < 0 { throw ValidationError("--max-message-size must not be negative") }
        try SocketArguments.validate(type: frontend, bind: frontendBind, connect: frontendConnect, option: "frontend-")
        try SocketArguments.validate(type: backend, bind: backendBind, connect: backendConnect, option: "backend-")
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        let limit: (ZMQSocket) throws -> Void = { socket in
            if let maxMessageSize = self.maxMessageSize {
                try socket.set(.maxMessageSize(maxMessageSize == 0 ? nil : maxMessageSize))
            }
        }
        // Each side's server rules answer for its own ZAP domain, installed before it binds.
        var authenticators: [String: any ZMQAuthenticator] = [:]
        let frontend = try await SocketArguments.open(type: self.frontend, bind: frontendBind, connect: frontendConnect, in: context) { socket in
            authenticators["frontend"] = try frontendSecurity.settings.apply(to: socket, domain: "frontend")
            if !authenticators.isEmpty { context.setAuthenticator(DomainAuthenticator(authenticators)) }
            try limit(socket)
        }
        let backend = try await SocketArguments.open(type: self.backend, bind: backendBind, connect: backendConnect, in: context) { socket in
            authenticators["backend"] = try backendSecurity.settings.apply(to: socket, domain: "backend")
            if !authenticators.isEmpty { context.setAuthenticator(DomainAuthenticator(authenticators)) }
            try limit(socket)
        }
        let capture: ZMQSocket? = if let endpoint = self.capture {
            try await SocketArguments.open(type: "PUB", bind: endpoint, connect: nil, in: context)
        } else {
            nil
        }
        let control: ZMQSocket? = if let endpoint = self.control {
            try await SocketArguments.open(type: "REP", bind: endpoint, connect: nil, in: context)
        } else {
            nil
        }
        let sockets = [frontend, backend] + (capture.map { [$0] } ?? []) + (control.map { [$0] } ?? [])
        // What is still queued when the proxy stops is not waited for.
        for socket in sockets { try socket.set(SocketOption.linger(.zero)) }
        guard ZMQProxy.passesMessages(between: frontend.type, and: backend.type) else {
            await context.shutdown()
            throw UsageError(message: "a \(frontend.type) frontend and a \(backend.type) backend pass nothing between them")
        }
        // SIGINT and SIGTERM end the proxy gracefully; the context, listed first, stops last.
        // A proxy that ends by itself (TERMINATE) shuts the rest down gracefully.
        let (passing, trace) = AsyncStream.makeStream(of: ZMQProxy.Passage.self)
        let proxy = ZMQProxyService(frontend: frontend, backend: backend, capture: capture, control: control, trace: self.trace ? trace : nil)
        // The trace ends when the proxy stops, which during a graceful shutdown is before the
        // group turns to the printer: a service that ends before its turn fails the group, so
        // the printer then waits for its turn.
        let printer = TaskService {
            for await passage in passing { printPassage(passage) }
            try? await gracefulShutdown()
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: context), .init(service: printer),
                       .init(service: proxy, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: ZMQContext.silentLogger))
        try await group.run()
    }
}

/// One line of `zmq proxy --trace`.
private func printPassage(_ passage: ZMQProxy.Passage) {
    let direction = passage.direction == .frontendToBackend ? "frontend>backend" : "backend>frontend"
    var line = Data("\(direction)\t\(passage.kind)\t".utf8)
    FrameText.write(passage.message) { line.append(contentsOf: $0) }
    line.append(10)
    FileHandle.standardOutput.write(line)
}
