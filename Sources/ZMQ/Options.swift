/// How long a closing socket keeps trying to deliver the messages still queued.
public enum Linger: Sendable, Equatable {
    /// Wait until every queued message is written to the wire (libzmq's default, -1).
    case forever
    /// Wait at most this long, then drop what is left; `.zero` drops at once.
    case after(Duration)

    public static let zero = Linger.after(.zero)
}

/// One socket option and its new value, for `ZMQSocket.set(_:)`: `.linger(.zero)`,
/// `.sendHighWaterMark(10_000)` …. A struct with a static member per option rather than an
/// enum, so that new options do not break code that handles options.
public struct SocketOption: Sendable, CustomStringConvertible {
    /// Every option, as the socket applies it.
    enum Setting: Sendable {
        case sendHighWaterMark(Int)
        case receiveHighWaterMark(Int)
        case linger(Linger)
        case reconnectInterval(Duration)
        case reconnectIntervalMax(Duration)
        case heartbeatInterval(Duration?)
        case heartbeatTimeout(Duration?)
        case heartbeatTTL(Duration?)
        case maxMessageSize(Int?)
        case routingID([UInt8]?)
        case handshakeInterval(Duration?)
        case receiveTimeout(Duration?)
        case sendTimeout(Duration?)
        case xpubVerbose(Bool)
        case xpubVerboser(Bool)
        case connectRoutingID([UInt8])
        case conflate(Bool)
        case reqRelaxed(Bool)
        case reqCorrelate(Bool)
        case routerMandatory(Bool)
        case plainServer(Bool)
        case plainUsername(String?)
        case plainPassword(String?)
        case curveServer(CurveKeyPair?)
        case curveServerKey(CurvePublicKey?)
        case curveKeyPair(CurveKeyPair?)
        case zapDomain(String)
        case metricsName(String?)
        case immediate(Bool)
        case probeRouter(Bool)
        case routerHandover(Bool)
        case routerNotify(RouterNotify)
        case xpubManual(Bool)
        case xpubNoDrop(Bool)
        case xpubWelcomeMessage(Frame?)
        case invertMatching(Bool)
        case tcpKeepalive(Bool?)
        case tcpKeepaliveCount(Int?)
        case tcpKeepaliveIdle(Duration?)
        case tcpKeepaliveInterval(Duration?)
        case sendBufferSize(Int?)
        case receiveBufferSize(Int?)
        case connectTimeout(Duration?)
        case reconnectStop(ReconnectStop)
        case routerRaw(Bool)
        case streamNotify(Bool)
    }

    let setting: Setting

    init(_ setting: Setting) { self.setting = setting }

    /// The option and its value as written, e.g. `sendHighWaterMark(10)`.
    public var description: String { String(describing: setting) }

    /// Messages queued per peer for sending before `send` waits (0 = no limit). Default 1000.
    public static func sendHighWaterMark(_ value: Int) -> SocketOption { SocketOption(.sendHighWaterMark(value)) }

    /// Messages queued per peer on receipt before reading from that peer pauses (0 = no limit). Default 1000.
    public static func receiveHighWaterMark(_ value: Int) -> SocketOption { SocketOption(.receiveHighWaterMark(value)) }

    public static func linger(_ value: Linger) -> SocketOption { SocketOption(.linger(value)) }

    /// The first wait before reconnecting a dropped or refused connection. Default 100 ms.
    public static func reconnectInterval(_ value: Duration) -> SocketOption { SocketOption(.reconnectInterval(value)) }

    /// The most the wait grows to, doubling after every failed attempt; zero keeps it constant.
    public static func reconnectIntervalMax(_ value: Duration) -> SocketOption { SocketOption(.reconnectIntervalMax(value)) }

    /// Send a PING this often (ZMTP 3.1); nil turns heartbeats off. Default off.
    public static func heartbeatInterval(_ value: Duration?) -> SocketOption { SocketOption(.heartbeatInterval(value)) }

    /// Close when nothing arrives this long after a PING; nil uses the interval.
    public static func heartbeatTimeout(_ value: Duration?) -> SocketOption { SocketOption(.heartbeatTimeout(value)) }

