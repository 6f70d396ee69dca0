import ZMTP

/// REP (28/REQREP): strictly one request, then its reply. Requests are fair-queued; each is
/// handed out without its envelope (the frames up to and including the empty delimiter), and the
/// reply goes back to the same peer behind that envelope. A request without a delimiter is
/// dropped. Receiving twice, or replying with no request, throws `invalidState`. A reply for a
/// requester that has gone, or whose queue is full, is dropped and counted in `drops`.
struct RepPattern: SocketPattern {
    /// The request being answered: its peer and envelope.
    private var pending: (pipe: Pipe, envelope: [Frame])?

    var batchesReceives: Bool { false }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard let (pipe, envelope) = pending else {
            throw .invalidState("a REP socket must receive a request before it replies")
        }
        pending = nil
        if pipe.hasRoom(hwm: outbox.hwm, waits: false) {
            outbox.queue(moving: Message(envelope + message.frames), on: pipe)
        } else {
            // Counted, as libzmq does not: the requester went, or does not read its replies.
            outbox.drop(pipe.isDetached || pipe.awaitingConnection ? .peerGone : .highWaterMark, at: pipe)
        }
        return true
    }

    /// Only while a request waits for its reply (which is never refused: a full peer misses it).
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { pending != nil }

    /// Only between a reply and the next request, when one has come.
    func hasIn(among pipes: [Pipe]) -> Bool {
        pending == nil && pipes.contains { !$0.inbound.isEmpty }
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        guard pending == nil else {
            throw .invalidState("a REP socket must reply before it receives the next request")
        }
        return FairQueue.next(in: pipes)
    }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        // A request has a delimiter with at least one frame after it.
        let before = batch.count
        batch.removeAll { message in
            guard let delimiter = message.firstIndex(where: \.isEmpty) else { return true }
            return delimiter == message.count - 1
        }
        return DropTally(count: before - batch.count, reason: .malformed)
    }

    mutating func handOut(_ message: Message, from pipe: Pipe) -> Message {
        let delimiter = message.firstIndex(where: \.isEmpty)!
        pending = (pipe, Array(message[...delimiter]))
        return message.droppingFirst(delimiter + 1)
    }
}
