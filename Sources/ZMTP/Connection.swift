import DequeModule
import NIOCore

/// What a ZMTP connection learned about its peer in the handshake.
public struct PeerInfo: Sendable, Equatable {
    public var socketType: SocketType
    /// The peer's Identity property when its socket type announces one (REQ, DEALER, ROUTER).
    public var identity: [UInt8]?
    public var metadata: Metadata
    /// 0 for a ZMTP 3.0 peer, 1 for 3.1.
    public var minorVersion: UInt8
    /// The security mechanism both sides agreed on: "NULL", "PLAIN" or "CURVE".
    public var mechanism: String
    /// What our authenticator said of the peer, when it was asked (a server's view of a client).
    public var authentication: AuthenticationReply?

    public init(
        socketType: SocketType, identity: [UInt8]?, metadata: Metadata, minorVersion: UInt8,
        mechanism: String = "NULL", authentication: AuthenticationReply? = nil
    ) {
        self.socketType = socketType
        self.identity = identity
        self.metadata = metadata
        self.minorVersion = minorVersion
        self.mechanism = mechanism
        self.authentication = authentication
    }
}

/// The ZMTP 3.x protocol for one connection as a state machine: octets, authentication replies
/// and timer ticks in, actions out. The security handshake runs in a `Mechanism` sub-machine.
/// It does no I/O and reads no clock, so byte vectors test it.
public struct Connection: Sendable {
    public struct Configuration: Sendable {
        public var socketType: SocketType
        /// Sent as the Identity property when the socket type announces one.
        public var identity: [UInt8]
        /// The largest message accepted, in octets (all frames together); nil for no limit.
        public var maxMessageSize: Int?
        public var heartbeat: Heartbeat.Configuration
        /// Which minor version we announce; 1 (ZMTP 3.1) except in tests of 3.0 behaviour.
        public var minorVersion: UInt8
        /// The security mechanism and our role in it.
        public var security: Security
        /// NULL: ask the authenticator about each peer before sending READY (libzmq does this
        /// when a ZAP domain is set).
        public var authenticatesNullPeers: Bool
        /// Whether we opened the connection (a connect endpoint). The connecting side greets in
        /// two steps, and with NULL sends its READY after the peer's, so that a libzmq peer
        /// shows its mechanism and socket type before it can find fault with ours (see `start`).
        public var connectSide: Bool

        public init(
            socketType: SocketType, identity: [UInt8] = [], maxMessageSize: Int? = nil,
            heartbeat: Heartbeat.Configuration = .init(), minorVersion: UInt8 = 1, security: Security = .null,
            authenticatesNullPeers: Bool = false, connectSide: Bool = false
        ) {
            self.authenticatesNullPeers = authenticatesNullPeers
            self.connectSide = connectSide
            self.socketType = socketType
            self.identity = identity
            self.maxMessageSize = maxMessageSize
            self.heartbeat = heartbeat
            self.minorVersion = minorVersion
            self.security = security
        }
    }

    /// What the I/O shell must do next.
    public enum Action: Sendable {
        /// Everything readable has been consumed; wait for more octets.
        case needMoreData
        /// Send these octets to the peer.
        case write(ByteBuffer)
        /// Ask the authenticator (27/ZAP) and pass its reply to `authenticated(_:)`; until then
        /// the handshake waits.
        case authenticate(AuthenticationRequest)
        /// The handshake is complete: messages may flow both ways.
        case handshakeComplete(PeerInfo)
        /// A complete message arrived.
        case message(Message)
        /// A SUBSCRIBE or CANCEL command, or a subscription message from a 3.0 peer, for the socket.
        case command(Command)
        /// Close the connection, after writing `farewell` if present (an ERROR command).
        case close(ZMTPError, farewell: ByteBuffer?)
    }

    enum State {
        case awaitingGreeting
        case handshaking(peerMinor: UInt8)
        case open(peerMinor: UInt8)
        case closed
    }

    /// READY metadata can carry several properties; during the handshake no frame may exceed this.
    static let handshakeFrameLimit: UInt64 = 64 << 10

