// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

/// The pure protocol machines are generic over the address type (the node
/// uses SocketAddress): across the module boundary, without cross-module
/// optimisation, every call looked their metadata up at run time.
let crossModule: [SwiftSetting] = strict + [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "photocloud",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "photocloud", targets: ["photocloud"]),
        // For the libFuzzer package in Fuzz/ (docs/fuzzing.md), which depends on this one by path.
        .library(name: "FuzzChecks", targets: ["FuzzChecks"]),
        .library(name: "PhotoCloudTestKit", targets: ["PhotoCloudTestKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // The web album (`peer --web`): HTTP on 127.0.0.1, without the optional traits (configuration readers).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // libpng through pkg-config; the shim header re-exports the macros Swift cannot import.
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        // libpng's full API over the byte ranges PNGCodec's chunk walk kept, its setjmp kept in C.
        .target(name: "CPNGReader", dependencies: ["CPNG"], linkerSettings: [.linkedLibrary("png16")]),
        // libjpeg-turbo through pkg-config, for photos as phones make them.
        .systemLibrary(
            name: "CJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]
        ),
        // libjpeg's decoder and encoder over memory, its setjmp/longjmp and warnings kept in C.
        .target(name: "CJPEGReader", dependencies: ["CJPEG"], linkerSettings: [.linkedLibrary("jpeg")]),
        // zlib, for the parallel PNG encoder (libpng depends on it already).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // libdeflate through pkg-config: whole-buffer deflate for images encoded as one part (PNGEncoder).
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        // epoll, eventfd, recvmmsg/sendmmsg and friends, which Glibc does not export to Swift.
        .target(name: "CLinuxShim"),
        // CRC-32C with the CPU's instruction where there is one: the open scheme's datagram checksum.
        .target(name: "CChecksum"),
        .target(name: "PNGCodec", dependencies: ["CPNG", "CPNGReader", "CZlib", "CDeflate", "CJPEGReader"], swiftSettings: strict),
        .target(name: "AsyncUDP", dependencies: ["CLinuxShim"], swiftSettings: strict),
        // HMAC-SHA256 and HKDF with their keys absorbed once: the wire's tags, the stego keys.
        .target(name: "KeyedHash", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .target(
            name: "PhotoCloudProtocol",
            dependencies: [
                "CChecksum", "KeyedHash",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: crossModule
        ),
        // SQLite through GRDB: the server's directory (and, to come, mailbox), the peer's album.
        .target(
            name: "PhotoCloudStore",
            dependencies: ["PhotoCloudProtocol", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(
            name: "Steganography",
            dependencies: ["KeyedHash", .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "PhotoCloudNode",
            dependencies: [
                "AsyncUDP", "PNGCodec", "PhotoCloudProtocol", "PhotoCloudStore", "Steganography",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "PhotoCloudBench",
            dependencies: [
                "AsyncUDP", "PNGCodec", "Steganography", "PhotoCloudNode", "PhotoCloudProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict
        ),
        // `photocloud peer --web`: the album, people, inbox and requests as pages on 127.0.0.1.
        .target(
            name: "PhotoCloudWeb",
            dependencies: [
                "PhotoCloudNode", "PhotoCloudProtocol", "PhotoCloudStore", "PNGCodec",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The protocol machines run whole from a seed on a simulated network and clock (`photocloud simulate`).
        .target(
            name: "PhotoCloudSimulation",
            dependencies: ["AsyncUDP", "PhotoCloudProtocol", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "PhotoCloudTestKit",
            dependencies: ["AsyncUDP", "PNGCodec", "CPNG", "CZlib", "PhotoCloudProtocol", "PhotoCloudSimulation"],
            swiftSettings: strict
        ),
        // What each fuzz target checks, shared with the regression tests that replay Fuzz/regressions.
        .target(
            name: "FuzzChecks",
            dependencies: ["PhotoCloudProtocol", "PNGCodec", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "photocloud",
            dependencies: [
                "AsyncUDP", "PNGCodec", "PhotoCloudProtocol", "Steganography", "PhotoCloudNode", "PhotoCloudBench",
                "PhotoCloudSimulation", "PhotoCloudWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "PNGCodecTests", dependencies: ["PNGCodec", "PhotoCloudTestKit", "FuzzChecks", "CZlib"], swiftSettings: strict),
        .testTarget(name: "AsyncUDPTests", dependencies: ["AsyncUDP", "PhotoCloudTestKit"], swiftSettings: strict),
        .testTarget(name: "PhotoCloudProtocolTests", dependencies: ["PhotoCloudProtocol", "KeyedHash", "PhotoCloudTestKit", "PhotoCloudSimulation", "CChecksum", "AsyncUDP", "FuzzChecks",
                                                                .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .testTarget(name: "SteganographyTests", dependencies: ["Steganography", "PNGCodec", "PhotoCloudTestKit"], swiftSettings: strict),
        .testTarget(name: "PhotoCloudNodeTests", dependencies: ["PhotoCloudNode", "PhotoCloudTestKit"], swiftSettings: strict),
        .testTarget(name: "PhotoCloudBenchTests", dependencies: ["PhotoCloudBench"], swiftSettings: strict),
        .testTarget(name: "PhotoCloudWebTests", dependencies: ["PhotoCloudWeb", "PhotoCloudTestKit"], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["PhotoCloudTestKit", "PhotoCloudNode", "PhotoCloudProtocol", "AsyncUDP",
                                                           .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
    ]
)
