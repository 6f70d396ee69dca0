// The swift-zmq half of the throughput benchmark, shaped like libzmq's local_thr/remote_thr.
//
//   SwiftThroughput recv ENDPOINT COUNT SIZE   binds PULL, prints ENDPOINT, receives COUNT messages
//   SwiftThroughput send ENDPOINT COUNT SIZE   connects PUSH, sends COUNT messages, closes with linger
//
// Each prints one line: RESULT <msgs/s from first to last message> <CPU ns per message> <messages>.
import Foundation
import ZMQ

func cpuNanoseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) * 1e9 + Double(usage.ru_utime.tv_usec) * 1e3
    let system = Double(usage.ru_stime.tv_sec) * 1e9 + Double(usage.ru_stime.tv_usec) * 1e3
    return user + system
}

let arguments = CommandLine.arguments
guard arguments.count == 5, let count = Int(arguments[3]), let size = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: SwiftThroughput recv|send ENDPOINT COUNT SIZE\n".utf8))
    exit(2)
}
let context = ZMQContext()

switch arguments[1] {
case "recv":
    let pull = try context.socket(.pull)
    let endpoint = try await pull.bind(arguments[2])
    FileHandle.standardOutput.write(Data("ENDPOINT \(endpoint)\n".utf8))

    let first = try await pull.receive()
    precondition(first[0].count == size, "wrong message size")
    let startCPU = cpuNanoseconds()
    let start = ContinuousClock.now
    // Stop after 2 s of silence, as the C peer does, and report how many arrived.
    try pull.set(.receiveTimeout(.seconds(2)))
    var received = 1
    var last = start
    while received < count {
        do {
            _ = try await pull.receive()
        } catch ZMQError.timedOut {
            break
        }
        received += 1
        last = ContinuousClock.now
    }
    let elapsed = last - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let cpu = (cpuNanoseconds() - startCPU) / Double(received - 1)
    print("RESULT \(Double(received - 1) / seconds) \(cpu) \(received)")
case "send":
    let push = try context.socket(.push)
    try await push.connect(arguments[2])
    // One payload shared by every message: a Frame is an immutable value, so this is what an
    // application sending the same bytes repeatedly does, and it measures the library, not malloc.
    let message = Message(Frame([UInt8](repeating: 0x5A, count: size)))
    let startCPU = cpuNanoseconds()
    for _ in 0..<count {
        try await push.send(message)
    }
    await push.close()
    let cpu = (cpuNanoseconds() - startCPU) / Double(count)
    print("RESULT 0 \(cpu) \(count)")
default:
    exit(2)
}
await context.shutdown()