    public let configuration: Configuration
    private var state: State = .awaitingGreeting
    private var greetingBytes = ByteBuffer()
    /// Whether the rest of our greeting (after the first 11 octets `start` sends) has gone.
    private var sentGreetingRest: Bool
    /// The connecting side's NULL READY, held until the peer's first command arrives.
    private var heldSteps: [MechanismStep]?
    private var decoder = FrameDecoder()
    private var heartbeat: Heartbeat?
    private var mechanism: Mechanism
    /// Actions decided together (a command to send and the end of the handshake), handed out
    /// one per call.
    private var pending: [Action] = []
    private var authentication: AuthenticationReply?
    #if CURVE
    /// CURVE after the handshake: every frame in and out is a MESSAGE box.
    private var cipher: CurveCipher?
    /// The MESSAGEs of the current read, opened and not yet handed out, and why the batch ended
    /// early if it did.
    private var opened = Deque<(flags: UInt8, frame: Frame)>()
    private var openFailure: ZMTPError?
    private var sealedBodies: [ByteBuffer] = []
    #endif
    /// The frames of a message being assembled: the first kept apart so a one-frame message needs no array.
    private var firstFrame: Frame?
    private var moreFrames: [Frame] = []
    private var assembledSize = 0

    /// The octets this connection holds between reads (a greeting or frame begun, a message
    /// being assembled, frames opened but not handed out): all a peer can make it keep.
    package var retainedOctets: Int {
        var total = greetingBytes.capacity + decoder.retainedCapacity
        total += (firstFrame?.count ?? 0) + moreFrames.reduce(0) { $0 + $1.count }
        #if CURVE
        total += opened.reduce(0) { $0 + $1.frame.count } + sealedBodies.reduce(0) { $0 + $1.readableBytes }
        #endif
        return total
    }

    public init(configuration: Configuration) {
        self.configuration = configuration
        var metadata = Metadata()
        metadata.append("Socket-Type", Array(configuration.socketType.rawValue.utf8))
        if configuration.socketType.announcesIdentity {
            metadata.append("Identity", configuration.identity)
        }
        self.mechanism = Mechanism(configuration.security, ourMetadata: metadata, authenticatesNull: configuration.authenticatesNullPeers)
        sentGreetingRest = !configuration.connectSide
        decoder.bodyLimit = Self.handshakeFrameLimit
        decoder.reportedLimit = Int(Self.handshakeFrameLimit)
    }

    /// The octets to send as soon as the transport is up.
    ///
    /// The accepting side sends its whole greeting at once (23/ZMTP allows it). The connecting
    /// side sends the signature and major version, and the rest once the peer's first 11 octets
    /// show a ZMTP 3 peer ("Backwards Interoperability"); with NULL, its READY follows the
    /// peer's READY. libzmq drops what it has queued to send when it finds fault with what it
    /// reads: a server that read our whole greeting at once would close over a mechanism
    /// mismatch before its own mechanism left, and one that read our READY with our greeting
    /// would close over an incompatible socket type before its READY left. Either way the
    /// client would see only a peer that went away. A server sends its READY without waiting for
    /// ours (23/ZMTP requires it), so waiting for it cannot deadlock.
    public func start() -> ByteBuffer {
        configuration.connectSide ? greeting.getSlice(at: 0, length: Greeting.prefixSize)! : greeting
    }

    /// Our whole greeting, 64 octets.
    public var greeting: ByteBuffer {
        let security = configuration.security
        return Greeting(minor: configuration.minorVersion, mechanism: security.mechanismName, asServer: security.isServer).encoded
    }

    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    /// After the handshake, the buffer of a frame of at least `minimum` octets being received,
    /// for the network to read the rest straight into it
    /// (`FrameDecoder.lendPartialFrame`). The next `receive` must be given that buffer, read
    /// into, or it must come back through `restoreLentFrame` first.
    public mutating func lendPartialFrame(minimum: Int) -> ByteBuffer? {
        guard isOpen else { return nil }
        return decoder.lendPartialFrame(minimum: minimum)
    }