    /// The TTL we ask the peer to apply to us; nil announces none. Whole deciseconds, at most 6553.5 s.
    public static func heartbeatTTL(_ value: Duration?) -> SocketOption { SocketOption(.heartbeatTTL(value)) }

    /// The largest message (all frames together) accepted from a peer; a peer that announces a
    /// larger one is disconnected before its octets are buffered. Default 64 MiB
    /// (`SocketOptions.defaultMaxMessageSize`); nil means no limit, libzmq's default.
    public static func maxMessageSize(_ value: Int?) -> SocketOption { SocketOption(.maxMessageSize(value)) }

    /// The Identity this socket announces to its peers (1–255 octets, not starting with 0x00).
    public static func routingID(_ value: [UInt8]?) -> SocketOption { SocketOption(.routingID(value)) }

    /// How long a new connection may take to complete its handshake. Default 30 s; nil waits forever.
    public static func handshakeInterval(_ value: Duration?) -> SocketOption { SocketOption(.handshakeInterval(value)) }

    /// How long `receive()` waits before throwing `timedOut`; nil waits forever (default).
    public static func receiveTimeout(_ value: Duration?) -> SocketOption { SocketOption(.receiveTimeout(value)) }

    /// How long `send()` waits for room before throwing `timedOut`; nil waits forever (default).
    public static func sendTimeout(_ value: Duration?) -> SocketOption { SocketOption(.sendTimeout(value)) }

    /// XPUB: pass on every subscribe, not only the first for a topic (libzmq's ZMQ_XPUB_VERBOSE).
    /// A last-value cache needs this to see each new subscriber. Default false.
    public static func xpubVerbose(_ value: Bool) -> SocketOption { SocketOption(.xpubVerbose(value)) }

    /// XPUB: also pass on every cancel, not only the last for a topic, and each topic a leaving
    /// peer held (libzmq's ZMQ_XPUB_VERBOSER, which also turns on `xpubVerbose`). Default false.
    public static func xpubVerboser(_ value: Bool) -> SocketOption { SocketOption(.xpubVerboser(value)) }

    /// ROUTER and STREAM: the routing id to give the peer of the next `connect` call, instead of one made up
    /// or announced (libzmq's ZMQ_CONNECT_ROUTING_ID); used by that call only. 1 to 255 octets.
    public static func connectRoutingID(_ value: [UInt8]) -> SocketOption { SocketOption(.connectRoutingID(value)) }

    /// Keep only the newest message in each queue, in and out: a receiver gets the latest
    /// state and a sender never waits (libzmq's ZMQ_CONFLATE, for PUSH, PULL, PUB, SUB and
    /// DEALER). Whole messages are kept, multipart ones too. Default false.
    public static func conflate(_ value: Bool) -> SocketOption { SocketOption(.conflate(value)) }

    /// REQ: a new request may be sent before the reply to the last one has come; that reply, if
    /// it still comes, is not returned for the new request when `reqCorrelate` is on (libzmq's
    /// ZMQ_REQ_RELAXED). Default false: strict turns.
    public static func reqRelaxed(_ value: Bool) -> SocketOption { SocketOption(.reqRelaxed(value)) }

    /// REQ: each request carries a request id frame before its delimiter, and only a reply with
    /// the id of the last request is accepted (libzmq's ZMQ_REQ_CORRELATE). Default false.
    public static func reqCorrelate(_ value: Bool) -> SocketOption { SocketOption(.reqCorrelate(value)) }

    /// ROUTER: a message for an unknown routing id throws `unroutable`, and one for a peer whose
    /// queue is full waits, instead of both being dropped (libzmq's ZMQ_ROUTER_MANDATORY).
    public static func routerMandatory(_ value: Bool) -> SocketOption { SocketOption(.routerMandatory(value)) }

    /// Act as a PLAIN server (24/ZMTP-PLAIN): clients must send credentials, which the context's
    /// authenticator checks; without an authenticator every client is refused, as in libzmq.
    public static func plainServer(_ value: Bool) -> SocketOption { SocketOption(.plainServer(value)) }

    /// Act as a PLAIN client with this user name (at most 255 octets); nil goes back to NULL.
    public static func plainUsername(_ value: String?) -> SocketOption { SocketOption(.plainUsername(value)) }

