/// The errors the socket API throws. Each says what was wrong in words a user can act on.
public enum ZMQError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The endpoint string could not be parsed; `reason` says which part is wrong.
    case invalidEndpoint(String, reason: String)
    /// The address is already bound by another socket or process.
    case addressInUse(String)
    /// The endpoint could not be bound or connected for another reason.
    case transportFailure(endpoint: String, reason: String)
    /// An option value is out of range; `reason` says what is allowed.
    case invalidOption(name: String, reason: String)
    /// A non-blocking operation could not complete now (EAGAIN).
    case wouldBlock
    /// The send or receive timeout passed before the operation could complete.
    case timedOut
    /// The socket type cannot do this (receiving on PUSH, sending on PULL …).
    case notSupported(String)
    /// The socket's state does not allow this now, e.g. a REQ sending a second request before
    /// the reply to the first (libzmq's EFSM); `reason` says what must happen first.
    case invalidState(String)
    /// The message cannot be sent as it is; `reason` says why (a message has at least one frame).
    case invalidMessage(String)
    /// A ROUTER with `routerMandatory` set has no peer with this routing id (EHOSTUNREACH).
    case unroutable(routingID: [UInt8])
    /// The socket has been closed.
    case socketClosed
    /// The context has been shut down.
    case contextTerminated

    public var description: String {
        switch self {
        case .invalidEndpoint(let endpoint, let reason): return "invalid endpoint '\(endpoint)': \(reason)"
        case .addressInUse(let endpoint): return "address already in use: \(endpoint)"
        case .transportFailure(let endpoint, let reason): return "\(endpoint): \(reason)"
        case .invalidOption(let name, let reason): return "invalid value for option \(name): \(reason)"
        case .wouldBlock: return "the operation would block"
        case .timedOut: return "the operation timed out"
        case .notSupported(let what): return what
        case .invalidState(let reason): return reason
        case .invalidMessage(let reason): return reason
        case .unroutable(let id): return "no peer with routing id \(Frame(id))"
        case .socketClosed: return "the socket is closed"
        case .contextTerminated: return "the context has been shut down"
        }
    }
}
