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
}
