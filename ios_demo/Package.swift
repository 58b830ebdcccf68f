// swift-tools-version: 6.0
// EdgeTAMKit: the EdgeTAM video-tracking driver in Swift, mirroring the Python runtime (`runtime/`) type for
// type. It runs the exported Core ML stages on device; on Linux it is proven equal to the Python runtime by
// replaying the traces that runtime records (`swift run edgetam-replay TRACE_DIR`).
import PackageDescription

let package = Package(
    name: "EdgeTAMKit",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "EdgeTAMKit", targets: ["EdgeTAMKit"]),
        .executable(name: "edgetam-replay", targets: ["edgetam-replay"]),
        .executable(name: "edgetam-bench", targets: ["edgetam-bench"]),
    ],
    targets: [
        .target(name: "EdgeTAMKit", path: "Sources/EdgeTAMKit"),
        .executableTarget(
            name: "edgetam-replay",
            dependencies: ["EdgeTAMKit"],
            path: "Sources/Tools/edgetam-replay"
        ),
        .executableTarget(
            name: "edgetam-bench",
            dependencies: ["EdgeTAMKit"],
            path: "Sources/Tools/edgetam-bench"
        ),
        .testTarget(
            name: "EdgeTAMKitTests",
            dependencies: ["EdgeTAMKit"],
            path: "Tests/EdgeTAMKitTests"
        ),
    ]
)
