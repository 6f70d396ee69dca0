import Foundation
import Logging
import ZMQ

/// Where the tool's contexts log: a refused or dropped peer is reported on standard error, at
/// the library's rate (one line per socket every ten seconds), with the flag that changes the
/// limit it ran into, so that a message over the size limit is not a silent wait.
struct ToolLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    /// The tool's flag for each socket option a refusal names.
    static let flags = ["maxMessageSize": "--max-message-size"]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?,
             source: String, file: String, function: String, line: UInt) {
        var line = "zmq: \(message)"
        if case .string(let option)? = metadata?[ZMQContext.logOptionKey], let flag = Self.flags[option] {
            line += "; \(flag) changes the limit"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension ZMQContext {
    /// A context whose connection failures are reported on standard error.
    static func forTool() -> ZMQContext {
        ZMQContext(logger: Logger(label: "zmq") { _ in ToolLogHandler() })
    }
}
