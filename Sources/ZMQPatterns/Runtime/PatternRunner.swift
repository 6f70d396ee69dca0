import Foundation
import Synchronization
import ZMQ

/// The application's answer to a request a pattern hands it: the reply, after any number of
/// partial replies sent through `partial` (Majordomo's PARTIAL; other patterns ignore them).
public typealias PatternHandler = @Sendable (Message, _ partial: @Sendable (Message) throws -> Void) async throws -> Message

/// Runs a `PatternMachine`: owns its sockets, reads the ones it reads, keeps its clock, carries
/// out its actions, runs the application's handler on the requests it hands out, and reports
/// its events. Every pattern in ZMQPatterns runs on it, and so can one of the application's own:
///
///     let runner = PatternRunner(MyMachine(), in: context) { event in print(event) }
///     try await runner.run()   // until the task is cancelled
///
/// The loop takes what each socket holds without waiting (up to a batch per turn, so that a busy
/// socket cannot starve the others or the clock), ticks the machine when its deadline comes,
/// and waits on a poller only when there is nothing to do. It runs on the I/O thread of the
/// first socket the machine opens, so a message is read and answered without a hop between
/// threads, as a libzmq device's one thread does. A handler runs in a task of its own while the
/// loop goes on; its answer comes back to the loop over an inproc pair, which the poller watches
/// with the machine's sockets.
public final class PatternRunner<Machine: PatternMachine> {
    /// The most messages taken from one socket in a turn.
    static var batch: Int { 256 }

    public private(set) var machine: Machine
    private let context: ZMQContext
    private let handler: PatternHandler?
    private let onEvent: @Sendable (Machine.Event) -> Void
    private var sockets: [SocketName: ZMQSocket] = [:]
    /// In the order opened: the order they are read in.
    private var names: [SocketName] = []
    /// Handlers' answers: sent on `outbox` by their tasks, read from `inbox` by the loop.
    private var answers: (inbox: ZMQSocket, outbox: ZMQSocket)?
    private var handlers: [UInt64: Task<Void, Never>] = [:]
    /// Sockets whose dropped connections the machine hears of: the task watching each, and
    /// which opening of that name it watches (a note about a socket since replaced is stale).
    private var watchers: [SocketName: (task: Task<Void, Never>, opening: UInt64)] = [:]
    private var openings: UInt64 = 0
    /// Why a handler failed, by request id, until the loop reads its note.
    private let failures = HandlerFailures()

    public init(_ machine: Machine, in context: ZMQContext, handler: PatternHandler? = nil,
                onEvent: @escaping @Sendable (Machine.Event) -> Void = { _ in }) {
        self.machine = machine
        self.context = context
        self.handler = handler
        self.onEvent = onEvent
    }

    /// Runs until the task is cancelled, then returns with every socket closed, after the
    /// machine's last words (`stop`). Throws if a socket cannot be opened (an endpoint that does
    /// not parse, an address in use), the handler throws, or the machine fails (`fail`).
    /// Its endpoints are free again when it returns: a runner started at once on the same
    /// endpoints binds them.
    public func run() async throws {
        do {
            try await perform(machine.start(now: .now))
            if let first = names.first.flatMap({ sockets[$0] }) {
                try await withTaskExecutorPreference(first.ioExecutor) { try await loop() }
            } else {
                try await loop()
            }
        } catch {
            try? await perform(machine.stop(now: .now))
            await finish()
            throw error
        }
        try? await perform(machine.stop(now: .now))
        await finish()
    }

