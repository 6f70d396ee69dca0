import ArgumentParser
import Foundation
import Synchronization
import ZMQ

/// A mixed load for a set time: PUSH/PULL, PUB/SUB and DEALER/ROUTER over tcp and ipc, with
/// clients that keep joining and leaving. Checks at the end that throughput held, memory and
/// descriptors stayed flat, and no message the socket types promise was lost, duplicated or
/// reordered. Exits 1 if any check fails. `scripts/soak` builds and runs it.
@main
struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zmq-soak",
        abstract: "Runs a mixed swift-zmq load for a set time and checks that nothing drifts or goes missing."
    )

    @Option(help: "How long to run, in seconds.")
    var seconds: Int = 60

    @Option(help: "Seconds between progress lines.")
    var every: Int = 5

    @Option(help: "Run only the workloads whose names start with this (push-pull, pub-sub, dealer-router).")
    var only: String = ""

    func run() async throws {
        let context = ZMQContext(ioThreads: 2)
        let ledger = Ledger()
        let descriptorsBefore = Measure.openDescriptors()
        let deadline = ContinuousClock.now + .seconds(seconds)
        print("soak: \(seconds) s; PUSH/PULL, PUB/SUB, DEALER/ROUTER over tcp and ipc, clients joining and leaving")

        var workloads: [Workload] = []
        for transport in ["tcp", "ipc"] {
            workloads.append(Pipeline(transport: transport))
            workloads.append(Broadcast(transport: transport))
            workloads.append(Echo(transport: transport))
        }
        workloads = workloads.filter { $0.name.hasPrefix(only) }
        // A lost reply or a stuck subscriber would wait forever: that fails the soak instead.
        let running = Running(workloads.map(\.name))
        let watchdog = Task.detached {
            try await Task.sleep(until: deadline + .seconds(60))
            let stuck = running.names
            print("soak: FAILED: still running 60 s after the deadline: \(stuck.joined(separator: ", ")) (a message lost, or a peer stuck)")
            Foundation.exit(1)
        }
        defer { watchdog.cancel() }
        let samples = try await withThrowingTaskGroup(of: [Sample].self) { group in
            for workload in workloads {
                group.addTask {
                    try await workload.run(context, until: deadline, ledger: ledger)
                    running.finished(workload.name)
                    return []
                }
            }
            group.addTask { await Measure.sample(ledger, every: .seconds(every), until: deadline) }
            var samples: [Sample] = []
            for try await result in group { samples += result }
            return samples
        }
        await context.shutdown()
        let descriptorsAfter = Measure.openDescriptors()

        var failures = ledger.violations
        failures += Verdict.judge(samples)
        if descriptorsAfter > descriptorsBefore {
            failures.append("descriptors: \(descriptorsBefore) before, \(descriptorsAfter) after every socket closed")
        }
        for workload in workloads {
            let sessions = ledger.sessions(of: workload.name)
            if sessions == 0 { failures.append("\(workload.name): no client finished a session") }
            print("soak: \(workload.name): \(sessions) client sessions")
        }
        print("soak: \(ledger.total) messages checked, descriptors \(descriptorsBefore) → \(descriptorsAfter)")
        guard failures.isEmpty else {
            for failure in failures.prefix(20) { print("soak: FAILED: \(failure)") }
            throw ExitCode.failure
        }
        print("soak: passed")
    }
}

/// Counts what the workloads did and records every broken promise.
final class Ledger: Sendable {
    private let counted = Atomic<Int>(0)
    private let state = Mutex<(violations: [String], sessions: [String: Int])>(([], [:]))

    var total: Int { counted.load(ordering: .relaxed) }
    var violations: [String] { state.withLock { $0.violations } }

    func count(_ messages: Int = 1) { counted.add(messages, ordering: .relaxed) }

    func violation(_ what: String) {
        state.withLock { if $0.violations.count < 100 { $0.violations.append(what) } }
    }

    func sessionFinished(_ workload: String) {
        state.withLock { $0.sessions[workload, default: 0] += 1 }
    }

    func sessions(of workload: String) -> Int { state.withLock { $0.sessions[workload] ?? 0 } }
}

/// The workloads that have not finished yet.
final class Running: Sendable {
    private let state: Mutex<Set<String>>
    init(_ names: [String]) { state = Mutex(Set(names)) }
    var names: [String] { state.withLock { $0.sorted() } }
    func finished(_ name: String) { state.withLock { _ = $0.remove(name) } }
}

/// A counter tasks share.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func next() -> Int { count.add(1, ordering: .relaxed).newValue }
}