    /// The PLAIN client's password (at most 255 octets).
    public static func plainPassword(_ value: String?) -> SocketOption { SocketOption(.plainPassword(value)) }

    /// Act as a CURVE server (25/ZMTP-CURVE) with this key pair: traffic is encrypted, and the
    /// context's authenticator checks each client's public key (without one, any key is
    /// admitted, as libzmq does). nil goes back to NULL.
    public static func curveServer(_ value: CurveKeyPair?) -> SocketOption { SocketOption(.curveServer(value)) }

    /// Act as a CURVE client of the server with this public key; without `curveKeyPair` the
    /// socket makes a fresh key pair of its own. nil goes back to NULL.
    public static func curveServerKey(_ value: CurvePublicKey?) -> SocketOption { SocketOption(.curveServerKey(value)) }

    /// A CURVE client's own key pair, as the server's authenticator will know it.
    public static func curveKeyPair(_ value: CurveKeyPair?) -> SocketOption { SocketOption(.curveKeyPair(value)) }

    /// The ZAP domain sent to the authenticator with each request (libzmq's ZMQ_ZAP_DOMAIN).
    public static func zapDomain(_ value: String) -> SocketOption { SocketOption(.zapDomain(value)) }

    /// The name the socket's swift-metrics counters carry as their `socket` dimension, so that
    /// sockets of one type can be told apart (connections made afterwards count under it).
    public static func metricsName(_ value: String?) -> SocketOption { SocketOption(.metricsName(value)) }

    /// Queue messages only on connections whose handshake is complete: with no such peer,
    /// `send` waits (`trySend` throws `wouldBlock`), and what was queued for a connection that
    /// drops is dropped with it (libzmq's ZMQ_IMMEDIATE). Default false: a `connect` endpoint
    /// queues from the call on.
    public static func immediate(_ value: Bool) -> SocketOption { SocketOption(.immediate(value)) }

    /// ROUTER, DEALER, REQ: send an empty message to each new peer as soon as it is connected,
    /// so that a ROUTER at the far end learns the peer's routing id (libzmq's ZMQ_PROBE_ROUTER).
    public static func probeRouter(_ value: Bool) -> SocketOption { SocketOption(.probeRouter(value)) }

    /// ROUTER: a peer announcing a routing id already in use takes it over; the old connection
    /// is closed and what it left unread is dropped (libzmq's ZMQ_ROUTER_HANDOVER). Default
    /// false: the newcomer is refused.
    public static func routerHandover(_ value: Bool) -> SocketOption { SocketOption(.routerHandover(value)) }

    /// ROUTER: deliver `[routing id, ""]` when a peer connects and/or disconnects (libzmq's
    /// draft ZMQ_ROUTER_NOTIFY).
    public static func routerNotify(_ value: RouterNotify) -> SocketOption { SocketOption(.routerNotify(value)) }

    /// XPUB: subscriptions from peers are not applied; every one, repeats included, reaches the
    /// application, which applies it with `subscribe(_:)` / `unsubscribe(_:)` on the XPUB, for
    /// the peer whose subscription it received last (libzmq's ZMQ_XPUB_MANUAL). Default false.
    public static func xpubManual(_ value: Bool) -> SocketOption { SocketOption(.xpubManual(value)) }

    /// XPUB and PUB: a send waits (`trySend` throws `wouldBlock`) while a matching subscriber's
    /// queue is full, instead of dropping the message for it (libzmq's ZMQ_XPUB_NODROP).
    public static func xpubNoDrop(_ value: Bool) -> SocketOption { SocketOption(.xpubNoDrop(value)) }

    /// XPUB and PUB: a message sent to each new subscriber as it connects; a SUB receives it
    /// only if subscribed to a prefix of it (libzmq's ZMQ_XPUB_WELCOME_MSG). nil sends none.
    public static func xpubWelcomeMessage(_ value: Frame?) -> SocketOption { SocketOption(.xpubWelcomeMessage(value)) }

    /// PUB, XPUB, SUB, XSUB: a message matches when no subscription is a prefix of it; both ends
    /// must set it (libzmq's ZMQ_INVERT_MATCHING).
    public static func invertMatching(_ value: Bool) -> SocketOption { SocketOption(.invertMatching(value)) }

