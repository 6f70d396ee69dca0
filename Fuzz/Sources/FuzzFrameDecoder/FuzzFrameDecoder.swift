import NIOCore
import FuzzerDriver
import ZMTP

/// Input: octet 0 chooses the body limit (bits 0-1) and the chunk size (bits 2-7, 0 = all at
/// once); the rest are the octets a peer sends, fed to one decoder in chunks of that size so that
/// frames straddle reads. Decoding stops at the first error, as a connection would. A second
/// decoder reads the same chunks with `nextFrame` (small frames whole, in one look): it must
/// yield the same frames and stop at the same error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let control = input[0]
    var decoder = FrameDecoder()
    switch control & 3 {
    case 0: break  // no limit
    case 1: decoder.bodyLimit = 64 << 10; decoder.reportedLimit = 64 << 10  // the handshake's limit
    case 2: decoder.bodyLimit = 255; decoder.reportedLimit = 255  // short frames only
    default: decoder.bodyLimit = 0; decoder.reportedLimit = 0
    }
    var framer = decoder
    let rest = input.dropFirst()
    let chunkSize = Int(control >> 2) == 0 ? max(rest.count, 1) : Int(control >> 2)
    var offset = rest.startIndex
    while offset < rest.endIndex {
        let end = min(offset + chunkSize, rest.endIndex)
        let octets = ByteBuffer(bytes: UnsafeBufferPointer(rebasing: input[offset..<end]))
        offset = end
        var chunk = octets, again = octets
        let viaNext = Result { () throws(ZMTPError) in
            var frames: [WireFrame] = []
            while let frame = try decoder.next(from: &chunk) { frames.append(frame) }
            return frames
        }
        let viaNextFrame = Result { () throws(ZMTPError) in
            var frames: [WireFrame] = []
            var flags = FrameFlags()
            while let body = try framer.nextFrame(from: &again, flags: &flags) { frames.append(WireFrame(flags: flags, body: body.buffer)) }
            return frames
        }
        precondition(viaNext == viaNextFrame, "nextFrame and next disagree")
        if case .failure = viaNext { return 0 }
    }
    return 0
}

/// SwiftPM makes the linker's `main` this symbol (`--defsym main=FuzzFrameDecoder_main`); libFuzzer's
/// own main is then not linked, so hand the command line to its driver.
@_cdecl("FuzzFrameDecoder_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}
