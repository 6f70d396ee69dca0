import ZMQ

/// Checks a component runs on its settings before it starts, so that a setting that cannot work
/// (a heartbeat of zero would spin, a liveness of zero would drop every peer at once) throws
/// `invalidOption` naming it, instead of misbehaving.
enum Settings {
    static func positive(_ value: Duration, _ name: String) throws {
        guard value > .zero else { throw ZMQError.invalidOption(name: name, reason: "must be more than zero, not \(value)") }
    }

    static func positive(_ value: Duration?, _ name: String) throws {
        if let value { try positive(value, name) }
    }

    static func atLeastOne(_ value: Int, _ name: String) throws {
        guard value >= 1 else { throw ZMQError.invalidOption(name: name, reason: "must be at least 1, not \(value)") }
    }
}