    /// tcp: turn TCP keepalive on or off; nil leaves the system's setting (libzmq's
    /// ZMQ_TCP_KEEPALIVE). Applies to connections made afterwards, accepted and connected.
    public static func tcpKeepalive(_ value: Bool?) -> SocketOption { SocketOption(.tcpKeepalive(value)) }

    /// tcp: unanswered keepalive probes before the connection is dropped; nil for the system's.
    public static func tcpKeepaliveCount(_ value: Int?) -> SocketOption { SocketOption(.tcpKeepaliveCount(value)) }

    /// tcp: idle time before the first keepalive probe (whole seconds); nil for the system's.
    public static func tcpKeepaliveIdle(_ value: Duration?) -> SocketOption { SocketOption(.tcpKeepaliveIdle(value)) }

    /// tcp: time between keepalive probes (whole seconds); nil for the system's.
    public static func tcpKeepaliveInterval(_ value: Duration?) -> SocketOption { SocketOption(.tcpKeepaliveInterval(value)) }

    /// tcp and ipc: the kernel's send buffer for each connection, in octets (libzmq's ZMQ_SNDBUF),
    /// capped by the system's maximum (`net.core.wmem_max` on Linux). -1 leaves the system's
    /// default, as libzmq's -1 does. nil (the default): tcp keeps the system's, which grows with
    /// the traffic; ipc asks for `SocketOptions.ipcSendBufferSize`, where libzmq leaves the
    /// system's. Applies to connections made afterwards (and to tcp listeners bound afterwards,
    /// so that accepted connections have it from their first packet).
    public static func sendBufferSize(_ value: Int?) -> SocketOption { SocketOption(.sendBufferSize(value)) }

    /// tcp and ipc: the kernel's receive buffer for each connection, in octets (libzmq's
    /// ZMQ_RCVBUF), capped by `net.core.rmem_max`. nil or -1: the system's default.
    public static func receiveBufferSize(_ value: Int?) -> SocketOption { SocketOption(.receiveBufferSize(value)) }

    /// tcp: how long a connect may take before it is abandoned and retried (libzmq's
    /// ZMQ_CONNECT_TIMEOUT). nil: 30 s.
    public static func connectTimeout(_ value: Duration?) -> SocketOption { SocketOption(.connectTimeout(value)) }

    /// When a `connect` endpoint stops being dialled: after a refused connection and/or after a
    /// failed handshake (libzmq's ZMQ_RECONNECT_STOP). Its queue is then dropped, as after
    /// `disconnect`. Default: never.
    public static func reconnectStop(_ value: ReconnectStop) -> SocketOption { SocketOption(.reconnectStop(value)) }

    /// ROUTER: talk raw octets to plain TCP peers instead of ZMTP, exactly as a STREAM socket
    /// does (libzmq's deprecated ZMQ_ROUTER_RAW). Applies to connections made afterwards.
    public static func routerRaw(_ value: Bool) -> SocketOption { SocketOption(.routerRaw(value)) }

    /// STREAM (and ROUTER with `routerRaw`): deliver `[routing id, ""]` when a peer connects and
    /// when it disconnects (libzmq's ZMQ_STREAM_NOTIFY). Default true.
    public static func streamNotify(_ value: Bool) -> SocketOption { SocketOption(.streamNotify(value)) }
}

/// Which connection events a ROUTER delivers as `[routing id, ""]` (`SocketOption.routerNotify`).
public struct RouterNotify: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let connect = RouterNotify(rawValue: 1)
    public static let disconnect = RouterNotify(rawValue: 2)
}

/// When a `connect` endpoint is given up (`SocketOption.reconnectStop`).
public struct ReconnectStop: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The peer refused the connection (nothing listens there).
    public static let connectionRefused = ReconnectStop(rawValue: 1)
    /// The connection closed before its handshake completed.
    public static let handshakeFailed = ReconnectStop(rawValue: 2)
}

extension SocketOption {
    /// The option's name, as `ZMQError.invalidOption` reports it: `"linger"`, `"routingID"` ….
    public var name: String {
        String(description.prefix { $0 != "(" })
    }

