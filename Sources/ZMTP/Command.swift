import NIOCore

/// A ZMTP command: a frame with the COMMAND flag whose body is a short name followed by data.
public enum Command: Sendable, Equatable {
    /// NULL handshake: the sender's metadata (23/ZMTP "The NULL Security Mechanism").
    case ready(Metadata)
    /// A fatal handshake error with a reason of at most 255 octets.
    case error(reason: String)
    /// A heartbeat (37/ZMTP "Connection Heartbeating"): TTL in deciseconds, context of 0–16 octets.
    case ping(ttl: UInt16, context: [UInt8])
    /// The answer to a PING, echoing its context.
    case pong(context: [UInt8])
    /// 37/ZMTP subscription commands.
    case subscribe(ByteBuffer)
    case cancel(ByteBuffer)
    /// Any other command; after the handshake these are ignored.
    case unknown(name: String, data: ByteBuffer)

    public var name: String {
        switch self {
        case .ready: return "READY"
        case .error: return "ERROR"
        case .ping: return "PING"
        case .pong: return "PONG"
        case .subscribe: return "SUBSCRIBE"
        case .cancel: return "CANCEL"
        case .unknown(let name, _): return name
        }
    }

    /// Parses a command frame's body.
    public init(parsing body: ByteBuffer) throws(ZMTPError) {
        var body = body
        guard let nameLength = body.readInteger(as: UInt8.self), nameLength > 0,
              let name = body.readString(length: Int(nameLength))
        else { throw .malformedCommand("bad command name") }
        switch name {
        case "READY":
            self = .ready(try Metadata.decode(from: &body))
        case "ERROR":
            guard let length = body.readInteger(as: UInt8.self),
                  let reason = body.readString(length: Int(length))
            else { throw .malformedCommand("ERROR reason overruns the command") }
            self = .error(reason: reason)
        case "PING":
            guard let ttl = body.readInteger(as: UInt16.self), body.readableBytes <= 16
            else { throw .malformedCommand("PING needs a 2-octet TTL and at most 16 octets of context") }
            self = .ping(ttl: ttl, context: body.readBytes(length: body.readableBytes)!)
        case "PONG":
            guard body.readableBytes <= 16
            else { throw .malformedCommand("PONG context longer than 16 octets") }
            self = .pong(context: body.readBytes(length: body.readableBytes)!)
        case "SUBSCRIBE":
            self = .subscribe(body)
        case "CANCEL":
            self = .cancel(body)
        default:
            self = .unknown(name: name, data: body)
        }
    }

    /// Writes the whole command frame, header included.
    public func encode(into buffer: inout ByteBuffer) {
        var data = ByteBuffer()
        switch self {
        case .ready(let metadata):
            metadata.encode(into: &data)
        case .error(let reason):
            let bytes = Array(reason.utf8.prefix(255))
            data.writeInteger(UInt8(bytes.count))
            data.writeBytes(bytes)
        case .ping(let ttl, let context):
            data.writeInteger(ttl)
            data.writeBytes(context.prefix(16))
        case .pong(let context):
            data.writeBytes(context.prefix(16))
        case .subscribe(let topic), .cancel(let topic):
            data = topic
        case .unknown(_, let payload):
            data = payload
        }
        FrameEncoder.encodeCommand(name: name, data: data, into: &buffer)
    }

    public var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }
}
