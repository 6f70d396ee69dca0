/// The ZeroMQ socket types, spelled as they travel in the `Socket-Type` property.
public enum SocketType: String, Sendable, CaseIterable, CustomStringConvertible {
    case pair = "PAIR"
    case pub = "PUB"
    case sub = "SUB"
    case req = "REQ"
    case rep = "REP"
    case dealer = "DEALER"
    case router = "ROUTER"
    case pull = "PULL"
    case push = "PUSH"
    case xpub = "XPUB"
    case xsub = "XSUB"

    public var description: String { rawValue }

    /// The legal pairs of 23/ZMTP "The Socket-Type Property".
    public func isCompatible(with peer: SocketType) -> Bool {
        switch (self, peer) {
        case (.req, .rep), (.req, .router),
             (.rep, .req), (.rep, .dealer),
             (.dealer, .rep), (.dealer, .dealer), (.dealer, .router),
             (.router, .req), (.router, .dealer), (.router, .router),
             (.pub, .sub), (.pub, .xsub), (.xpub, .sub), (.xpub, .xsub),
             (.sub, .pub), (.sub, .xpub), (.xsub, .pub), (.xsub, .xpub),
             (.push, .pull), (.pull, .push),
             (.pair, .pair):
            return true
        default:
            return false
        }
    }

    /// REQ, DEALER and ROUTER announce an Identity in READY; the other types neither send nor use one
    /// (23/ZMTP "The Identity Property", and libzmq's behaviour).
    public var announcesIdentity: Bool {
        self == .req || self == .dealer || self == .router
    }
}
