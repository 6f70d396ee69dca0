import ZMQ

/// A client of Titanic (9/TSP), through a Majordomo broker: hand a request over, come back for
/// the reply later (from another process, after a restart: the id is all it takes), close it
/// when done.
///
///     let titanic = TitanicClient(context, connectingTo: "tcp://localhost:5555")
///     let id = try await titanic.submit(service: "echo", ["hello"])
///     // … later …
///     if let reply = try await titanic.reply(to: id) { try await titanic.close(id) }
public struct TitanicClient: Sendable {
    private let client: MajordomoClient

    /// A client whose Majordomo requests to the Titanic services are retried as `MajordomoClient`
    /// does, with up to `maxInFlight` of them at once.
    public init(
        _ context: ZMQContext, connectingTo endpoint: String, version: MajordomoVersion = .v02, timeout: Duration = .milliseconds(2500),
        attempts: Int = 3, maxInFlight: Int = 1, options: [SocketOption] = [], onEvent: @escaping EventHandler<RequestEvent> = { _ in }
    ) {
        client = MajordomoClient(context, connectingTo: endpoint, version: version, timeout: timeout, attempts: attempts,
                                 maxInFlight: maxInFlight, options: options, onEvent: onEvent)
    }

    /// Stores `body` for `service` at Titanic and returns the request's id; Titanic has it on
    /// disk when this returns.
    public func submit(service: String, _ body: Message) async throws -> String {
        let reply = try await call(.request, Message([Frame(service)] + body.frames))
        guard reply.count >= 2, let id = reply[1].string else {
            throw ZMQError(code: .serviceFailed, message: "titanic.request answered 200 without an id")
        }
        return id
    }

    /// The reply to request `id`, or nil while it is pending. Throws `.unknownRequest` for an
    /// id Titanic does not know (never submitted, or closed).
    public func reply(to id: String) async throws -> Message? {
        let reply = try await call(.reply, Message(Frame(id)), accepting: ["200", "300"])
        return reply[0].string?.hasPrefix("300") == true ? nil : Message(Array(reply.frames.dropFirst()))
    }

    /// Tells Titanic the reply to `id` is no longer needed.
    public func close(_ id: String) async throws {
        _ = try await call(.close, Message(Frame(id)))
    }

    /// Submits, waits for the reply (asking every `pollInterval`) and closes: a Titanic request
    /// from start to end. A close that fails leaves the reply stored; it is still returned.
    public func request(service: String, _ body: Message, pollInterval: Duration = .milliseconds(100)) async throws -> Message {
        let id = try await submit(service: service, body)
        while true {
            if let reply = try await reply(to: id) {
                try? await close(id)
                return reply
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    public func closeSockets() async {
        await client.close()
    }

    /// A Titanic service's reply, checked to start with an accepted status: 400 throws
    /// `.unknownRequest` (do not retry), 500 and anything else `.serviceFailed` (retry later).
    private func call(_ service: TitanicService, _ body: Message, accepting accepted: Set<String> = ["200"]) async throws -> Message {
        let reply = try await client.request(service: service.rawValue, body)
        let status = reply.first?.string ?? ""
        let code = String(status.prefix(3))
        guard accepted.contains(code) else {
            let message = "\(service.rawValue) answered \(status.isEmpty ? "nothing" : status)"
            throw ZMQError(code: code == "400" ? .unknownRequest : .serviceFailed, message: message)
        }
        return reply
    }
}
