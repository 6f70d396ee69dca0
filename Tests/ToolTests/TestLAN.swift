import Foundation
import Synchronization

/// Two test hosts and this process on one LAN: network namespaces A and B, each linked by a veth
/// pair to a bridge in a third (the switch), as this process's own namespace is, so the three
/// reach each other at `local`, `hostA` and `hostB` (a /24 of their own). Removed afterwards.
///
///     this process (local) ─veth─ [switch: bridge] ─veth─ [A] (hostA)
///                                                  └─veth─ [B] (hostB)
final class TestLAN: @unchecked Sendable {
    struct SetupFailure: Error, CustomStringConvertible {
        var description: String
    }

    private static let counter = Atomic<Int>(0)

    let namespaceA: String
    let namespaceB: String
    let local: String
    let hostA: String
    let hostB: String
    private let switchNamespace: String
    private let localLink: String

    init() throws {
        let number = Self.counter.add(1, ordering: .relaxed).newValue
        let tag = "\(getpid() % 100_000)l\(number)"
        let subnet = "10.250.\((Int(getpid()) + number) % 250)"
        (namespaceA, namespaceB, switchNamespace) = ("zmqt-\(tag)-A", "zmqt-\(tag)-B", "zmqt-\(tag)-s")
        (local, hostA, hostB) = ("\(subnet).1", "\(subnet).2", "\(subnet).3")
        localLink = "zl\(tag)"
        do {
            try Self.ip("netns", "add", switchNamespace)
            try Self.ip("-n", switchNamespace, "link", "add", "name", "bridge0", "type", "bridge")
            try Self.ip("-n", switchNamespace, "link", "set", "bridge0", "up")
            for (namespace, address, port) in [(nil, local, "p0"), (namespaceA, hostA, "p1"), (namespaceB, hostB, "p2")] {
                let end = namespace == nil ? localLink : "eth0"
                if let namespace {
                    try Self.ip("netns", "add", namespace)
                    try Self.ip("-n", namespace, "link", "set", "lo", "up")
                    try Self.ip("link", "add", "zt\(tag)", "netns", namespace, "type", "veth", "peer", "name", port, "netns", switchNamespace)
                    try Self.ip("-n", namespace, "link", "set", "zt\(tag)", "name", end)
                } else {
                    try Self.ip("link", "add", end, "type", "veth", "peer", "name", port, "netns", switchNamespace)
                }
                try Self.ip("-n", switchNamespace, "link", "set", port, "master", "bridge0")
                try Self.ip("-n", switchNamespace, "link", "set", port, "up")
                let inNamespace = namespace.map { ["-n", $0] } ?? []
                try Self.run(inNamespace + ["addr", "add", "\(address)/24", "dev", end])
                try Self.run(inNamespace + ["link", "set", end, "up"])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    func tearDown() {
        _ = try? Self.ip("link", "del", localLink)
        for namespace in [namespaceA, namespaceB, switchNamespace] { _ = try? Self.ip("netns", "del", namespace) }
    }

    deinit { tearDown() }

    private static func ip(_ arguments: String...) throws { try run(arguments) }

    /// Runs `ip arguments`; a failure says what could not be done and why.
    private static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw SetupFailure(description: "cannot run ip: \(error) (the test hosts need iproute2, and root)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw SetupFailure(description: "ip \(arguments.joined(separator: " ")) failed: \(message) (the test hosts need root to make namespaces)")
        }
    }
}