    /// Takes back a lent frame buffer that was not read into.
    public mutating func restoreLentFrame(_ buffer: ByteBuffer) {
        decoder.restore(buffer)
    }

    /// A frame buffer is lent out (`lendPartialFrame`).
    public var hasLentFrame: Bool { decoder.isLent }

    /// Octets of a frame that began in an earlier read are buffered.
    public var hasPartialFrame: Bool { decoder.hasPartialFrame }

    /// Consumes octets from `buffer` until an action is due. Call again until it returns
    /// `.needMoreData`; the buffer is then fully consumed.
    public mutating func receive(_ buffer: inout ByteBuffer) -> Action {
        var unused = MessageQueue()
        return receive(&buffer, into: &unused, delivering: false)
    }

    /// Like `receive(_:)`, but appends every message to `batch` as it completes and returns only
    /// the other actions: the shell pays for one call per read, not one per message. A queue, not
    /// a closure: a closure appending to the shell's local would check exclusivity per message.
    public mutating func receive(_ buffer: inout ByteBuffer, into batch: inout MessageQueue) -> Action {
        receive(&buffer, into: &batch, delivering: true)
    }

    private mutating func receive(_ buffer: inout ByteBuffer, into batch: inout MessageQueue, delivering: Bool) -> Action {
        do {
            while true {
                if !pending.isEmpty { return pending.removeFirst() }
                switch state {
                case .awaitingGreeting:
                    // The rest of our greeting may be due before the peer's is complete.
                    guard try receiveGreeting(&buffer) || !pending.isEmpty else { return .needMoreData }
                case .handshaking(let peerMinor):
                    guard try receiveHandshake(&buffer, peerMinor: peerMinor) else { return .needMoreData }
                case .open:
                    return try receiveTraffic(&buffer, into: &batch, delivering: delivering)
                case .closed:
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    return .needMoreData
                }
            }
        } catch {
            return close(error)
        }
    }

    /// The authenticator's reply to an `.authenticate` action. The actions it leads to come from
    /// the next calls to `receive` (with an empty buffer if nothing new arrived).
    public mutating func authenticated(_ reply: AuthenticationReply) {
        guard case .handshaking(let peerMinor) = state else { return }
        do {
            authentication = reply
            perform(try mechanism.authenticated(reply), peerMinor: peerMinor)
        } catch {
            pending = [close(error)]
        }
    }

    /// The connection is gone: drops whatever it still buffers (a half-received greeting, frame
    /// or message, pending actions). It takes nothing more afterwards.
    public mutating func release() {
        state = .closed
        pending = []
        heldSteps = nil
        greetingBytes = ByteBuffer()
        decoder = FrameDecoder()
        firstFrame = nil
        moreFrames = []
        heartbeat = nil
        #if CURVE
        cipher = nil
        opened = []
        sealedBodies = []
        openFailure = nil
        #endif
    }

    private mutating func close(_ error: ZMTPError) -> Action {
        state = .closed
        var farewell = mechanism.farewell(for: error)
        switch error {
        case .mechanismMismatch, .incompatibleSocketType:
            // What the peer is owed before the ERROR, so that it can name the fault too: the rest
            // of our greeting once it showed its mechanism, our READY once it sent its own
            // (23/ZMTP: each side sends READY before it reads the other's).
            var owed = ByteBuffer()
            for case .write(var octets) in pending { owed.writeBuffer(&octets) }
            if owed.readableBytes > 0, var goodbye = farewell {
                owed.writeBuffer(&goodbye)
                farewell = owed
            }
        default:
            break
        }
        pending.removeAll()
        return .close(error, farewell: farewell)
    }

