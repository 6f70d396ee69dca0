import ZMTP

/// The routing rules of one socket type (28/REQREP, 29/PUBSUB, 30/PIPELINE, 31/EXPAIR), built from
/// the strategies in Routing/. The socket calls these with its lock held.
protocol SocketPattern: Sendable {
    /// The pipe an outgoing message goes to, or nil when none has room (the send then waits).
    mutating func pipeForSending(_ message: Message, among pipes: [Pipe], hwm: Int) throws(ZMQError) -> Pipe?
    /// The pipe the next incoming message is taken from, or nil when none holds one.
    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe?
    /// Whether a newly connected peer may join the pipes already there.
    func admits(newPeerAmong pipes: [Pipe]) -> Bool
}

extension SocketPattern {
    func admits(newPeerAmong pipes: [Pipe]) -> Bool { true }
}

extension SocketType {
    func makePattern() throws(ZMQError) -> any SocketPattern {
        switch self {
        case .push: return PushPattern()
        case .pull: return PullPattern()
        case .pair: return PairPattern()
        default: throw .notSupported("\(rawValue) sockets are not implemented yet")
        }
    }
}
