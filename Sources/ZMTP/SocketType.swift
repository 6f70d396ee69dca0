/// A ZeroMQ socket type, spelled as it travels in the `Socket-Type` property. A struct rather
/// than an enum, so that the draft types can be added without breaking a `switch`.
public struct SocketType: RawRepresentable, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    package enum Kind: String, CaseIterable, Sendable {
        case pair = "PAIR", pub = "PUB", sub = "SUB", req = "REQ", rep = "REP", dealer = "DEALER",
             router = "ROUTER", pull = "PULL", push = "PUSH", xpub = "XPUB", xsub = "XSUB", stream = "STREAM"
    }

    package let kind: Kind

    package init(_ kind: Kind) { self.kind = kind }

    /// The type named `rawValue` (`"PUSH"`, `"ROUTER"` …); nil for a name this library does not know.
    public init?(rawValue: String) {
        guard let kind = Kind(rawValue: rawValue) else { return nil }
        self.kind = kind
    }

    public var rawValue: String { kind.rawValue }
    public var description: String { rawValue }

    public static let pair = SocketType(.pair)
    public static let pub = SocketType(.pub)
    public static let sub = SocketType(.sub)
    public static let req = SocketType(.req)
    public static let rep = SocketType(.rep)
    public static let dealer = SocketType(.dealer)
    public static let router = SocketType(.router)
    public static let pull = SocketType(.pull)
    public static let push = SocketType(.push)
    public static let xpub = SocketType(.xpub)
    public static let xsub = SocketType(.xsub)
    /// Raw octets to and from plain TCP peers, no ZMTP (libzmq's ZMQ_STREAM).
    public static let stream = SocketType(.stream)

    /// Every socket type this library implements.
    public static var allCases: [SocketType] { Kind.allCases.map(SocketType.init) }

    /// The legal pairs of 23/ZMTP "The Socket-Type Property".
    public func isCompatible(with peer: SocketType) -> Bool {
        traits.peers.contains(peer.kind)
    }

    /// REQ, DEALER and ROUTER announce an Identity in READY; the other types neither send nor use one
    /// (23/ZMTP "The Identity Property", and libzmq's behaviour).
    public var announcesIdentity: Bool { traits.announcesIdentity }

    /// What the specifications say a socket type is, in one place: the handshake, the engines'
    /// wire rules, inproc, the proxy and the tool read it here rather than testing types
    /// themselves, so that a new type is one row of `traits`.
    package struct Traits: Sendable {
        /// The types it may be connected to (23/ZMTP "The Socket-Type Property").
        package let peers: Set<Kind>
        /// Whether it sends messages at all, and receives them at all.
        package let sends: Bool
        package let receives: Bool
        /// It puts an Identity in READY (23/ZMTP "The Identity Property").
        package let announcesIdentity: Bool
        /// It takes SUBSCRIBE and CANCEL from its peers (29/PUBSUB, 23/ZMTP 3.1).
        package let takesSubscriptions: Bool
        /// It sends its subscriptions as SUBSCRIBE and CANCEL (as messages to a ZMTP 3.0 peer).
        package let sendsSubscriptions: Bool
        /// It names each peer by a routing id, put before each message received and read from
        /// the first frame of each message sent.
        package let routesByID: Bool
        /// What its connections carry: ZMTP, or raw octets (STREAM).
        package let framing: Framing

        init(peers: Set<Kind>, sends: Bool = true, receives: Bool = true, announcesIdentity: Bool = false,
             takesSubscriptions: Bool = false, sendsSubscriptions: Bool = false, routesByID: Bool = false,
             framing: Framing = .zmtp) {
            self.peers = peers
            self.sends = sends
            self.receives = receives
            self.announcesIdentity = announcesIdentity
            self.takesSubscriptions = takesSubscriptions
            self.sendsSubscriptions = sendsSubscriptions
            self.routesByID = routesByID
            self.framing = framing
        }
    }

    /// What a socket's connections carry, which decides the engine each connection gets.
    package enum Framing: Sendable {
        /// ZMTP frames after a handshake (23/ZMTP).
        case zmtp
        /// The peer's octets as they come, no handshake: STREAM, and ROUTER with `routerRaw`.
        case raw
    }

    /// This type's row of the table.
    package var traits: Traits {
        switch kind {
        case .pair: Traits(peers: [.pair])
        case .pub: Traits(peers: [.sub, .xsub], receives: false, takesSubscriptions: true)
        case .xpub: Traits(peers: [.sub, .xsub], takesSubscriptions: true)
        case .sub: Traits(peers: [.pub, .xpub], sends: false, sendsSubscriptions: true)
        case .xsub: Traits(peers: [.pub, .xpub], sendsSubscriptions: true)
        case .req: Traits(peers: [.rep, .router], announcesIdentity: true)
        case .rep: Traits(peers: [.req, .dealer])
        case .dealer: Traits(peers: [.rep, .dealer, .router], announcesIdentity: true)
        case .router: Traits(peers: [.req, .dealer, .router], announcesIdentity: true, routesByID: true)
        case .push: Traits(peers: [.pull], receives: false)
        case .pull: Traits(peers: [.push], sends: false)
        // No ZeroMQ peers: it talks to anything that speaks TCP.
        case .stream: Traits(peers: [], routesByID: true, framing: .raw)
        }
    }
}