    /// Takes greeting octets; true once the whole greeting is in and accepted.
    private mutating func receiveGreeting(_ buffer: inout ByteBuffer) throws(ZMTPError) -> Bool {
        let wanted = Greeting.size - greetingBytes.readableBytes
        var piece = buffer.readSlice(length: min(wanted, buffer.readableBytes))!
        greetingBytes.writeBuffer(&piece)
        if !sentGreetingRest, greetingBytes.readableBytes >= Greeting.prefixSize {
            try Greeting.validatePrefix(greetingBytes)
            sentGreetingRest = true
            pending.append(.write(self.greeting.getSlice(at: Greeting.prefixSize, length: Greeting.size - Greeting.prefixSize)!))
        }
        guard let greeting = try Greeting.decode(from: &greetingBytes) else { return false }
        let ours = configuration.security.mechanismName
        guard greeting.mechanism == ours else {
            throw .mechanismMismatch(ours: ours, theirs: greeting.mechanism)
        }
        // Keep our own framing with equal or newer peers; a 3.0 peer gets 3.0 forms.
        let peerMinor = greeting.major > 3 ? configuration.minorVersion : min(greeting.minor, configuration.minorVersion)
        state = .handshaking(peerMinor: peerMinor)
        let steps = try mechanism.start()
        if configuration.connectSide, case .null = configuration.security, !configuration.authenticatesNullPeers {
            heldSteps = steps
        } else {
            perform(steps, peerMinor: peerMinor)
        }
        return true
    }

    /// Takes one handshake command; false when no whole frame is buffered yet.
    private mutating func receiveHandshake(_ buffer: inout ByteBuffer, peerMinor: UInt8) throws(ZMTPError) -> Bool {
        guard let frame = try decoder.next(from: &buffer) else { return false }
        guard frame.isCommand else { throw .messageBeforeHandshake }
        if let held = heldSteps {
            heldSteps = nil
            perform(held, peerMinor: peerMinor)
        }
        let ourType = configuration.socketType
        let steps = try mechanism.receive(frame.body) { (metadata: Metadata) throws(ZMTPError) in
            let theirName = metadata["Socket-Type"].map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard let theirs = SocketType(rawValue: theirName), ourType.isCompatible(with: theirs) else {
                throw .incompatibleSocketType(ours: ourType.rawValue, theirs: theirName)
            }
            // 23/ZMTP: an Identity is 0 to 255 octets.
            if theirs.announcesIdentity, let identity = metadata["Identity"], identity.count > 255 {
                throw .malformedCommand("Identity of \(identity.count) octets (at most 255)")
            }
        }
        perform(steps, peerMinor: peerMinor)
        return true
    }

    /// Turns the mechanism's steps into actions, queued in `pending` for `receive` to hand out.
    private mutating func perform(_ steps: [MechanismStep], peerMinor: UInt8) {
        for step in steps {
            switch step {
            case .send(let command):
                pending.append(.write(command))
            case .authenticate(let request):
                pending.append(.authenticate(request))
            case .complete(let metadata):
                // Validated by the mechanism through the check in `receiveHandshake`.
                let theirs = SocketType(rawValue: String(decoding: metadata["Socket-Type"] ?? [], as: UTF8.self))!
                state = .open(peerMinor: peerMinor)
                #if CURVE
                cipher = mechanism.trafficCipher
                #endif
                applyMessageLimit()
                pending.append(.handshakeComplete(PeerInfo(
                    socketType: theirs, identity: theirs.announcesIdentity ? metadata["Identity"] : nil,
                    metadata: metadata, minorVersion: peerMinor,
                    mechanism: configuration.security.mechanismName, authentication: authentication
                )))
            }
        }
    }

    private mutating func receiveTraffic(_ buffer: inout ByteBuffer, into batch: inout MessageQueue, delivering: Bool) throws(ZMTPError) -> Action {
        #if CURVE
        if cipher != nil { return try receiveSealedTraffic(&buffer, into: &batch, delivering: delivering) }
        #endif
        var flags = FrameFlags()
        while true {
            // Between messages, small one-frame messages go straight into the batch, a read's
            // worth in one look; whatever else comes is read a frame at a time.
            let next = delivering && firstFrame == nil
                ? try decoder.nextFrame(from: &buffer, flags: &flags, smallMessagesInto: &batch)
                : try decoder.nextFrame(from: &buffer, flags: &flags)
            guard let body = next else { break }
            if flags.contains(.command) {
                if let action = try handleCommand(body.buffer) { return action }
                continue
            }
            guard let message = try assemble(body, more: flags.contains(.more)) else { continue }
            guard delivering else { return .message(message) }
            batch.append(message)
        }
        return .needMoreData
    }

