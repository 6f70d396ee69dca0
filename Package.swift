// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-zmq",
    products: [
        .library(name: "ZMQ", targets: ["ZMQ"]),
        .library(name: "ZMTP", targets: ["ZMTP"]),
        .library(name: "ZMQPatterns", targets: ["ZMQPatterns"]),
        .executable(name: "zmq", targets: ["ZMQTool"]),
        .executable(name: "zmq-soak", targets: ["Soak"]),
    ],
    traits: [
        // CurveZMQ security, with libsodium from the system (Debian libsodium-dev, Homebrew
        // libsodium). Off by default so that the rest builds where libsodium is not installed.
        .trait(name: "CURVE", description: "CURVE security (26/CURVEZMQ) with the system's libsodium"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The wire protocol as pure values: no sockets, threads or clocks.
        .target(
            name: "ZMTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .target(name: "CSodium", condition: .when(traits: ["CURVE"])),
            ]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        // The library users import: sockets, transports, engines.
        .target(
            name: "ZMQ",
            dependencies: [
                "ZMTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The Guide's reliability patterns as components: the Pirates, Majordomo, Titanic, Clone,
        // the disk spool (their stores on SQLite, through GRDB and the system's libsqlite3, or
        // on PostgreSQL through postgres-nio), each a value a user configures and runs in a task.
        .target(
            name: "ZMQPatterns",
            dependencies: [
                "ZMQ",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The `zmq` command-line tool.
        .executableTarget(
            name: "ZMQTool",
            dependencies: [
                "ZMQ",
                "ZMQPatterns",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A mixed load for a set time that checks nothing drifts or goes missing (scripts/soak).
        .executableTarget(
            name: "Soak",
            dependencies: [
                "ZMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // curve_transcript.py made the CURVE byte vectors (PyNaCl, from the RFCs).
        .testTarget(name: "ZMTPTests", dependencies: ["ZMTP"], exclude: ["curve_transcript.py"]),
        // Optimised, as a release build is: what only the optimiser gets wrong shows here.
        .testTarget(name: "OptimizedTests", dependencies: ["ZMTP"], swiftSettings: [.unsafeFlags(["-O"])]),
        // What the test targets share (a context per test, endpoints, transports, a fixed clock).
        .target(
            name: "ZMQTestSupport",
            dependencies: [
                "ZMQ", "ZMQPatterns",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ZMQTestSupport"
        ),
        .testTarget(
            name: "ZMQTests",
            dependencies: [
                "ZMQ", "ZMTP", "ZMQTestSupport",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Runs the built `zmq` executable; depending on it makes sure it is built first.
        .testTarget(name: "ToolTests", dependencies: ["ZMQ", "ZMQPatterns", "ZMQTool", "ZMQTestSupport"]),
        .testTarget(
            name: "PatternTests",
            dependencies: ["ZMQ", "ZMQPatterns", "ZMQTestSupport", .product(name: "MetricsTestKit", package: "swift-metrics"),
                           .product(name: "DequeModule", package: "swift-collections")]
        ),
        // Runs a real libzmq (pyzmq, pinned in scripts/test) against swift-zmq; peer.py is the far side.
        .testTarget(
            name: "InteropTests",
            dependencies: ["ZMQ", "ZMTP", "ZMQPatterns", "ZMQTestSupport"],
            exclude: ["peer.py", "relay.py", "pirate.py", "mdp.py", "majortomo_peer.py", "bstar.py", "freelance.py", "stream.py", "zmtp_peer.py", "udp_peer.py", "clone.py", "lvc_peer.py"]
        ),
    ]
)
