import ServiceLifecycle

/// A context is a `Service` of swift-service-lifecycle: in a `ServiceGroup` it runs until the
/// group shuts down gracefully (on SIGTERM, say), then shuts itself down, closing every socket
/// after its linger. The group stops its services in reverse order, so list the context first:
/// it then stops after the services that use its sockets.
///
///     let context = ZMQContext()
///     let group = ServiceGroup(
///         services: [context, ZMQProxyService(frontend: clients, backend: workers)],
///         gracefulShutdownSignals: [.sigterm, .sigint],
///         logger: logger)
///     try await group.run()
extension ZMQContext: Service {
    public func run() async throws {
        // Returns on graceful shutdown; throws if the group is cancelled instead, and then the
        // shutdown below cuts every linger short, as a cancelled `shutdown()` does.
        try? await gracefulShutdown()
        await shutdown()
    }
}

/// `ZMQProxy.run` as a `Service`: it forwards until the group shuts down gracefully, a
/// `TERMINATE` arrives on the control socket, or a socket closes. For the last two to shut the
/// rest of the group down gracefully, add it with `successTerminationBehavior:
/// .gracefullyShutdownGroup`.
public struct ZMQProxyService: Service {
    let frontend: ZMQSocket
    let backend: ZMQSocket
    let capture: ZMQSocket?
    let control: ZMQSocket?
    let trace: AsyncStream<ZMQProxy.Passage>.Continuation?

    public init(frontend: ZMQSocket, backend: ZMQSocket, capture: ZMQSocket? = nil, control: ZMQSocket? = nil,
                trace: AsyncStream<ZMQProxy.Passage>.Continuation? = nil) {
        self.frontend = frontend
        self.backend = backend
        self.capture = capture
        self.control = control
        self.trace = trace
    }

    public func run() async throws {
        let (frontend, backend, capture, control, trace) = (self.frontend, self.backend, self.capture, self.control, self.trace)
        do {
            try await cancelWhenGracefulShutdown {
                try await ZMQProxy.run(frontend: frontend, backend: backend, capture: capture, control: control, trace: trace)
            }
        } catch ZMQError.cancelled {
            return  // shut down gracefully
        }
    }
}
