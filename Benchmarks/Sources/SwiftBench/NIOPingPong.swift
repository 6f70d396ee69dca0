// What SwiftNIO's own async API costs a round trip: SIZE octets over NIOAsyncChannel, no
// ZeroMQ, the loops left where Swift puts them (as lat-server/lat-client's leave theirs):
//   nio-lat-server EP COUNT SIZE   binds, prints "ENDPOINT e", echoes COUNT blocks of SIZE octets
//   nio-lat-client EP COUNT SIZE   connects, COUNT round trips; RESULT p50-us p99-us (one way)
import NIOCore
import NIOPosix

/// The port of tcp://127.0.0.1:PORT (0 for *).
func tcpPort(_ endpoint: String) -> Int {
    Int(endpoint.split(separator: ":").last!) ?? 0
}

func nioLatencyServer(_ endpoint: String, count: Int, size: Int) async throws {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .bind(host: "127.0.0.1", port: tcpPort(endpoint)) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    output("ENDPOINT tcp://127.0.0.1:\(server.channel.localAddress!.port!)")
    try await server.executeThenClose { connections in
        for try await connection in connections {
            try await connection.executeThenClose { input, output in
                var echoed = 0
                for try await block in input {
                    try await output.write(block)
                    echoed += block.readableBytes
                    if echoed >= count * size { break }
                }
            }
            break
        }
    }
}

func nioLatencyClient(_ endpoint: String, count: Int, size: Int) async throws {
    let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        .connect(host: "127.0.0.1", port: tcpPort(endpoint)) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    let block = ByteBuffer(repeating: 0x5A, count: size)
    var samples: [Double] = []
    samples.reserveCapacity(count)
    try await connection.executeThenClose { input, output in
        var blocks = input.makeAsyncIterator()
        for _ in 0..<count {
            let start = ContinuousClock.now
            try await output.write(block)
            var received = 0
            while received < size {
                guard let answer = try await blocks.next() else { fatalError("the echo server closed") }
                received += answer.readableBytes
            }
            samples.append(seconds(ContinuousClock.now - start) / 2 * 1e6)
        }
    }
    samples.sort()
    output("RESULT \(samples[count / 2]) \(samples[count * 99 / 100])")
}
