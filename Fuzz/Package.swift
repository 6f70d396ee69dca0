// swift-tools-version: 6.1
// libFuzzer targets for the wire protocol (the ZMTP module: pure values, no I/O). A package of
// its own so that the fuzzer/sanitizer flags never reach the library's normal builds.
// Build and run them with scripts/fuzz (see README.md here).
import Foundation
import PackageDescription

// A path dependency is identified by its folder's name, which is whatever the checkout is called.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

// Each target defines LLVMFuzzerTestOneInput and no top-level code; libFuzzer provides main.
let fuzzTarget: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "swift-zmq-fuzz",
    dependencies: [
        // CURVE: FuzzConnection drives the CURVE client and server handshakes too, and
        // FuzzCurveTraffic whole CURVE connections.
        .package(path: "..", traits: ["CURVE"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver for the targets' entry points.
        .target(name: "FuzzerDriver"),
        .executableTarget(
            name: "FuzzFrameDecoder",
            dependencies: ["FuzzerDriver", .product(name: "ZMTP", package: root), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: fuzzTarget
        ),
        .executableTarget(
            name: "FuzzGreeting",
            dependencies: ["FuzzerDriver", .product(name: "ZMTP", package: root), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: fuzzTarget
        ),
        .executableTarget(
            name: "FuzzConnection",
            dependencies: ["FuzzerDriver", .product(name: "ZMTP", package: root), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: fuzzTarget
        ),
        // The NaCl calls FuzzCurveTraffic makes to play a CURVE peer, over the libsodium the ZMTP
        // module links already (its CSodium is not a product, so not importable from here).
        .target(name: "FuzzCrypto"),
        .executableTarget(
            name: "FuzzCurveTraffic",
            dependencies: ["FuzzerDriver", "FuzzCrypto", .product(name: "ZMTP", package: root), .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: fuzzTarget
        ),
    ]
)
