import ZMQ

/// The Paranoid Pirate worker (6/PPP) as a value: it says READY on each new connection,
/// heartbeats its queue, takes any message as a sign of life, and when the queue has been silent
/// for `liveness` intervals asks to dial again after a wait that doubles from 1 s up to 32 s, as
/// the Guide's worker does.
struct PirateWorkerMachine {
    enum Action: Equatable {
        case send(Message)
        /// A request to answer: the reply goes back behind `envelope`.
        case handle(envelope: [Frame], body: Message)
        /// Close the socket, wait `after`, then open a new one and call `connected`.
        case reconnect(after: Duration)
    }

    private var peer: PeerLiveness

    init(heartbeat: Duration, liveness: Int, reconnectInterval: Duration, reconnectIntervalMax: Duration, now: ContinuousClock.Instant) {
        peer = PeerLiveness(heartbeat: heartbeat, liveness: liveness, reconnectInterval: reconnectInterval,
                            reconnectIntervalMax: reconnectIntervalMax, now: now)
    }

    var nextDeadline: ContinuousClock.Instant { peer.nextDeadline }

    /// A new connection: announce ourselves.
    mutating func connected(now: ContinuousClock.Instant) -> [Action] {
        peer.connected(now: now)
        return [.send(Message(PirateCommand.ready))]
    }

    mutating func received(_ message: Message, now: ContinuousClock.Instant) -> [Action] {
        peer.heard(now: now)
        if message.count == 1, message[0] == PirateCommand.heartbeat || message[0] == PirateCommand.ready { return [] }
        let (envelope, body) = splitEnvelope(message)
        guard !body.isEmpty else { return [] }
        return [.handle(envelope: envelope, body: Message(body, metadata: message.metadata))]
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        switch peer.tick(now: now) {
        case .nothing: []
        case .heartbeat: [.send(Message(PirateCommand.heartbeat))]
        case .reconnect(let delay): [.reconnect(after: delay)]
        }
    }
}