    #if CURVE
    /// CURVE traffic: every frame is a MESSAGE box; the outer flags say nothing (libzmq sends 0),
    /// MORE and COMMAND are inside.
    /// Every whole MESSAGE of a read is opened at once (one shared buffer for the batch), then
    /// handed out in order; an action in the middle returns, and the next call goes on from there.
    private mutating func receiveSealedTraffic(_ buffer: inout ByteBuffer, into batch: inout MessageQueue, delivering: Bool) throws(ZMTPError) -> Action {
        while true {
            // Taken out, not copied: each frame's reference moves on into its message.
            while let (flags, payload) = opened.popFirst() {
                if flags & 0x02 != 0 {
                    if let action = try handleCommand(payload.buffer) { return action }
                    continue
                }
                // The decoder's limit was set before the batch was decoded: check the message here.
                if let limit = configuration.maxMessageSize, assembledSize + payload.count > limit {
                    throw .messageTooLarge(size: UInt64(assembledSize + payload.count), limit: limit)
                }
                guard let message = try assemble(payload, more: flags & 0x01 != 0) else { continue }
                guard delivering else { return .message(message) }
                batch.append(message)
            }
            if let failure = openFailure {
                openFailure = nil
                throw failure
            }
            // What decodes before a bad frame is still delivered, as on the NULL path.
            do {
                while let frame = try decoder.next(from: &buffer) { sealedBodies.append(frame.body) }
            } catch {
                openFailure = error
            }
            if sealedBodies.isEmpty, openFailure == nil { return .needMoreData }
            openFailure = cipher!.open(sealedBodies, into: &opened) ?? openFailure
            // The bodies are slices of the read buffer: let go of them at once.
            sealedBodies.removeAll(keepingCapacity: true)
        }
    }
    #endif

    /// Adds a data frame to the message being assembled; returns the message once it is whole.
    @inline(__always)
    private mutating func assemble(_ frameBody: consuming Frame, more: Bool) throws(ZMTPError) -> Message? {
        if more {
            if let limit = configuration.maxMessageSize, moreFrames.count + 2 > Self.frameLimit(forMessageSize: limit) {
                throw .tooManyFrames(limit: Self.frameLimit(forMessageSize: limit))
            }
            assembledSize += frameBody.count
            if firstFrame == nil { firstFrame = frameBody } else { moreFrames.append(frameBody) }
            applyMessageLimit()
            return nil
        }
        guard let first = firstFrame else { return Message(frameBody) }
        var frames = [first]
        frames.reserveCapacity(moreFrames.count + 2)
        frames.append(contentsOf: moreFrames)
        frames.append(frameBody)
        firstFrame = nil
        moreFrames.removeAll(keepingCapacity: true)
        assembledSize = 0
        applyMessageLimit()
        return Message(frames)
    }

    /// The most frames one message may have under a maximum message size: every frame costs
    /// memory beyond its octets, so a peer streaming empty frames is bounded as well.
    static func frameLimit(forMessageSize limit: Int) -> Int { max(1024, limit / 32) }

    /// Bounds the next frame by what is left of the maximum message size.
    private mutating func applyMessageLimit() {
        if let limit = configuration.maxMessageSize {
            // The limit counts the message; a CURVE frame is its part of the message in a box.
            var frameOverhead = 0
            #if CURVE
            if cipher != nil { frameOverhead = CurveCipher.overhead }
            #endif
            decoder.bodyLimit = UInt64(max(0, limit - assembledSize) + frameOverhead)
            decoder.reportedLimit = limit
        } else {
            decoder.bodyLimit = .max
        }
    }

