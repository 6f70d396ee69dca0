import DequeModule
import ZMTP

/// REQ (28/REQREP): strictly one request, then its reply. A request goes to the next peer with
/// room (round-robin) behind an empty delimiter frame; only that peer's reply, starting with the
/// delimiter, is accepted, and the delimiter is removed. Sending twice, or receiving before
/// sending, throws `invalidState`. If the peer goes away the reply never comes: use a receive
/// timeout, as with libzmq.
struct ReqPattern: SocketPattern {
    private var loadBalancer = LoadBalancer()
    /// The peer asked, while its reply is awaited.
    private var replyPipe: Pipe?

    var batchesReceives: Bool { false }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard replyPipe == nil else {
            throw .invalidState("a REQ socket must receive the reply before it sends another request")
        }
        guard let pipe = loadBalancer.select(from: pipes, hwm: outbox.hwm) else { return false }
        // A late reply to an earlier request must not pass for the answer to this one.
        for pipe in pipes where !pipe.inbound.isEmpty {
            pipe.inbound.removeAll()
            outbox.removedInbound = true
        }
        outbox.queue(Message([Frame()] + message.frames), on: pipe)
        replyPipe = pipe
        return true
    }

    /// Only between a reply and the next request.
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool {
        replyPipe == nil && pipes.contains { $0.hasRoom(hwm: hwm) }
    }

    /// Only when the reply to the request sent has come.
    func hasIn(among pipes: [Pipe]) -> Bool {
        replyPipe.map { !$0.inbound.isEmpty } ?? false
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        guard let replyPipe else {
            throw .invalidState("a REQ socket must send a request before it receives")
        }
        return replyPipe.inbound.isEmpty ? nil : replyPipe
    }

    mutating func received(_ batch: inout Deque<Message>, from pipe: Pipe) {
        let expected = replyPipe === pipe
        batch.removeAll { !expected || $0.count < 2 || !$0[0].isEmpty }
    }

    mutating func handOut(_ message: Message, from pipe: Pipe) -> Message {
        replyPipe = nil
        return Message(Array(message.frames.dropFirst()), metadata: message.metadata)
    }
}