    private func loop() async throws {
        while !Task.isCancelled {
            var busy = false
            while let answers, let note = try? answers.inbox.tryReceive() {
                try await perform(answer(note))
                busy = true
            }
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
            if let answers { poller.register(answers.inbox) }
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
                close(name, linger: .zero)
                let socket = try await open(plan)
                sockets[name] = socket
                names.append(name)
                if plan.reportsDisconnects { try await watch(socket, as: name) }
            case .close(let name, let linger):
                close(name, linger: linger)
            case .send(let message, let name, let report):
                guard let socket = sockets[name] else { continue }
                do {
                    try socket.trySend(message)
                    if let report { onEvent(report) }
                } catch let error as ZMQError {
                    queue = machine.sendFailed(message, on: name, error: error, now: .now)[...] + queue
                }
            case .sendInOrder(let messages, let name, let report):
                guard let socket = sockets[name] else { continue }
                var refused: (Message, ZMQError)?
                for message in messages {
                    do {
                        try socket.trySend(message)
                    } catch let error as ZMQError {
                        refused = (message, error)
                        break
                    }
                }
                if let (message, error) = refused {
                    queue = machine.sendFailed(message, on: name, error: error, now: .now)[...] + queue
                } else if let report {
                    onEvent(report)
                }
            case .handle(let request, let id):
                try await startHandler(request, id: id)
            case .report(let event):
                onEvent(event)
            case .fail(let error):
                throw error
            case .perform(let work):
                try await work.run()
            }
        }
    }

    // MARK: Handlers

    private func startHandler(_ request: Message, id: UInt64) async throws {
        guard let handler else { preconditionFailure("\(Machine.self) hands out requests: give its runner a handler") }
        let outbox = try await answerPair().outbox
        let failures = failures
        handlers[id] = Task {
            do {
                let reply = try await handler(request) { partial in try outbox.trySend(HandlerNote.partial.message(id, partial)) }
                try await outbox.send(HandlerNote.final.message(id, reply))
            } catch {
                failures.errors.withLock { $0[id] = error }
                try? await outbox.send(HandlerNote.failed.message(id))
            }
        }
    }

    /// What the machine makes of a handler's note; a failure ends the run with the handler's error.
    private func answer(_ note: Message) throws -> [PatternAction<Machine.Event>] {
        guard note.count >= 2, note[0].count == 8, let kind = note[1].bytes.first.flatMap(HandlerNote.init(rawValue:)) else { return [] }
        let id = note[0].withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
        let body = Message(Array(note.frames.dropFirst(2)), metadata: note.metadata)
        switch kind {
        case .partial:
            return machine.handled(body, id: id, final: false, now: .now)
        case .final:
            handlers[id] = nil
            return machine.handled(body, id: id, final: true, now: .now)
        case .failed:
            handlers[id] = nil
            throw failures.errors.withLock { $0.removeValue(forKey: id) } ?? CancellationError()
        case .disconnected:
            guard let text = body.first?.string, watchers[SocketName(text)]?.opening == id else { return [] }
            let name = SocketName(text)
            return machine.disconnected(name, now: .now)
        }
    }

    /// Tells the machine, through the answers pair, each time a connection of `socket` drops.
    private func watch(_ socket: ZMQSocket, as name: SocketName) async throws {
        let outbox = try await answerPair().outbox
        openings += 1
        let opening = openings
        let events = socket.monitor()
        watchers[name] = (Task {
            for await event in events where event.kind == .disconnected {
                try? await outbox.send(HandlerNote.disconnected.message(opening, Message(Frame(name.description))))
            }
        }, opening)
    }

    private func answerPair() async throws -> (inbox: ZMQSocket, outbox: ZMQSocket) {
        if let answers { return answers }
        let endpoint = "inproc://zmqpatterns-runner-\(UUID().uuidString)"
        let inbox = try context.socket(.pair, options: [.linger(.zero), .receiveHighWaterMark(0)])
        let outbox = try context.socket(.pair, options: [.linger(.zero), .sendHighWaterMark(0)])
        try await inbox.bind(endpoint)
        try await outbox.connect(endpoint)
        answers = (inbox, outbox)
        return (inbox, outbox)
    }

    // MARK: Sockets

    private func open(_ plan: SocketPlan) async throws -> ZMQSocket {
        try await plan.open(in: context)
    }

    private func close(_ name: SocketName, linger: Duration) {
        watchers.removeValue(forKey: name)?.task.cancel()
        guard let socket = sockets.removeValue(forKey: name) else { return }
        try? socket.set(.linger(.after(linger)))
        socket.close()
        names.removeAll { $0 == name }
    }

    private func finish() async {
        for task in handlers.values { task.cancel() }
        handlers.removeAll()
        for watcher in watchers.values { watcher.task.cancel() }
        watchers.removeAll()
        for socket in sockets.values { socket.close() }
        // Closing lets go of the endpoints in the background: wait for that, not for the linger.
        for socket in sockets.values { await socket.waitUntilUnbound() }
        sockets.removeAll()
        names.removeAll()
        answers?.inbox.close()
        answers?.outbox.close()
        answers = nil
    }
}

/// A note on a runner's answers pair: the request id (8 octets), what it is, then the frames of
/// the answer. For `disconnected`, the socket's opening number and its name.
private enum HandlerNote: UInt8 {
    case partial, final, failed, disconnected

    func message(_ id: UInt64, _ body: Message = Message()) -> Message {
        Message([Frame(withUnsafeBytes(of: id.bigEndian, Array.init)), Frame([rawValue])] + body.frames, metadata: body.metadata)
    }
}

/// Why handlers failed, by request id.
private final class HandlerFailures: Sendable {
    let errors = Mutex<[UInt64: any Error]>([:])
}
