// The swift-zmq side of the benchmarks, with the same modes and output as c/bench.c:
//   recv EP COUNT SIZE | send EP COUNT SIZE | inproc COUNT SIZE
//   lat-server EP COUNT SIZE | lat-client EP COUNT SIZE | lat-inproc COUNT SIZE | lat-steady EP SECONDS SIZE
//   mem-idle N | mem-queue N SIZE | pub EP COUNT SIZE [N T] | sub EP COUNT SIZE N [T]
//   conn-server EP COUNT | conn-client EP COUNT | router EP COUNT SIZE N
//   blackbox EP COUNT SIZE WORKERS [WORK_NS] (swift-zmq only: one SUB fanned out to WORKERS handlers
//   with SubscriberFanOut, each computing WORK_NS a message; RESULT as sub's, the rate from the
//   first message handled to the last)
//   nio-lat-server EP COUNT SIZE | nio-lat-client EP COUNT SIZE (no ZeroMQ: NIO's own NIOAsyncChannel,
//   the latency bound of any library on SwiftNIO; NIOPingPong.swift)
//   mdp-broker EP (c/mdp.c's broker mode: MajordomoBroker, prints ENDPOINT, runs until killed)
//   titanic COUNT WINDOW SIZE [STORE] (swift-zmq only: COUNT requests through Titanic on SQLite,
//   or the postgres:// STORE, to four echo workers, WINDOW submitted at once; RESULT requests/s
//   from first submit to last reply)
//   spool COUNT SIZE [STORE] (swift-zmq only: COUNT messages through a DiskSpool with no consumer,
//   then drained to one; RESULT messages/s while spilling, messages/s while draining)
// With the BENCH_CURVE_* keys set (see `secure`), recv and send use CURVE, as in c/bench.c.
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import ZMQ
import ZMQPatterns

func cpuNanoseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) * 1e9 + Double(usage.ru_utime.tv_usec) * 1e3
    let system = Double(usage.ru_stime.tv_sec) * 1e9 + Double(usage.ru_stime.tv_usec) * 1e3
    return user + system
}

