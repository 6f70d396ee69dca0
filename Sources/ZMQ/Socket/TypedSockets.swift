import NIOCore
import ZMTP

// Sockets typed by what they can do: a `PushSocket` has no `receive`, a `SubscriberSocket` has
// `subscribe`, a `RequestSocket` has `request(_:)`. Each wraps a `ZMQSocket`, which stays
// available as `socket` for proxies, pollers and generic code.
//
//     let push = try PushSocket(context, options: [.sendHighWaterMark(10_000)])
//     try await push.connect("tcp://127.0.0.1:5557")
//     try await push.send(["job", "\(id)"])

/// What every typed socket has: its untyped socket, endpoints, options, monitor and close.
public protocol TypedSocket: Sendable, Hashable {
    /// The socket type this wrapper stands for.
    static var socketType: SocketType { get }
    /// The untyped socket underneath, for proxies, pollers and generic code.
    var socket: ZMQSocket { get }
    /// Wraps `socket`, which must be of `socketType` (the typed methods would otherwise throw
    /// what the untyped socket throws for its own type).
    init(unchecked socket: ZMQSocket)
}

extension TypedSocket {
    /// A new socket of this type in `context`, with `options` set in order; an option that is
    /// invalid or means nothing for the type throws `invalidOption` and no socket is left open.
    public init(_ context: ZMQContext, options: [SocketOption] = []) throws {
        self.init(unchecked: try context.socket(Self.socketType, options: options))
    }

    @discardableResult
    public func bind(_ endpoint: String) async throws -> String { try await socket.bind(endpoint) }
    public func connect(_ endpoint: String) async throws { try await socket.connect(endpoint) }
    public func disconnect(_ endpoint: String) async throws { try await socket.disconnect(endpoint) }
    public func unbind(_ endpoint: String) async throws { try await socket.unbind(endpoint) }
    public func set(_ option: SocketOption) throws { try socket.set(option) }
    public var options: SocketOptions { socket.options }
    public func monitor() -> AsyncStream<SocketEvent> { socket.monitor() }
    public func close() { socket.close() }
    public func waitUntilClosed() async { await socket.waitUntilClosed() }
}

/// A typed socket that sends.
public protocol SendingSocket: TypedSocket {}

extension SendingSocket {
    /// Sends a message, waiting while no peer has room (or until the send timeout).
    public func send(_ message: Message) async throws { try await socket.send(message) }
    /// Sends without waiting: throws `ZMQError.wouldBlock` when no peer has room.
    public func trySend(_ message: Message) throws { try socket.trySend(message) }
}

/// A typed socket that receives.
public protocol ReceivingSocket: TypedSocket {}

extension ReceivingSocket {
    /// Receives the next message, waiting until one arrives (or until the receive timeout).
    public func receive() async throws -> Message { try await socket.receive() }
    /// Receives without waiting: throws `ZMQError.wouldBlock` when no message is queued.
    public func tryReceive() throws -> Message { try socket.tryReceive() }
    /// Messages as they arrive, until the socket closes (see `ZMQSocket.messages`).
    public var messages: Messages { socket.messages }
}

