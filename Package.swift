// swift-tools-version:6.0
import PackageDescription
import Foundation

// The kernels are written with 16-lane SIMD types; without a target CPU, x86-64 code
// generation stops at SSE2 and every vector op splits into four 128-bit ones. `haswell`
// (AVX2, FMA: every x86-64 server CPU since 2013, AMD since Zen) is the default. Build with
// TRIMTAB_TARGET_CPU=native for this machine's full instruction set (AVX-512 where there
// is one; the binary then runs only on such CPUs) or TRIMTAB_TARGET_CPU=x86-64 for old
// machines. Other architectures build with the compiler's default.
let kernelSettings: [SwiftSetting] = {
    #if arch(x86_64)
    let cpu = ProcessInfo.processInfo.environment["TRIMTAB_TARGET_CPU"] ?? "haswell"
    return cpu.isEmpty ? [] : [.unsafeFlags(["-target-cpu", cpu])]
    #else
    return []
    #endif
}()

// Layers (see docs/ARCHITECTURE.md): dependencies point one way, down this list.
//   CDNNL, COpenBLAS  system libraries (Debian libdnnl-dev, libopenblas-dev)
//   CTrimtabKernels   kernels in C for instructions Swift cannot name (8-bit dot products)
//   TrimtabTensor     tensors, kernels, autograd tape, optimizers
//   TrimtabIO         checkpoint formats (safetensors, GGUF)
//   TrimtabText       tokenizers and chat formats (Foundation only)
//   TrimtabModels     the LanguageModel protocol and its hooks, architectures, loading, generation
//   TrimtabPEFT       the tuners (one folder per method) and PEFT adapter files
//   TrimtabTrain      datasets, the trainer (checkpoints, resume), evaluation, run reports
//   TrimtabServe      the OpenAI-compatible HTTP server: adapter registry, batching engine
//   trimtab           the command-line tool
let package = Package(
    name: "Trimtab",
    products: [
        .library(name: "TrimtabTensor", targets: ["TrimtabTensor"]),
        .library(name: "TrimtabIO", targets: ["TrimtabIO"]),
        .library(name: "TrimtabText", targets: ["TrimtabText"]),
        .library(name: "TrimtabModels", targets: ["TrimtabModels"]),
        .library(name: "TrimtabPEFT", targets: ["TrimtabPEFT"]),
        .library(name: "TrimtabTrain", targets: ["TrimtabTrain"]),
        .library(name: "TrimtabServe", targets: ["TrimtabServe"]),
        .executable(name: "trimtab", targets: ["trimtab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CTrimtabKernels"),
        .target(
            name: "TrimtabTensor",
            dependencies: ["CDNNL", "COpenBLAS", "CTrimtabKernels"],
            swiftSettings: kernelSettings
        ),
        .target(name: "TrimtabIO", dependencies: ["TrimtabTensor"]),
        .target(name: "TrimtabText"),
        .target(name: "TrimtabModels", dependencies: ["TrimtabTensor", "TrimtabIO", "TrimtabText"]),
        .target(name: "TrimtabPEFT", dependencies: ["TrimtabModels"]),
        .target(name: "TrimtabTrain", dependencies: ["TrimtabPEFT", "TrimtabModels", "TrimtabText"]),
        .target(
            name: "TrimtabServe",
            dependencies: [
                "TrimtabPEFT", "TrimtabModels", "TrimtabText",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "trimtab",
            dependencies: [
                "TrimtabTensor", "TrimtabIO", "TrimtabText", "TrimtabModels", "TrimtabPEFT", "TrimtabTrain",
                "TrimtabServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Helpers every test target shares: assertClose, finite-difference gradient
        // checks, fixture files, paths of the cached real checkpoints.
        .target(
            name: "TrimtabTestSupport",
            dependencies: ["TrimtabTensor", "TrimtabIO"],
            path: "Tests/TrimtabTestSupport"
        ),
        .testTarget(
            name: "TrimtabTensorTests",
            dependencies: ["TrimtabTensor", "TrimtabTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TrimtabIOTests",
            dependencies: ["TrimtabIO", "TrimtabTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TrimtabTextTests",
            dependencies: ["TrimtabText"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TrimtabModelsTests",
            dependencies: ["TrimtabModels", "TrimtabTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TrimtabPEFTTests",
            dependencies: ["TrimtabPEFT", "TrimtabTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TrimtabTrainTests",
            dependencies: ["TrimtabTrain", "TrimtabTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TrimtabServeTests",
            dependencies: [
                "TrimtabServe", "TrimtabTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