    /// The socket types the option means something for (the types whose `ownOptions` list it);
    /// nil for every type.
    var socketTypes: Set<SocketType>? {
        guard SocketType.typeSpecificOptions.contains(name) else { return nil }
        return Set(SocketType.allCases.filter { $0.ownOptions.contains(name) })
    }
}

/// The current values of every socket option, with libzmq's defaults.
public struct SocketOptions: Sendable, Equatable {
    public var sendHighWaterMark = 1000
    public var receiveHighWaterMark = 1000
    public var linger = Linger.forever
    public var reconnectInterval = Duration.milliseconds(100)
    public var reconnectIntervalMax = Duration.zero
    public var heartbeatInterval: Duration? = nil
    public var heartbeatTimeout: Duration? = nil
    public var heartbeatTTL: Duration? = nil
    public var maxMessageSize: Int? = SocketOptions.defaultMaxMessageSize
    public var routingID: [UInt8]? = nil
    public var handshakeInterval: Duration? = .seconds(30)
    public var receiveTimeout: Duration? = nil
    public var sendTimeout: Duration? = nil
    public var xpubVerbose = false
    public var xpubVerboser = false
    public var routerMandatory = false
    public var reqRelaxed = false
    public var conflate = false
    /// Set by `.connectRoutingID`, taken by the next `connect`.
    public var connectRoutingID: [UInt8]? = nil
    public var reqCorrelate = false
    public var plainServer = false
    public var plainUsername: String? = nil
    public var plainPassword: String? = nil
    public var zapDomain = ""
    public var metricsName: String? = nil
    public var immediate = false
    public var probeRouter = false
    public var routerHandover = false
    public var routerNotify: RouterNotify = []
    public var xpubNoDrop = false
    public var xpubManual = false
    public var xpubWelcomeMessage: Frame? = nil
    public var invertMatching = false
    public var tcpKeepalive: Bool? = nil
    public var tcpKeepaliveCount: Int? = nil
    public var tcpKeepaliveIdle: Duration? = nil
    public var tcpKeepaliveInterval: Duration? = nil
    public var sendBufferSize: Int? = nil
    public var receiveBufferSize: Int? = nil
    public var connectTimeout: Duration? = nil
    public var reconnectStop: ReconnectStop = []
    public var routerRaw = false
    public var streamNotify = true
    public var curveServer: CurveKeyPair? = nil
    public var curveServerKey: CurvePublicKey? = nil
    public var curveKeyPair: CurveKeyPair? = nil

    /// The send high-water mark in force: none when conflating, as the queue holds one message.
    var effectiveSendHighWaterMark: Int { conflate ? 0 : sendHighWaterMark }

    /// The security mechanism these options select, and our role in it.
    public var security: Security {
        if let curveServer { return .curveServer(keyPair: curveServer) }
        if let curveServerKey, let curveKeyPair { return .curveClient(serverKey: curveServerKey, keyPair: curveKeyPair) }
        if plainServer { return .plainServer }
        if let plainUsername { return .plainClient(username: plainUsername, password: plainPassword ?? "") }
        return .null
    }

    /// The default largest incoming message: 64 MiB. libzmq has no limit, so one peer can make
    /// it buffer as much as it sends of a frame it announces as 2^62 octets. 64 MiB is far above
    /// ordinary ZeroMQ traffic (the Guide's advice is to split anything large into chunks) and
    /// bounds what one connection can hold; set `.maxMessageSize(nil)` for libzmq's behaviour.
    public static let defaultMaxMessageSize = 64 << 20

    /// The send buffer an ipc connection asks for when `sendBufferSize` is nil: 256 KiB.
    /// Linux caps what is asked at `net.core.wmem_max` and then doubles it for its own
    /// accounting: 512 KiB where the maximum allows (the machine measured had 4 MiB), 416 KiB
    /// with the stock maximum of 208 KiB. Either way more than a Unix socket's default (208 KiB
    /// in all), which held little more than one of our write batches, so sender and receiver
    /// took turns waiting: 64 B messages over ipc went about a quarter faster with this, while
    /// 64 KiB and 1 MiB ones stayed within the runs' spread (BENCHMARKS.md, session 19). Asking
    /// for 1 MiB was no faster for small messages and slower for large ones, whose octets went
    /// cold in the kernel's queue. On Linux a Unix stream socket's flow control is the sender's
    /// buffer alone, so the receive buffer keeps the system's; tcp grows its own buffers, which a
    /// fixed size would turn off.
    public static let ipcSendBufferSize = 256 << 10

