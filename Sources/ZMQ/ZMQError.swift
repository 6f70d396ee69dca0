#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// Why an operation failed: a `code` to act on and a `message` to show. Everything the library
/// throws is a `ZMQError`.
///
///     do {
///         try await socket.bind("tcp://*:5555")
///     } catch let error as ZMQError where error.code == .addressInUse {
///         print(error)   // tcp://*:5555: address already in use
///     }
///
///     do {
///         reply = try await request.receive()
///     } catch ZMQError.timedOut {   // matches by code
///         …
///     }
///
/// Codes are values, not enum cases, so new ones can be added without breaking a `switch`.
///
/// The API is declared `throws`, not `throws(ZMQError)`: Swift 6.2 and 6.3 crash while compiling
/// a `catch` with a pattern or a `where` clause around a typed throw inside a function that
/// throws another type (swiftlang/swift#89577), which is exactly how a timeout is caught.
public struct ZMQError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; libzmq's errno is given where there is one.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        package init(_ name: String) { description = name }

        /// The endpoint string could not be parsed, or names something this operation cannot use (EINVAL).
        public static let invalidEndpoint = Code("invalidEndpoint")
        /// Another socket or process has bound the address (EADDRINUSE).
        public static let addressInUse = Code("addressInUse")
        /// No interface of this machine has the address (EADDRNOTAVAIL).
        public static let addressNotAvailable = Code("addressNotAvailable")
        /// The host name did not resolve to an address (libzmq: ENODEV).
        public static let hostNotFound = Code("hostNotFound")
        /// The transport failed another way; the message says how.
        public static let transportFailure = Code("transportFailure")
        /// An option value is out of range, or the option means nothing for this socket type (EINVAL).
        public static let invalidOption = Code("invalidOption")
        /// A non-blocking operation could not complete now (EAGAIN).
        public static let wouldBlock = Code("wouldBlock")
        /// The send or receive timeout passed first (libzmq: EAGAIN).
        public static let timedOut = Code("timedOut")
        /// The socket type cannot do this: receiving on PUSH, sending on PULL … (ENOTSUP).
        public static let notSupported = Code("notSupported")
        /// The socket's state does not allow this now, e.g. a REQ sending twice (EFSM).
        public static let invalidState = Code("invalidState")
        /// The message cannot be sent as it is.
        public static let invalidMessage = Code("invalidMessage")
        /// A ROUTER with `routerMandatory` has no peer with this routing id (EHOSTUNREACH).
        public static let unroutable = Code("unroutable")
        /// The socket has been closed (ENOTSOCK).
        public static let socketClosed = Code("socketClosed")
        /// The context has been shut down (ETERM).
        public static let contextTerminated = Code("contextTerminated")
        /// The calling task was cancelled while it waited.
        public static let cancelled = Code("cancelled")
        /// A file (a certificate, a password file) could not be read or written, or is malformed.
        public static let invalidFile = Code("invalidFile")
    }

    public let code: Code
    /// What went wrong, in words; `description` adds the endpoint or option it concerns.
    public let message: String
    /// The endpoint the failure concerns, as the application gave it.
    public let endpoint: String?
    /// The option the failure concerns (`invalidOption`).
    public let option: String?
    /// The routing id that had no peer (`unroutable`).
    public let routingID: [UInt8]?

    public init(code: Code, message: String, endpoint: String? = nil, option: String? = nil, routingID: [UInt8]? = nil) {
        self.code = code
        self.message = message
        self.endpoint = endpoint
        self.option = option
        self.routingID = routingID
    }

    public var description: String {
        if let endpoint { return "\(endpoint): \(message)" }
        if let option { return "option \(option): \(message)" }
        return message
    }

    /// Matches by code, so `catch ZMQError.timedOut` catches every timeout.
    public static func ~= (pattern: ZMQError, error: ZMQError) -> Bool { pattern.code == error.code }

    public static func ~= (pattern: ZMQError, error: any Error) -> Bool {
        pattern.matches(error)
    }

    /// Whether `error` is a `ZMQError` with this one's code.
    public func matches(_ error: any Error) -> Bool {
        (error as? ZMQError)?.code == code
    }
}

