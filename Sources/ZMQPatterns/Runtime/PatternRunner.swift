import ZMQ

/// Runs a `PatternMachine`: owns its sockets, reads the ones it reads, keeps its clock, carries
/// out its actions, and hands its events to the application. Every pattern in ZMQPatterns runs
/// on it, and so can a pattern of the application's own:
///
///     let runner = PatternRunner(MyMachine(), in: context) { event in print(event) }
///     try await runner.run()   // until the task is cancelled
///
/// The loop takes what each socket holds without waiting (up to a batch per turn, so that a busy
/// socket cannot starve the others or the clock), ticks the machine when its deadline comes,
/// and waits on a poller only when there is nothing to do. It runs on the I/O thread of the
/// first socket the machine opens, so a message is read and answered without a hop between
/// threads, as a libzmq device's one thread does.
public final class PatternRunner<Machine: PatternMachine> {
    /// The most messages taken from one socket in a turn.
    static var batch: Int { 256 }

    public private(set) var machine: Machine
    private let context: ZMQContext
    private let onEvent: @Sendable (Machine.Event) -> Void
    private var sockets: [SocketName: ZMQSocket] = [:]
    /// In the order opened: the order they are read in.
    private var names: [SocketName] = []

    public init(_ machine: Machine, in context: ZMQContext, onEvent: @escaping @Sendable (Machine.Event) -> Void = { _ in }) {
        self.machine = machine
        self.context = context
        self.onEvent = onEvent
    }

    /// Runs until the task is cancelled, then returns with every socket closed. Throws if a
    /// socket cannot be opened (an endpoint that does not parse, an address in use).
    public func run() async throws {
        defer { closeAll() }
        try await perform(machine.start(now: .now))
        guard let first = names.first.flatMap({ sockets[$0] }) else { return try await loop() }
        try await withTaskExecutorPreference(first.ioExecutor) { try await loop() }
    }

    private func loop() async throws {
        while !Task.isCancelled {
            var busy = false
            for name in names where machine.reads(name) {
                var taken = 0
                while taken < Self.batch, machine.reads(name), let socket = sockets[name], let message = try? socket.tryReceive() {
                    taken += 1
                    try await perform(machine.received(message, on: name, now: .now))
                }
                busy = busy || taken > 0
            }
            if let deadline = machine.nextDeadline, deadline <= .now {
                try await perform(machine.tick(now: .now))
                busy = true
            }
            if busy { continue }
            var poller = ZMQPoller()
            for name in names where machine.reads(name) {
                if let socket = sockets[name] { poller.register(socket) }
            }
            let timeout = machine.nextDeadline.map { max(.zero, $0 - .now) }
            do {
                _ = try await poller.poll(timeout: timeout)
            } catch ZMQError.cancelled {
                return
            }
        }
    }

    /// Carries out `actions` in order; what a refused send leads to is done next.
    private func perform(_ actions: [PatternAction<Machine.Event>]) async throws {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .open(let name, let plan):
                close(name)
                sockets[name] = try await open(plan)
                names.append(name)
            case .close(let name):
                close(name)
            case .send(let message, let name, let report):
                guard let socket = sockets[name] else { continue }
                do {
                    try socket.trySend(message)
                    if let report { onEvent(report) }
                } catch let error as ZMQError {
                    queue = machine.sendFailed(message, on: name, error: error, now: .now)[...] + queue
                }
            case .report(let event):
                onEvent(event)
            }
        }
    }

    private func open(_ plan: SocketPlan) async throws -> ZMQSocket {
        let lingers = plan.options.contains { if case .linger = $0 { true } else { false } }
        let socket = try context.socket(plan.type, options: (lingers ? [] : [.linger(.zero)]) + plan.options)
        do {
            for endpoint in plan.bind { _ = try await socket.bind(endpoint) }
            for endpoint in plan.connect { try await socket.connect(endpoint) }
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    private func close(_ name: SocketName) {
        guard let socket = sockets.removeValue(forKey: name) else { return }
        socket.close()
        names.removeAll { $0 == name }
    }

    private func closeAll() {
        for socket in sockets.values { socket.close() }
        sockets.removeAll()
        names.removeAll()
    }
}