    /// The send and receive buffer sizes a new connection asks the kernel for: nil or -1 for
    /// none (the system's).
    func kernelBufferSizes(tcp: Bool) -> (send: Int?, receive: Int?) {
        (sendBufferSize ?? (tcp ? nil : Self.ipcSendBufferSize), receiveBufferSize)
    }

    public init() {}

    /// Validates `option` and applies it, or throws `ZMQError.invalidOption` saying what is allowed.
    public mutating func apply(_ option: SocketOption) throws(ZMQError) {
        switch option.setting {
        case .metricsName(let value):
            metricsName = value
        case .immediate(let value):
            immediate = value
        case .probeRouter(let value):
            probeRouter = value
        case .routerHandover(let value):
            routerHandover = value
        case .routerNotify(let value):
            routerNotify = value
        case .routerRaw(let value):
            routerRaw = value
        case .streamNotify(let value):
            streamNotify = value
        case .xpubNoDrop(let value):
            xpubNoDrop = value
        case .xpubManual(let value):
            xpubManual = value
        case .xpubWelcomeMessage(let value):
            xpubWelcomeMessage = value
        case .invertMatching(let value):
            invertMatching = value
        case .tcpKeepalive(let value):
            tcpKeepalive = value
        case .tcpKeepaliveCount(let value):
            if let value { try Self.require((1...127).contains(value), "tcpKeepaliveCount", "must be 1 to 127 (nil for the system's)") }
            tcpKeepaliveCount = value
        case .tcpKeepaliveIdle(let value):
            try Self.requireWholeSeconds(value, "tcpKeepaliveIdle")
            tcpKeepaliveIdle = value
        case .tcpKeepaliveInterval(let value):
            try Self.requireWholeSeconds(value, "tcpKeepaliveInterval")
            tcpKeepaliveInterval = value
        case .sendBufferSize(let value):
            try Self.requireBufferSize(value, "sendBufferSize")
            sendBufferSize = value
        case .receiveBufferSize(let value):
            try Self.requireBufferSize(value, "receiveBufferSize")
            receiveBufferSize = value
        case .connectTimeout(let value):
            try Self.requirePositive(value, "connectTimeout")
            connectTimeout = value
        case .reconnectStop(let value):
            reconnectStop = value
        case .sendHighWaterMark(let value):
            try Self.require(value >= 0, "sendHighWaterMark", "must be 0 (no limit) or more, not \(value)")
            sendHighWaterMark = value
        case .receiveHighWaterMark(let value):
            try Self.require(value >= 0, "receiveHighWaterMark", "must be 0 (no limit) or more, not \(value)")
            receiveHighWaterMark = value
        case .linger(let value):
            if case .after(let duration) = value {
                try Self.require(duration >= .zero, "linger", "must not be negative (use .forever)")
            }
            linger = value
        case .reconnectInterval(let value):
            try Self.require(value > .zero, "reconnectInterval", "must be positive")
            reconnectInterval = value
        case .reconnectIntervalMax(let value):
            try Self.require(value >= .zero, "reconnectIntervalMax", "must not be negative (zero turns backoff off)")
            reconnectIntervalMax = value
        case .heartbeatInterval(let value):
            try Self.requirePositive(value, "heartbeatInterval")
            heartbeatInterval = value
        case .heartbeatTimeout(let value):
            try Self.requirePositive(value, "heartbeatTimeout")
            heartbeatTimeout = value
        case .heartbeatTTL(let value):
            try Self.requirePositive(value, "heartbeatTTL")
            if let value {
                try Self.require(value <= .milliseconds(6_553_500), "heartbeatTTL", "must be at most 6553.5 s (a 16-bit count of deciseconds)")
            }
            heartbeatTTL = value
        case .maxMessageSize(let value):
            if let value { try Self.require(value >= 0, "maxMessageSize", "must not be negative (nil means no limit)") }
            maxMessageSize = value
        case .routingID(let value):
            if let value {
                try Self.require((1...255).contains(value.count), "routingID", "must be 1 to 255 octets, not \(value.count)")
                try Self.require(value.first != 0, "routingID", "must not start with 0x00 (reserved by ZMTP 3.1)")
            }
            routingID = value
        case .handshakeInterval(let value):
            try Self.requirePositive(value, "handshakeInterval")
            handshakeInterval = value
        case .receiveTimeout(let value):
            if let value { try Self.require(value >= .zero, "receiveTimeout", "must not be negative") }
            receiveTimeout = value
        case .sendTimeout(let value):
            if let value { try Self.require(value >= .zero, "sendTimeout", "must not be negative") }
            sendTimeout = value
        case .xpubVerbose(let value):
            xpubVerbose = value
        case .xpubVerboser(let value):
            xpubVerboser = value
            if value { xpubVerbose = true }
        case .routerMandatory(let value):
            routerMandatory = value
        case .reqRelaxed(let value):
            reqRelaxed = value
        case .conflate(let value):
            conflate = value
        case .connectRoutingID(let value):
            try Self.require((1...255).contains(value.count), "connectRoutingID", "must be 1 to 255 octets, not \(value.count)")
            connectRoutingID = value
        case .reqCorrelate(let value):
            reqCorrelate = value
        case .plainServer(let value):
            plainServer = value
        case .plainUsername(let value):
            try Self.requireShort(value, "plainUsername")
            plainUsername = value
        case .plainPassword(let value):
            try Self.requireShort(value, "plainPassword")
            plainPassword = value
        case .curveServer(let value):
            try Self.requireCurve(value != nil, "curveServer")
            curveServer = value
        case .curveServerKey(let value):
            try Self.requireCurve(value != nil, "curveServerKey")
            curveServerKey = value
            if value != nil, curveKeyPair == nil {
                do {
                    curveKeyPair = try CurveKeyPair.generate()
                } catch {
                    throw .invalidOption(name: "curveServerKey", reason: error.description)
                }
            }
        case .curveKeyPair(let value):
            try Self.requireCurve(value != nil, "curveKeyPair")
            curveKeyPair = value
        case .zapDomain(let value):
            try Self.requireShort(value, "zapDomain")
            zapDomain = value
        }
    }