    private mutating func handleCommand(_ body: ByteBuffer) throws(ZMTPError) -> Action? {
        switch try Command(parsing: body) {
        case .ping(let ttl, let context):
            heartbeat?.peerAnnounced(ttlDeciseconds: ttl)
            return .write(encodedCommand(.pong(context: context)))
        case .pong:
            return nil
        case .error(let reason):
            throw .peerError(reason: reason)
        case .subscribe, .cancel:
            return .command(try Command(parsing: body))
        case .unknown(let name, let data) where name == "JOIN" || name == "LEAVE":
            // RADIO-DISH group membership (37/ZMTP): the socket type decides.
            return .command(.unknown(name: name, data: data))
        case .ready, .unknown:
            // After the handshake, unknown commands are ignored, as libzmq does.
            return nil
        }
    }

    // MARK: Heartbeats

    /// Starts heartbeat timing once the handshake is complete.
    public mutating func startHeartbeat(now: NIODeadline) {
        // PING is a 3.1 command: a 3.0 peer would never answer, so it gets no heartbeats at all.
        guard case .open(let peerMinor) = state, peerMinor >= 1 else { return }
        heartbeat = Heartbeat(configuration: configuration.heartbeat, now: now)
    }

    public mutating func trafficReceived(at now: NIODeadline) {
        heartbeat?.trafficReceived(at: now)
    }

    public var nextHeartbeatDeadline: NIODeadline? { heartbeat?.nextDeadline }

    /// Checks the heartbeat clocks: returns a PING to write, a close, or nothing.
    public mutating func heartbeatTick(now: NIODeadline) -> Action? {
        guard case .open = state, heartbeat != nil else { return nil }
        switch heartbeat!.tick(now: now) {
        case .none:
            return nil
        case .timeout:
            state = .closed
            return .close(.heartbeatTimeout, farewell: nil)
        case .sendPing(let ping):
            return .write(encodedCommand(ping))
        }
    }
}

// MARK: Outgoing traffic

extension Connection {
    /// Whether outgoing messages must go through `seal` (CURVE) rather than plain framing.
    public var encryptsTraffic: Bool {
        #if CURVE
        return cipher != nil
        #else
        return false
        #endif
    }

    /// A command as it goes on the wire: plain, or inside a MESSAGE box under CURVE.
    mutating func encodedCommand(_ command: Command) -> ByteBuffer {
        #if CURVE
        if cipher != nil {
            var buffer = ByteBuffer()
            cipher!.seal(command, into: &buffer)
            return buffer
        }
        #endif
        return command.encoded
    }

    /// Appends `message` to `buffer` as CURVE MESSAGEs, one per frame. With
    /// `subscriptionsAsCommands`, a subscription message (0x01/0x00 + topic) goes as a boxed
    /// SUBSCRIBE or CANCEL command, as a SUB talking to a ZMTP 3.1 peer sends it.
    public mutating func seal(_ message: Message, subscriptionsAsCommands: Bool, into buffer: inout ByteBuffer) {
        seal(message, commandFor: { subscriptionsAsCommands ? Subscription($0)?.command : nil }, into: &buffer)
    }

    /// Appends every message of `messages` as `seal(_:subscriptionsAsCommands:into:)` does one.
    public mutating func seal(_ messages: MessageQueue, subscriptionsAsCommands: Bool, into buffer: inout ByteBuffer) {
        #if CURVE
        if subscriptionsAsCommands {
            for message in messages { seal(message, subscriptionsAsCommands: true, into: &buffer) }
        } else {
            cipher!.seal(messages, into: &buffer)
        }
        #endif
    }

    /// Appends `message`, boxed, as the command `commandFor` makes of it (a subscription or a
    /// group membership), or as the message itself when it makes none.
    public mutating func seal(_ message: Message, commandFor: (Message) -> Command?, into buffer: inout ByteBuffer) {
        #if CURVE
        if let command = commandFor(message) {
            cipher!.seal(command, into: &buffer)
            return
        }
        cipher!.seal(CollectionOfOne(message), into: &buffer)
        #endif
    }
}
