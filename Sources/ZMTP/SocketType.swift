/// A ZeroMQ socket type, spelled as it travels in the `Socket-Type` property. A struct rather
/// than an enum, so that the draft types can be added without breaking a `switch`.
public struct SocketType: RawRepresentable, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    package enum Kind: String, CaseIterable, Sendable {
        case pair = "PAIR", pub = "PUB", sub = "SUB", req = "REQ", rep = "REP", dealer = "DEALER",
             router = "ROUTER", pull = "PULL", push = "PUSH", xpub = "XPUB", xsub = "XSUB", stream = "STREAM",
             client = "CLIENT", server = "SERVER", radio = "RADIO", dish = "DISH", scatter = "SCATTER",
             gather = "GATHER", peer = "PEER", channel = "CHANNEL", dgram = "DGRAM"
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

    // The thread-safe draft types: one frame per message (41/47 CLIENTSERVER, 48/RADIO-DISH,
    // 49/SCATTERGATHER, 51/P2P, 52/CHANNEL).

    /// Asks SERVERs, round-robin, and takes their answers fair-queued.
    public static let client = SocketType(.client)
    /// Answers CLIENTs, naming each by a 32-bit routing id carried on the message.
    public static let server = SocketType(.server)
    /// Sends each message to the DISHes that joined its group.
    public static let radio = SocketType(.radio)
    /// Receives the messages of the groups it joined.
    public static let dish = SocketType(.dish)
    /// Hands out messages round-robin to GATHERs.
    public static let scatter = SocketType(.scatter)
    /// Takes messages fair-queued from SCATTERs.
    public static let gather = SocketType(.gather)
    /// Talks to other PEERs, each named by a 32-bit routing id; `connectPeer` returns the id.
    public static let peer = SocketType(.peer)
    /// Talks to exactly one other CHANNEL.
    public static let channel = SocketType(.channel)
    /// Exchanges udp datagrams with any address: `[address, body]` each way.
    public static let dgram = SocketType(.dgram)

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
        /// Every message is one frame (the thread-safe draft types).
        package let singleFrame: Bool
        /// It takes JOIN and LEAVE from its peers (RADIO, 37/ZMTP).
        package let takesGroups: Bool
        /// It sends its groups as JOIN and LEAVE (DISH).
        package let sendsGroups: Bool

        init(peers: Set<Kind>, sends: Bool = true, receives: Bool = true, announcesIdentity: Bool = false,
             takesSubscriptions: Bool = false, sendsSubscriptions: Bool = false, routesByID: Bool = false,
             framing: Framing = .zmtp, singleFrame: Bool = false, takesGroups: Bool = false, sendsGroups: Bool = false) {
            self.peers = peers
            self.sends = sends
            self.receives = receives
            self.announcesIdentity = announcesIdentity
            self.takesSubscriptions = takesSubscriptions
            self.sendsSubscriptions = sendsSubscriptions
            self.routesByID = routesByID
            self.framing = framing
            self.singleFrame = singleFrame
            self.takesGroups = takesGroups
            self.sendsGroups = sendsGroups
        }
    }

    /// What a socket's connections carry, which decides the engine each connection gets.
    package enum Framing: Sendable {
        /// ZMTP frames after a handshake (23/ZMTP).
        case zmtp
        /// The peer's octets as they come, no handshake: STREAM, and ROUTER with `routerRaw`.
        case raw
        /// One datagram per message, no connection: DGRAM (RADIO and DISH too, over udp).
        case datagram
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
        case .client: Traits(peers: [.server], singleFrame: true)
        case .server: Traits(peers: [.client], routesByID: true, singleFrame: true)
        case .radio: Traits(peers: [.dish], receives: false, singleFrame: true, takesGroups: true)
        case .dish: Traits(peers: [.radio], sends: false, singleFrame: true, sendsGroups: true)
        case .scatter: Traits(peers: [.gather], receives: false, singleFrame: true)
        case .gather: Traits(peers: [.scatter], sends: false, singleFrame: true)
        case .peer: Traits(peers: [.peer], routesByID: true, singleFrame: true)
        case .channel: Traits(peers: [.channel], singleFrame: true)
        // udp only: no ZeroMQ peers, any program that sends datagrams.
        case .dgram: Traits(peers: [], framing: .datagram)
        }
    }
}
