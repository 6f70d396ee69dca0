/// A ZeroMQ socket type, spelled as it travels in the `Socket-Type` property. A struct rather
/// than an enum, so that the draft types can be added without breaking a `switch`.
public struct SocketType: RawRepresentable, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    package enum Kind: String, CaseIterable, Sendable {
        case pair = "PAIR", pub = "PUB", sub = "SUB", req = "REQ", rep = "REP", dealer = "DEALER",
             router = "ROUTER", pull = "PULL", push = "PUSH", xpub = "XPUB", xsub = "XSUB"
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

    /// Every socket type this library implements.
    public static var allCases: [SocketType] { Kind.allCases.map(SocketType.init) }

    /// The legal pairs of 23/ZMTP "The Socket-Type Property".
    public func isCompatible(with peer: SocketType) -> Bool {
        switch (kind, peer.kind) {
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
