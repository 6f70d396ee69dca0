import DequeModule
import NIOCore
import Testing
@testable import ZMQ

@Suite("Batch encoding")
struct EncoderTests {
    @Test("the engine's raw-pointer batch encoder writes exactly what FrameEncoder writes")
    func batchMatchesReferenceEncoder() {
        let sizes = [0, 1, 31, 32, 33, 255, 256, 4000]
        var batch = Deque<Message>()
        for size in sizes {
            batch.append(Message(Frame([UInt8](repeating: UInt8(size % 251), count: size))))
        }
        batch.append(Message(sizes.map { Frame([UInt8](repeating: 7, count: $0)) }))
        batch.append(["", "", "end"])

        var expected = ByteBuffer()
        var total = 0
        for message in batch {
            FrameEncoder.encode(message, into: &expected)
            for frame in message { total += FrameEncoder.headerSize(for: frame.count) + frame.count }
        }
        let encoded = ZMTPEngine.encode(batch, size: total, allocator: ByteBufferAllocator())
        #expect(encoded == expected)
        #expect(encoded.readableBytes == total)
    }
}