/// Sends tasks to PULL sockets, round-robin among the connected ones.
public struct PushSocket: SendingSocket {
    public static let socketType = SocketType.push
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Receives tasks from PUSH sockets, fair-queued.
public struct PullSocket: ReceivingSocket {
    public static let socketType = SocketType.pull
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Publishes messages to every subscriber whose subscription matches their first frame.
public struct PublisherSocket: SendingSocket {
    public static let socketType = SocketType.pub
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Receives the messages of the publishers it connects to whose first frame starts with one of
/// its subscriptions.
public struct SubscriberSocket: ReceivingSocket {
    public static let socketType = SocketType.sub
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    /// Subscribes to the messages whose first frame starts with `prefix` ("" is everything).
    public func subscribe(_ prefix: String = "") throws { try socket.subscribe(prefix) }
    public func subscribe(_ prefix: [UInt8]) throws { try socket.subscribe(prefix) }
    /// Cancels one `subscribe(prefix)`.
    public func unsubscribe(_ prefix: String) throws { try socket.unsubscribe(prefix) }
    public func unsubscribe(_ prefix: [UInt8]) throws { try socket.unsubscribe(prefix) }
}

/// Sends requests and receives their replies, one at a time, load-balanced among its servers.
public struct RequestSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.req
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    /// Sends `request` and returns its reply. Waits for the reply up to `timeout`, or else the
    /// receive timeout option, and throws `timedOut` then: without `reqRelaxed` the socket then
    /// cannot send again, so the Lazy Pirate way is to close it and make a new one.
    public func request(_ request: Message, timeout: Duration? = nil) async throws -> Message {
        try await socket.send(request)
        let limit = timeout ?? socket.options.receiveTimeout
        return try await socket.receive(until: limit.map { NIODeadline.now() + TimeAmount($0) })
    }
}

/// Receives requests and sends each one's reply, fair-queued among its clients.
public struct ReplySocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.rep
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    /// Answers every request with what `handler` returns, until the socket closes or the task
    /// is cancelled. An error thrown by `handler` ends the loop and is thrown.
    public func serve(_ handler: (Message) async throws -> Message) async throws {
        for try await request in socket.messages {
            try await socket.send(try await handler(request))
        }
    }
}

/// Sends round-robin and receives fair-queued, with no envelopes of its own: the asynchronous
/// client or worker of request-reply.
public struct DealerSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.dealer
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Prefixes each received message with its peer's routing id, and routes each sent message to
/// the peer its first frame names.
public struct RouterSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.router
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Talks to exactly one PAIR peer, both ways.
public struct PairSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.pair
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// A publisher that also receives its subscribers' subscriptions, as messages.
public struct XPublisherSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.xpub
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// A subscriber that subscribes by sending subscription messages.
public struct XSubscriberSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.xsub
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Talks raw octets to plain TCP peers (an HTTP client, a line protocol): each message is
/// `[routing id, data]`, and an empty data frame announces a peer's connect or disconnect.
public struct StreamSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.stream
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    /// Closes the connection to the peer `routingID` names, after what was sent to it before.
    public func closeConnection(_ routingID: Frame) async throws {
        try await socket.send([routingID, Frame()])
    }
}

// The thread-safe draft types: every message is one frame.

/// Asks SERVERs, round-robin among them, and receives their answers fair-queued (47/CLIENTSERVER).
public struct ClientSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.client
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Answers CLIENTs: each message received carries its client's `routingID`, and a message sent
/// goes to the client its `routingID` names.
public struct ServerSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.server
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    /// Sends `frame` to the client `routingID` names.
    public func send(_ frame: Frame, to routingID: UInt32) async throws {
        var message = Message(frame)
        message.routingID = routingID
        try await socket.send(message)
    }
}

/// Sends each message to the DISHes that joined its group (48/RADIO-DISH).
public struct RadioSocket: SendingSocket {
    public static let socketType = SocketType.radio
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    /// Sends `frame` to the DISHes that joined `group`.
    public func send(_ frame: Frame, group: String) async throws {
        var message = Message(frame)
        message.group = group
        try await socket.send(message)
    }
}

/// Receives the messages of the groups it joined, each with its `group`.
public struct DishSocket: ReceivingSocket {
    public static let socketType = SocketType.dish
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    public func join(_ group: String) throws { try socket.join(group) }
    public func leave(_ group: String) throws { try socket.leave(group) }
}

/// Hands out messages round-robin to GATHERs (49/SCATTERGATHER).
public struct ScatterSocket: SendingSocket {
    public static let socketType = SocketType.scatter
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Receives messages fair-queued from SCATTERs.
public struct GatherSocket: ReceivingSocket {
    public static let socketType = SocketType.gather
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}

/// Talks to other PEERs, each named by a `routingID` (51/P2P).
public struct PeerSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.peer
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }

    /// Connects to the PEER at `endpoint` and returns its routing id.
    public func connectPeer(_ endpoint: String) async throws -> UInt32 { try await socket.connectPeer(endpoint) }

    /// Sends `frame` to the peer `routingID` names.
    public func send(_ frame: Frame, to routingID: UInt32) async throws {
        var message = Message(frame)
        message.routingID = routingID
        try await socket.send(message)
    }
}

/// Talks to exactly one other CHANNEL, both ways (52/CHANNEL).
public struct ChannelSocket: SendingSocket, ReceivingSocket {
    public static let socketType = SocketType.channel
    public let socket: ZMQSocket
    public init(unchecked socket: ZMQSocket) { self.socket = socket }
}
