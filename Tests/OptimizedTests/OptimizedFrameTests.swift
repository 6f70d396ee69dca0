import Testing
import ZMTP

/// This target is compiled with `-O` (Package.swift), as a user's release build is, while every
/// other test runs unoptimised. It pins what the optimiser once broke: Swift 6.3 miscompiled an
/// inline frame's bytes read through a copy (`withUnsafeBytes(of: &copy)`) once that was inlined
/// here, and a word read gave 0 or garbage; the pattern runner's request ids are read that way.
@Suite("Frames read by optimised code")
struct OptimizedFrameTests {
    @Test("an inline frame read a word at a time gives its octets back")
    func wordReads() {
        for value: UInt64 in [1, 0x0102_0304_0506_0708, .max, 0] {
            let frame = Frame(withUnsafeBytes(of: value.bigEndian, Array.init))
            #expect(frame.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) } == value)
            #expect(frame.withUnsafeBytes { $0.load(as: UInt64.self).bigEndian } == value)
        }
        let octets = (0..<32).map { UInt8($0) }
        let frame = Frame(octets)
        for offset in [0, 1, 8, 24] {
            let expected = octets.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
            #expect(frame.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) } == expected)
        }
    }

    @Test("copy(into:) gives back every kind of message, optimised as a send runs it")
    func copiesIntoSlot() {
        var tagged = Message(Frame("small"))
        tagged.metadata = MessageMetadata(peerAddress: "10.0.0.1", userID: nil, peerProperties: Metadata())
        var addressed = Message(Frame("to a peer"))
        addressed.routingID = 7
        let large = [UInt8](repeating: 0x5A, count: 5000)
        let messages = [
            Message(Frame("small")), Message(Frame(permanent: large)), Message(Frame(permanent: [1, 2, 3])),
            tagged, Message(Frame([UInt8](repeating: 1, count: 100))), Message(Frame(large)),
            Message([Frame("a"), Frame("b")]), addressed,
        ]
        let slot = UnsafeMutablePointer<Message>.allocate(capacity: 1)
        defer { slot.deallocate() }
        for message in messages {
            for _ in 0..<3 {
                // Garbage where the copy goes: a copy that left any byte of it would show.
                UnsafeMutableRawPointer(slot).initializeMemory(as: UInt8.self, repeating: 0xAB, count: MemoryLayout<Message>.size)
                message.copy(into: slot)
                #expect(slot.pointee == message)
                #expect(slot.pointee.metadata === message.metadata)
                #expect(slot.pointee.routingID == message.routingID)
                slot.deinitialize(count: 1)
            }
        }
    }
}

