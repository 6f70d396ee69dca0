import ZMQ

extension ZMQSocket {
    /// The next message, or nil if none has arrived by `deadline`: the wait the patterns are
    /// made of, without a timeout option to set and reset on the socket.
    func receive(before deadline: ContinuousClock.Instant) async throws -> Message? {
        // A busy socket has a message waiting: no poller to set up for that.
        var poller: ZMQPoller?
        while true {
            do {
                return try tryReceive()
            } catch ZMQError.wouldBlock {
                // Nothing yet: wait below.
            }
            let remaining = deadline - .now
            if remaining <= .zero { return nil }
            if poller == nil {
                poller = ZMQPoller()
                poller?.register(self)
            }
            if try await poller!.poll(timeout: remaining).isEmpty { return nil }
        }
    }
}

/// The frames up to and including the first empty one (the return address a REQ or ROUTER put
/// before the request), and the rest; no empty frame means no address at all.
func splitEnvelope(_ message: Message) -> (envelope: [Frame], body: [Frame]) {
    let frames = message.frames
    guard let delimiter = frames.firstIndex(where: \.isEmpty) else { return ([], frames) }
    return (Array(frames[...delimiter]), Array(frames[(delimiter + 1)...]))
}