protocol Workload: Sendable {
    var name: String { get }
    func run(_ context: ZMQContext, until deadline: ContinuousClock.Instant, ledger: Ledger) async throws
}

extension Workload {
    /// Two clients at a time, each running `session` over and over until the deadline: peers
    /// that join, work and leave.
    func clients(until deadline: ContinuousClock.Instant, _ session: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    while ContinuousClock.now < deadline { try await session() }
                }
            }
            try await group.waitForAll()
        }
    }

    func endpoint(_ transport: String) -> String {
        transport == "tcp" ? "tcp://127.0.0.1:*" : "ipc://\(NSTemporaryDirectory())/zmq-soak-\(getpid())-\(name).sock"
    }
}

/// A number as an 8-octet frame.
extension Frame {
    init(number: Int) { self.init(Swift.withUnsafeBytes(of: UInt64(number).bigEndian, Array.init)) }

    var number: Int { bytes.count == 8 ? Int(bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) : -1 }
}

/// PUSH/PULL: producers come and go, each sending a run of numbered messages and a count, then
/// closing with the default linger. PULL must see every producer's run whole and in order.
struct Pipeline: Workload {
    let transport: String
    var name: String { "push-pull-\(transport)" }

    func run(_ context: ZMQContext, until deadline: ContinuousClock.Instant, ledger: Ledger) async throws {
        let pull = try context.socket(.pull)
        let bound = try await pull.bind(endpoint(transport))
        let producers = Counter()
        let consumer = Task {
            var next: [Int: Int] = [:]
            while let message = try? await pull.receive() {
                let producer = message[0].number
                if message.count == 3, message[1].string == "done" {
                    // The producer's last word: how many it sent.
                    let count = message[2].number
                    if next[producer, default: 0] != count {
                        ledger.violation("\(name): producer \(producer) sent \(count), PULL got \(next[producer, default: 0])")
                    }
                    next[producer] = nil
                    ledger.sessionFinished(name)
                    continue
                }
                guard message.count == 2 else { ledger.violation("\(name): a message of \(message.count) frames"); continue }
                let sequence = message[1].number
                if sequence != next[producer, default: 0] {
                    ledger.violation("\(name): producer \(producer) message \(sequence) arrived when \(next[producer, default: 0]) was due")
                }
                next[producer] = sequence + 1
                ledger.count()
            }
        }
        try await clients(until: deadline) {
            let id = producers.next()
            let push = try context.socket(.push)
            try await push.connect(bound)
            let count = Int.random(in: 500...5_000)
            for sequence in 0..<count {
                try await push.send([Frame(number: id), Frame(number: sequence)])
                // `send` suspends only when the queue is full: without a yield now and
                // then, two producers would keep both cooperative threads to themselves.
                if sequence % 64 == 63 { await Task.yield() }
            }
            try await push.send([Frame(number: id), Frame("done"), Frame(number: count)])
            push.close()
            await push.waitUntilClosed()
        }
        // Every producer closed with linger: what it sent is on its way. Wait for the last counts.
        let expected = producers.value
        while ledger.sessions(of: name) < expected {
            if ContinuousClock.now > deadline + .seconds(30) {
                ledger.violation("\(name): \(expected - ledger.sessions(of: name)) producers' runs never finished arriving")
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        consumer.cancel()
        pull.close()
        await pull.waitUntilClosed()
    }
}

/// PUB/SUB: one publisher numbers every message; subscribers come and go. PUB may drop for a
/// slow subscriber, but what a subscriber gets must be in order with no repeats.
struct Broadcast: Workload {
    let transport: String
    var name: String { "pub-sub-\(transport)" }

    func run(_ context: ZMQContext, until deadline: ContinuousClock.Instant, ledger: Ledger) async throws {
        let pub = try context.socket(.pub)
        let bound = try await pub.bind(endpoint(transport))
        let publisher = Task {
            var sequence = 0
            while !Task.isCancelled {
                for _ in 0..<50 {
                    try? pub.trySend([Frame("tick"), Frame(number: sequence)])
                    sequence += 1
                }
                // A publisher at full speed would starve the other workloads of CPU.
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
        try await clients(until: deadline) {
            let sub = try context.socket(.sub)
            try sub.subscribe("tick")
            try await sub.connect(bound)
            var last = -1
            for _ in 0..<Int.random(in: 1_000...10_000) {
                let message = try await sub.receive()
                let sequence = message[1].number
                if sequence <= last {
                    ledger.violation("\(name): message \(sequence) after \(last)")
                }
                last = sequence
                ledger.count()
            }
            ledger.sessionFinished(name)
            try sub.set(.linger(.zero))
            sub.close()
            await sub.waitUntilClosed()
        }
        publisher.cancel()
        try pub.set(.linger(.zero))
        pub.close()
        await pub.waitUntilClosed()
    }
}

/// DEALER/ROUTER: an echo server; clients come and go, each keeping ten numbered requests in
/// flight. Every reply must come back, once, in order.
struct Echo: Workload {
    let transport: String
    var name: String { "dealer-router-\(transport)" }

    func run(_ context: ZMQContext, until deadline: ContinuousClock.Instant, ledger: Ledger) async throws {
        let router = try context.socket(.router)
        let bound = try await router.bind(endpoint(transport))
        let server = Task {
            while let request = try? await router.receive() {
                try? await router.send(request)
            }
        }
        try await clients(until: deadline) {
            let dealer = try context.socket(.dealer)
            try await dealer.connect(bound)
            let count = Int.random(in: 500...3_000)
            let window = 10
            for sequence in 0..<min(window, count) { try await dealer.send(Frame(number: sequence)) }
            for expected in 0..<count {
                let reply = try await dealer.receive()
                if reply.count != 1 || reply[0].number != expected {
                    ledger.violation("\(name): reply \(reply.count == 1 ? reply[0].number : -1) when \(expected) was due")
                }
                ledger.count()
                if expected + window < count { try await dealer.send(Frame(number: expected + window)) }
            }
            ledger.sessionFinished(name)
            dealer.close()
            await dealer.waitUntilClosed()
        }
        server.cancel()
        try router.set(.linger(.zero))
        router.close()
        await router.waitUntilClosed()
    }
}

/// One progress sample.
struct Sample {
    var elapsed: Duration
    var messages: Int
    var residentMemory: Int
    var descriptors: Int
}

enum Measure {
    static func residentMemory() -> Int {
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    static func sample(_ ledger: Ledger, every interval: Duration, until deadline: ContinuousClock.Instant) async -> [Sample] {
        let start = ContinuousClock.now
        var samples: [Sample] = []
        var previous = 0
        while ContinuousClock.now + interval <= deadline {
            try? await Task.sleep(for: interval)
            let sample = Sample(elapsed: ContinuousClock.now - start, messages: ledger.total,
                                residentMemory: residentMemory(), descriptors: openDescriptors())
            let rate = Double(sample.messages - previous) / (Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
            previous = sample.messages
            print(String(format: "soak: %6.0f s  %9.0f msg/s  RSS %6.1f MiB  %4d descriptors",
                         Double(sample.elapsed.components.seconds), rate, Double(sample.residentMemory) / 1_048_576, sample.descriptors))
            samples.append(sample)
        }
        return samples
    }
}

/// Whether throughput held and memory and descriptors stayed flat, judged from the samples.
enum Verdict {
    static func judge(_ samples: [Sample]) -> [String] {
        // The first quarter warms up caches, pools and the allocator; compare the rest in halves.
        let settled = Array(samples.dropFirst(max(1, samples.count / 4)))
        guard settled.count >= 4 else { return ["too few samples (\(samples.count)) to judge: run for longer"] }
        let half = settled.count / 2
        let first = Array(settled[..<half]), second = Array(settled[half...])
        var failures: [String] = []

        func rate(_ part: [Sample], from start: Sample) -> Double {
            let seconds = Double((part.last!.elapsed - start.elapsed).components.seconds)
            return Double(part.last!.messages - start.messages) / max(seconds, 1)
        }
        let before = samples[samples.count - settled.count - 1]
        let firstRate = rate(first, from: before), secondRate = rate(second, from: first.last!)
        if secondRate < firstRate / 2 {
            failures.append(String(format: "throughput fell from %.0f to %.0f msg/s", firstRate, secondRate))
        }
        // Memory: the second half may not peak more than 16 MiB above the first.
        let firstPeak = first.map(\.residentMemory).max()!, secondPeak = second.map(\.residentMemory).max()!
        if secondPeak > firstPeak + 16 << 20 {
            failures.append("resident memory grew from a peak of \(firstPeak >> 20) MiB to \(secondPeak >> 20) MiB")
        }
        // Descriptors: clients come and go, so allow for the ones mid-connect at a sample.
        let firstMost = first.map(\.descriptors).max()!, secondMost = second.map(\.descriptors).max()!
        if secondMost > firstMost + 16 {
            failures.append("open descriptors grew from at most \(firstMost) to \(secondMost)")
        }
        print(String(format: "soak: settled throughput %.0f → %.0f msg/s, RSS peak %.1f → %.1f MiB, descriptors at most %d → %d",
                     firstRate, secondRate, Double(firstPeak) / 1_048_576, Double(secondPeak) / 1_048_576, firstMost, secondMost))
        return failures
    }
}