func statusKilobytes(_ field: String) -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Double(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
    }
    return -1
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func output(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The one payload a run sends again and again: a permanent frame (up to 32 octets, inline), as
/// c/bench.c sends one shared buffer that nothing counts (`zmq_msg_init_data`, no free function).
func payload(_ size: Int) -> Message {
    Message(Frame(permanent: [UInt8](repeating: 0x5A, count: size)))
}

/// One receiver's run, as c/bench.c's `receive_window`: from its first message to its last, up to
/// `count` messages or 2 s of silence. The clock is read every `clockEvery` messages and after the
/// last (libzmq's perf/local_thr reads it only at the start and the end): a read per message cost
/// about as much as receiving the message on these VMs, on both sides alike. `timed` is how many
/// had arrived when `last` was read; the rate is from that pair.

typealias Window = (rate: Double, received: Int, timed: Int, first: ContinuousClock.Instant, last: ContinuousClock.Instant)

func receiveWindow(_ socket: ZMQSocket, count: Int, size: Int) async throws -> Window {
    let first = try await socket.receive()
    precondition(first[0].count == size, "wrong message size")
    try socket.set(.receiveTimeout(.seconds(2)))
    let clockEvery = 256  // a constant here, as c/bench.c's CLOCK_EVERY: a division by a global cost more
    let start = ContinuousClock.now
    var last = start
    var received = 1, timed = 1
    while received < count {
        do { _ = try await socket.receive() } catch ZMQError.timedOut { break }
        received += 1
        if received % clockEvery == 0 || received == count {
            last = ContinuousClock.now
            timed = received
        }
    }
    return (Double(timed - 1) / seconds(last - start), received, timed, start, last)
}

func receiveAll(_ pull: ZMQSocket, count: Int, size: Int) async throws {
    let startCPU = cpuNanoseconds()
    let (rate, received, _, _, _) = try await receiveWindow(pull, count: count, size: size)
    output("RESULT \(rate) \((cpuNanoseconds() - startCPU) / Double(received - 1)) \(received)")
}

func echo(_ rep: ZMQSocket, count: Int) async throws {
    for _ in 0..<count { try await rep.send(try await rep.receive()) }
}

func roundTrips(_ req: ZMQSocket, count: Int, size: Int) async throws {
    let message = payload(size)
    var samples: [Double] = []
    samples.reserveCapacity(count)
    for _ in 0..<count {
        let start = ContinuousClock.now
        try await req.send(message)
        _ = try await req.receive()
        samples.append(seconds(ContinuousClock.now - start) / 2 * 1e6)
    }
    samples.sort()
    output("RESULT \(samples[count / 2]) \(samples[count * 99 / 100])")
}

/// Subscriber `subscriber`'s `topic`th topic: 8 octets, as c/bench.c names it.
func topicName(_ subscriber: Int, _ topic: Int) -> String {
    "t" + String(subscriber % 10000).leftPadded(4) + "-" + String(topic % 100).leftPadded(2)
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// p50, p99 and p99.9 of `samples` on one line after `label`.
func percentiles(_ label: String, _ samples: [Double]) {
    let sorted = samples.sorted()
    output("\(label) \(sorted[sorted.count / 2]) \(sorted[sorted.count * 99 / 100]) \(sorted[sorted.count * 999 / 1000])")
}

/// Round trips for `duration`, with the percentiles of each 10 s window and of the whole run.
func steady(_ req: ZMQSocket, for duration: Duration, size: Int) async throws {
    let message = payload(size)
    var samples: [Double] = []
    var windowStart = 0
    let start = ContinuousClock.now
    var next = start + .seconds(10)
    while true {
        let sent = ContinuousClock.now
        if sent - start >= duration { break }
        try await req.send(message)
        _ = try await req.receive()
        let done = ContinuousClock.now
        samples.append(seconds(done - sent) / 2 * 1e6)
        if done >= next {
            percentiles("WINDOW \(Int(seconds(next - start).rounded()))", Array(samples[windowStart...]))
            windowStart = samples.count
            next += .seconds(10)
        }
    }
    percentiles("RESULT", samples)
}

/// With SWIFT_ZMQ_IO_EXECUTOR=1 the latency loops run on the socket's I/O thread.
func onIOThread(_ socket: ZMQSocket, _ body: @Sendable () async throws -> Void) async throws {
    if ProcessInfo.processInfo.environment["SWIFT_ZMQ_IO_EXECUTOR"] == "1" {
        try await withTaskExecutorPreference(socket.ioExecutor) { try await body() }
    } else {
        try await body()
    }
}

/// With BENCH_CURVE_SERVER_PUBLIC, BENCH_CURVE_SERVER_SECRET, BENCH_CURVE_CLIENT_PUBLIC and
/// BENCH_CURVE_CLIENT_SECRET set (Z85, from run.py), the receiver is a CURVE server and the sender
/// its client, and each says "SECURITY CURVE" on stderr; without them both use NULL.
func secure(_ socket: ZMQSocket, server: Bool) throws {
    let environment = ProcessInfo.processInfo.environment
    guard let serverPublic = environment["BENCH_CURVE_SERVER_PUBLIC"] else { return }
    func key(_ name: String) -> String {
        guard let value = environment[name] else { fatalError("\(name) is not set") }
        return value
    }
    if server {
        try socket.set(.curveServer(CurveKeyPair(publicKey: CurvePublicKey(z85: serverPublic),
                                                 secretKey: CurveSecretKey(z85: key("BENCH_CURVE_SERVER_SECRET")))))
    } else {
        try socket.set(.curveServerKey(CurvePublicKey(z85: serverPublic)))
        try socket.set(.curveKeyPair(CurveKeyPair(publicKey: CurvePublicKey(z85: key("BENCH_CURVE_CLIENT_PUBLIC")),
                                                  secretKey: CurveSecretKey(z85: key("BENCH_CURVE_CLIENT_SECRET")))))
    }
    FileHandle.standardError.write(Data("SECURITY CURVE\n".utf8))
}

/// Titanic with its durability on (SQLite, WAL, synchronous FULL, in the temporary directory):
/// a broker, Titanic and four echo workers in this process; `window` clients submit and fetch.
func titanicRequests(count: Int, window: Int, size: Int, store url: String?) async throws {
    let folder = NSTemporaryDirectory() + "swift-zmq-bench-titanic-\(getpid())"
    try? FileManager.default.removeItem(atPath: folder)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let endpoint = "ipc://\(folder)/broker.sock"
    let broker = Task { try await MajordomoBroker(endpoint: endpoint).run(in: context) }
    let store = try await titanicStore(at: StoreLocation(url ?? "\(folder)/titanic.sqlite"))
    let titanic = Task { try await Titanic(broker: endpoint, store: store).run(in: context) }
    var workers: [Task<Void, any Error>] = []
    for _ in 0..<4 {
        workers.append(Task { try await MajordomoWorker(connectingTo: endpoint, service: "echo").run(in: context) { $0 } })
    }
    let client = TitanicClient(context, connectingTo: endpoint, timeout: .seconds(30), maxInFlight: window)
    let body = payload(size)
    _ = try await client.request(service: "echo", body, pollInterval: .milliseconds(1))  // warm up: everyone connected
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for lane in 0..<window {
            group.addTask {
                for _ in stride(from: lane, to: count, by: window) {
                    _ = try await client.request(service: "echo", body, pollInterval: .milliseconds(1))
                }
            }
        }
        try await group.waitForAll()
    }
    output("RESULT \(Double(count) / seconds(ContinuousClock.now - start))")
    for task in [broker, titanic] + workers { task.cancel() }
}

/// A DiskSpool from a PULL to a PUSH with no consumer at first: the rate at which `count`
/// messages reach the store (spilling), then the rate at which a consumer that binds gets them
/// all (draining, each batch leaving the disk in a commit before it is sent).
func spoolRates(count: Int, size: Int, store url: String?) async throws {
    let folder = NSTemporaryDirectory() + "swift-zmq-bench-spool-\(getpid())"
    try? FileManager.default.removeItem(atPath: folder)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let store = try await spoolStore(at: StoreLocation(url ?? "\(folder)/spool.sqlite"))
    let (inputEndpoint, outputEndpoint) = ("ipc://\(folder)/in.sock", "ipc://\(folder)/out.sock")
    let spool = DiskSpool(input: SocketPlan(.pull, bind: [inputEndpoint]), output: SocketPlan(.push, connect: [outputEndpoint]), store: store)
    let running = Task { try await spool.run(in: context) }
    let producer = try context.socket(.push, options: [.sendHighWaterMark(0)])
    try await producer.connect(inputEndpoint)
    let body = payload(size)
    let start = ContinuousClock.now
    for _ in 0..<count { try await producer.send(body) }
    while try await store.backlog().messages < count { try await Task.sleep(for: .milliseconds(2)) }
    let spilled = ContinuousClock.now
    let consumer = try context.socket(.pull)
    try await consumer.bind(outputEndpoint)
    for _ in 0..<count { _ = try await consumer.receive() }
    let drained = ContinuousClock.now
    output("RESULT \(Double(count) / seconds(spilled - start)) \(Double(count) / seconds(drained - spilled))")
    running.cancel()
    _ = await running.result
}

let arguments = CommandLine.arguments
func argument(_ index: Int) -> Int { Int(arguments[index])! }
/// With SWIFT_ZMQ_NIO_EXECUTOR=1 NIO's shared event loops are Swift's global executor and the
/// context's I/O threads: every task runs on an I/O thread, with no code of its own to say so.
let nioExecutor = ProcessInfo.processInfo.environment["SWIFT_ZMQ_NIO_EXECUTOR"] == "1"
if nioExecutor {
    precondition(NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor(),
                 "NIO could not take over Swift's global executor")
}
let context = nioExecutor ? ZMQContext(eventLoopGroup: MultiThreadedEventLoopGroup.singleton) : ZMQContext()

/// The mode the arguments name, run to its end.
func run() async throws {
    switch arguments[1] {
    case "recv":
        let pull = try context.socket(.pull)
        try secure(pull, server: true)
        output("ENDPOINT \(try await pull.bind(arguments[2]))")
        try await receiveAll(pull, count: argument(3), size: argument(4))
    case "send":
        let push = try context.socket(.push)
        try secure(push, server: false)
        try await push.connect(arguments[2])
        let message = payload(argument(4))
        let count = argument(3)
        let startCPU = cpuNanoseconds()
        for _ in 0..<count { try await push.send(message) }
        push.close()
        await push.waitUntilClosed()
        output("RESULT 0 \((cpuNanoseconds() - startCPU) / Double(count)) \(count)")
    case "inproc":
        let pull = try context.socket(.pull)
        try await pull.bind("inproc://bench")
        let count = argument(2), size = argument(3)
        let sender = Task {
            let push = try context.socket(.push)
            try await push.connect("inproc://bench")
            let message = payload(size)
            for _ in 0..<count { try await push.send(message) }
        }
        try await receiveAll(pull, count: count, size: size)
        try await sender.value
    case "lat-server":
        let rep = try context.socket(.rep)
        output("ENDPOINT \(try await rep.bind(arguments[2]))")
        try await onIOThread(rep) { try await echo(rep, count: argument(3)) }
    case "lat-client":
        let req = try context.socket(.req)
        try await req.connect(arguments[2])
        try await onIOThread(req) { try await roundTrips(req, count: argument(3), size: argument(4)) }
    case "nio-lat-server":
        try await nioLatencyServer(arguments[2], count: argument(3), size: argument(4))
    case "nio-lat-client":
        try await nioLatencyClient(arguments[2], count: argument(3), size: argument(4))
    case "lat-steady":
        let req = try context.socket(.req, options: [.linger(.zero)])
        try await req.connect(arguments[2])
        try await steady(req, for: .seconds(Double(arguments[3])!), size: argument(4))
    case "lat-inproc":
        let req = try context.socket(.req)
        try await req.bind("inproc://latency")
        let count = argument(2)
        let echoer = Task {
            let rep = try context.socket(.rep)
            try await rep.connect("inproc://latency")
            try await onIOThread(rep) { try await echo(rep, count: count) }
        }
        try await onIOThread(req) { try await roundTrips(req, count: count, size: argument(3)) }
        try await echoer.value
    case "mem-idle":
        let count = argument(2)
        let pull = try context.socket(.pull)
        let endpoint = try await pull.bind("tcp://127.0.0.1:*")
        // Warm up with one connection so that one-off costs do not count.
        let warm = try context.socket(.push)
        try await warm.connect(endpoint)
        try await warm.send("x")
        _ = try await pull.receive()
        let before = statusKilobytes("VmRSS")
        var pushes: [ZMQSocket] = []
        for _ in 0..<count {
            let push = try context.socket(.push)
            try push.set(.linger(.zero))
            try await push.connect(endpoint)
            try await push.send("x")
            pushes.append(push)
        }
        for _ in 0..<count { _ = try await pull.receive() }
        output("RESULT \((statusKilobytes("VmRSS") - before) * 1024 / Double(count))")
    case "pub":
        // With N subscribers named, an XPUB that first waits for their subscriptions (T each).
        let subscribers = arguments.count > 5 ? argument(5) : 0, topics = arguments.count > 6 ? argument(6) : 0
        let publisher = try context.socket(subscribers > 0 ? .xpub : .pub)
        try publisher.set(.sendHighWaterMark(0))  // no drops: the rate is what flows end to end
        if subscribers > 0 {
            try publisher.set(.receiveHighWaterMark(0))
            try publisher.set(.xpubVerbose(true))
        }
        output("ENDPOINT \(try await publisher.bind(arguments[2]))")
        _ = readLine()
        for _ in 0..<(subscribers * max(topics, 1)) { _ = try await publisher.receive() }
        let message = payload(argument(4))
        let count = argument(3)
        // One message per topic, each starting with its topic, made before the clock starts.
        let size = argument(4)
        let addressed: [Message] = topics == 0 ? [] : (0..<(subscribers * topics)).map { index in
            Message(Frame(Array(topicName(index % subscribers, index / subscribers).utf8) + [UInt8](repeating: 0x5A, count: size - 8)))
        }
        let startCPU = cpuNanoseconds()
        if !addressed.isEmpty {
            for index in 0..<count { try await publisher.send(addressed[index % addressed.count]) }
        } else if ProcessInfo.processInfo.environment["FRESH"] == "1" {
            let bytes = [UInt8](repeating: 0x5A, count: argument(4))
            for _ in 0..<count { try await publisher.send(Message(Frame(bytes))) }
        } else {
            for _ in 0..<count { try await publisher.send(message) }
        }
        publisher.close()
        await publisher.waitUntilClosed()
        output("RESULT 0 \((cpuNanoseconds() - startCPU) / Double(count)) \(count)")
    case "sub":
        let size = argument(4), topics = arguments.count > 6 ? argument(6) : 0
        let count = topics > 0 ? argument(3) / argument(5) : argument(3)
        var subscribers: [ZMQSocket] = []
        for index in 0..<argument(5) {
            let subscriber = try context.socket(.sub)
            try subscriber.set(.receiveHighWaterMark(0))
            if topics == 0 { try subscriber.subscribe() }
            for topic in 0..<topics { try subscriber.subscribe(topicName(index, topic)) }
            try await subscriber.connect(arguments[2])
            subscribers.append(subscriber)
        }
        output("READY")
        let startCPU = cpuNanoseconds()
        let windows = try await withThrowingTaskGroup(of: Window.self) { group in
            for subscriber in subscribers {
                group.addTask { try await receiveWindow(subscriber, count: count, size: size) }
            }
            var windows: [Window] = []
            for try await window in group { windows.append(window) }
            return windows
        }
        let received = windows.reduce(0) { $0 + $1.received }
        let timed = windows.reduce(0) { $0 + $1.timed }
        // Every timed delivery over the span from the first subscriber's first message to the last one's last.
        let span = windows.map(\.last).max()! - windows.map(\.first).min()!
        output("RESULT \(Double(timed - 1) / seconds(span)) \((cpuNanoseconds() - startCPU) / Double(received)) \(received)")
    case "blackbox":
        let count = argument(3), workers = argument(5)
        // Optional: each message costs the handler this many nanoseconds of computing.
        let work = arguments.count > 6 ? Duration.nanoseconds(argument(6)) : .zero
        let subscriber = try context.socket(.sub)
        try subscriber.set(.receiveHighWaterMark(0))
        try subscriber.subscribe()
        try await subscriber.connect(arguments[2])
        output("READY")
        let startCPU = cpuNanoseconds()
        let handled = Atomic<Int>(0)
        let span = Mutex<(first: ContinuousClock.Instant?, last: ContinuousClock.Instant?)>((nil, nil))
        let (finished, finish) = AsyncStream.makeStream(of: Void.self)
        let fanOut = Task {
            try await SubscriberFanOut(workers: workers).run(from: subscriber, in: context) { message, _ in
                if work > .zero {
                    let start = ContinuousClock.now
                    while ContinuousClock.now - start < work {}
                }
                let number = handled.add(1, ordering: .relaxed).newValue
                if number == 1 { span.withLock { $0.first = .now } }
                if number == count {
                    span.withLock { $0.last = .now }
                    finish.yield()
                }
            }
        }
        // Every message arrives (no high-water mark on either side); a minute is a stuck run.
        let timeout = Task { try await Task.sleep(for: .seconds(60)); finish.yield() }
        for await _ in finished { break }
        timeout.cancel()
        fanOut.cancel()
        let received = handled.load(ordering: .relaxed)
        let (first, last) = span.withLock { $0 }
        let rate = first.flatMap { first in last.map { Double(count - 1) / seconds($0 - first) } } ?? 0
        output("RESULT \(rate) \((cpuNanoseconds() - startCPU) / Double(max(1, received))) \(received)")
    case "conn-server":
        let pull = try context.socket(.pull)
        try secure(pull, server: true)
        output("ENDPOINT \(try await pull.bind(arguments[2]))")
        let count = argument(3)
        _ = try await pull.receive()
        let (start, startCPU) = (ContinuousClock.now, cpuNanoseconds())
        for _ in 1..<count { _ = try await pull.receive() }
        output("RESULT \(Double(count - 1) / seconds(ContinuousClock.now - start)) \((cpuNanoseconds() - startCPU) / Double(count - 1))")
    case "conn-client":
        for _ in 0..<argument(3) {
            let push = try context.socket(.push)
            try secure(push, server: false)
            try await push.connect(arguments[2])
            try await push.send("x")
            push.close()  // the default linger: the message still goes
        }
    case "router":
        let count = argument(3), peers = argument(5)
        let router = try context.socket(.router, options: [.sendHighWaterMark(0), .receiveHighWaterMark(0)])
        output("ENDPOINT \(try await router.bind(arguments[2]))")
        for _ in 0..<peers { _ = try await router.receive() }
        output("READY")
        var request = try await router.receive()
        let (start, startCPU) = (ContinuousClock.now, cpuNanoseconds())
        for index in 0..<count {
            if index > 0 { request = try await router.receive() }
            try await router.send(request)
        }
        output("RESULT \(Double(count - 1) / seconds(ContinuousClock.now - start)) \((cpuNanoseconds() - startCPU) / Double(count))")
        try router.set(.linger(.zero))
    case "mem-queue":
        let count = argument(2)
        let bytes = [UInt8](repeating: 0x5A, count: argument(3))
        let push = try context.socket(.push)
        try push.set(.sendHighWaterMark(count))
        try push.set(.linger(.zero))
        try await push.connect("tcp://127.0.0.1:1")
        let before = statusKilobytes("VmRSS")
        // A message of its own each time, as an application producing data would.
        for _ in 0..<count { try push.trySend(Message(Frame(bytes))) }
        output("RESULT \(statusKilobytes("VmHWM") * 1024) \((statusKilobytes("VmRSS") - before) * 1024 / Double(count))")
    case "mdp-broker":
        output("ENDPOINT \(arguments[2])")
        try await MajordomoBroker(endpoint: arguments[2]).run(in: context)
    case "titanic":
        try await titanicRequests(count: argument(2), window: argument(3), size: argument(4), store: arguments.count > 5 ? arguments[5] : nil)
    case "spool":
        try await spoolRates(count: argument(2), size: argument(3), store: arguments.count > 4 ? arguments[4] : nil)
    default:
        FileHandle.standardError.write(Data("unknown mode \(arguments[1])\n".utf8))
        exit(2)
    }
    await context.shutdown()
}

func runOrFail() async {
    do { try await run() } catch { fatalError("\(arguments[1]) failed: \(error)") }
}

if ProcessInfo.processInfo.environment["BENCH_NO_DISPATCH_MAIN"] != nil {
    // valgrind 3.19 crashes on a main thread parked in dispatch_main, as an async main's is:
    // under callgrind (Benchmarks/callgrind.py) the mode runs in a task while main waits.
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        await runOrFail()
        done.signal()
    }
    done.wait()
} else {
    // As an async main runs: on the main actor, its queue drained by dispatch_main.
    Task { @MainActor in
        await runOrFail()
        exit(0)
    }
    dispatchMain()
}