// The errors the library throws, by name, so that call sites read `throw .wouldBlock`.
extension ZMQError {
    public static let wouldBlock = ZMQError(code: .wouldBlock, message: "the operation would block")
    public static let timedOut = ZMQError(code: .timedOut, message: "the operation timed out")
    public static let socketClosed = ZMQError(code: .socketClosed, message: "the socket is closed")
    public static let contextTerminated = ZMQError(code: .contextTerminated, message: "the context has been shut down")
    public static let cancelled = ZMQError(code: .cancelled, message: "the task was cancelled")

    public static func invalidEndpoint(_ endpoint: String, reason: String) -> ZMQError {
        ZMQError(code: .invalidEndpoint, message: "invalid endpoint: \(reason)", endpoint: endpoint)
    }

    public static func addressInUse(_ endpoint: String) -> ZMQError {
        ZMQError(code: .addressInUse, message: "address already in use", endpoint: endpoint)
    }

    public static func transportFailure(endpoint: String, reason: String) -> ZMQError {
        ZMQError(code: .transportFailure, message: reason, endpoint: endpoint)
    }

    public static func invalidOption(name: String, reason: String) -> ZMQError {
        ZMQError(code: .invalidOption, message: reason, option: name)
    }

    public static func notSupported(_ reason: String) -> ZMQError {
        ZMQError(code: .notSupported, message: reason)
    }

    public static func invalidState(_ reason: String) -> ZMQError {
        ZMQError(code: .invalidState, message: reason)
    }

    public static func invalidMessage(_ reason: String) -> ZMQError {
        ZMQError(code: .invalidMessage, message: reason)
    }

    public static func unroutable(routingID: [UInt8]) -> ZMQError {
        ZMQError(code: .unroutable, message: "no peer with routing id \(Frame(routingID))", routingID: routingID)
    }

    public static func invalidFile(_ path: String, reason: String) -> ZMQError {
        ZMQError(code: .invalidFile, message: "\(path): \(reason)")
    }
}

// MARK: Transport failures in words

extension ZMQError {
    /// `error`, thrown by the system or SwiftNIO while `doing` ("bind", "connect") `endpoint`, in
    /// words a user understands: "tcp://10.1.2.3:5555: address not available (no interface has it)".
    static func transport(_ error: any Error, endpoint: String, doing action: String) -> ZMQError {
        if let error = error as? ZMQError { return error }
        if let error = error as? SocketAddressError.UnknownHost {
            return ZMQError(code: .hostNotFound, message: "host not found: \(error.host)", endpoint: endpoint)
        }
        if let error = error as? SocketAddressError {
            switch error {
            case .unknown(let host, _):
                return ZMQError(code: .hostNotFound, message: "host not found: \(host)", endpoint: endpoint)
            default:
                return ZMQError(code: .invalidEndpoint, message: "invalid address: \(error)", endpoint: endpoint)
            }
        }
        if let error = error as? IOError {
            return fromErrno(error.errnoCode, endpoint: endpoint, doing: action)
        }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return transport(first.error, endpoint: endpoint, doing: action)
        }
        if error is ChannelError, case .connectTimeout = error as! ChannelError {
            return ZMQError(code: .transportFailure, message: "cannot \(action): timed out", endpoint: endpoint)
        }
        return ZMQError(code: .transportFailure, message: "cannot \(action): \(error)", endpoint: endpoint)
    }

    static func fromErrno(_ code: Int32, endpoint: String, doing action: String) -> ZMQError {
        switch code {
        case EADDRINUSE: return .addressInUse(endpoint)
        case EADDRNOTAVAIL:
            return ZMQError(code: .addressNotAvailable, message: "address not available (no interface of this machine has it)", endpoint: endpoint)
        case EACCES, EPERM:
            return ZMQError(code: .transportFailure, message: "cannot \(action): permission denied", endpoint: endpoint)
        case ENOENT:
            return ZMQError(code: .transportFailure, message: "cannot \(action): no such file or directory", endpoint: endpoint)
        case ECONNREFUSED:
            return ZMQError(code: .transportFailure, message: "cannot \(action): connection refused", endpoint: endpoint)
        default:
            let reason = String(cString: strerror(code)).lowercased()
            return ZMQError(code: .transportFailure, message: "cannot \(action): \(reason)", endpoint: endpoint)
        }
    }
}
