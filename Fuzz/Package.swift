// swift-tools-version:6.1
// The libFuzzer targets (docs/fuzzing.md). Not part of the main build: they
// have no `main` of their own (libFuzzer's driver is it), so they build only
// with `-sanitize=fuzzer`, as `make fuzz` (Fuzz/run.sh) does:
//
//     swift build -c release --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
//         -Xcc -fsanitize=fuzzer-no-link,address
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let checks: [Target.Dependency] = ["FuzzSupport", .product(name: "FuzzChecks", package: "photocloud")]

let package = Package(
    name: "photocloud-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "photocloud", path: "..")],
    targets: [
        // The driver's entry point and each target's seed generator.
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "FuzzChecks", package: "photocloud"), .product(name: "PhotoCloudTestKit", package: "photocloud")],
            swiftSettings: strict
        ),
        .executableTarget(name: "FuzzWire", dependencies: checks, swiftSettings: strict),
        .executableTarget(name: "FuzzTransfer", dependencies: checks, swiftSettings: strict),
        .executableTarget(name: "FuzzReplay", dependencies: checks, swiftSettings: strict),
        .executableTarget(name: "FuzzPNG", dependencies: checks, swiftSettings: strict),
    ]
)