    private static func require(_ condition: Bool, _ name: String, _ reason: String) throws(ZMQError) {
        if !condition { throw .invalidOption(name: name, reason: reason) }
    }

    /// CURVE options throw in a build without CURVE, saying what to install.
    private static func requireCurve(_ setting: Bool, _ name: String) throws(ZMQError) {
        if setting, !CurveAvailability.isBuilt { throw .notSupported("\(name): \(CurveAvailability.missingMessage)") }
    }

    /// 24/ZMTP-PLAIN and 27/ZAP carry these in one-octet length fields.
    private static func requireShort(_ value: String?, _ name: String) throws(ZMQError) {
        if let value { try require(value.utf8.count <= 255, name, "must be at most 255 octets of UTF-8, not \(value.utf8.count)") }
    }

    /// The kernel takes keepalive times in whole seconds.
    private static func requireWholeSeconds(_ value: Duration?, _ name: String) throws(ZMQError) {
        guard let value else { return }
        try require(value >= .seconds(1) && value <= .seconds(32767) && value.components.attoseconds == 0, name,
                    "must be a whole number of seconds from 1 to 32767 (nil for the system's)")
    }

    /// The kernel takes a buffer size as a C int; -1 is libzmq's "the system's default".
    private static func requireBufferSize(_ value: Int?, _ name: String) throws(ZMQError) {
        guard let value else { return }
        try require(value == -1 || (1...Int(Int32.max / 2)).contains(value), name,
                    "must be 1 to \(Int32.max / 2) octets, or -1 for the system's default (nil for swift-zmq's), not \(value)")
    }

    private static func requirePositive(_ value: Duration?, _ name: String) throws(ZMQError) {
        if let value { try require(value > .zero, name, "must be positive (nil turns it off)") }
    }
}
