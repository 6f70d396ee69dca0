// swift-tools-version: 6.1
// Benchmarks live in their own package so that libzmq is only ever a benchmark peer: the
// library never links it. run.py builds this package and the C peers and compares them.
import Foundation
import PackageDescription

// A path dependency is identified by its folder's name, which is whatever the checkout is called.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "swift-zmq-benchmarks",
    dependencies: [
        // CURVE: the CURVE rows (run.py --only curve) need the library's libsodium-backed CURVE.
        .package(path: "..", traits: ["CURVE"]),
        // NIOPosix: the latency rows that make NIO's event loops Swift's global executor.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "SwiftBench",
            dependencies: [
                .product(name: "ZMQ", package: root), .product(name: "ZMQPatterns", package: root),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)
