import NIOCore
import FuzzerDriver
import ZMTP

/// Input: the octets a peer sends first. Decodes the greeting from all of them and from every
/// prefix length a read could deliver first (the partial-greeting checks), and re-encodes what
/// decodes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    for length in [0, 1, 10, 11, 12, 32, 63, size] where length <= size {
        var buffer = ByteBuffer(bytes: UnsafeBufferPointer(rebasing: input[0..<length]))
        guard let greeting = try? Greeting.decode(from: &buffer) else { continue }
        var encoded = greeting.encoded
        _ = try? Greeting.decode(from: &encoded)
    }
    return 0
}

/// SwiftPM makes the linker's `main` this symbol (`--defsym main=FuzzGreeting_main`); libFuzzer's
/// own main is then not linked, so hand the command line to its driver.
@_cdecl("FuzzGreeting_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}
