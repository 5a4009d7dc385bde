// swift-tools-version:6.0
import PackageDescription

// Dependencies are pinned exactly: Package.resolved stays out of git (the package copies on the
// build machines carry other commit ids than GitHub's), so the versions are fixed here instead, and a
// Docker build resolves the same code as CI.
let package = Package(
    name: "migrator",
    // Built and tested on Linux only (the ECS image, CI). macOS 15 is the oldest whose Swift runtime
    // has Synchronization.Mutex, which the sources use; nothing checks a macOS build.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "migrator", targets: ["migrator"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
    ],
    targets: [
        // C shims.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // curl.h plus typed wrappers for its variadic curl_easy_setopt/getinfo, which Swift cannot call.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // What every layer shares: stop requests, the environment, reading files, the UTC calendar,
        // percent-decoding (one copy each).
        .target(name: "SystemSupport"),
        .target(
            name: "StructuredLogging",
            dependencies: ["SystemSupport", .product(name: "Logging", package: "swift-log")]
        ),

        // The PostgreSQL layer and the AWS layer.
        .target(
            name: "PostgresClient",
            dependencies: ["CLibPQ", "SystemSupport", "StructuredLogging"]
        ),
        .target(
            name: "AWS",
            dependencies: [
                "CCurl", "SystemSupport", "StructuredLogging",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // The migration engine: folder reader, planner, runner, tracking table.
        .target(
            name: "MigrationEngine",
            dependencies: [
                "PostgresClient", "SystemSupport", "StructuredLogging",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // The thin executable: arguments, logging, exit codes.
        .executableTarget(
            name: "migrator",
            dependencies: [
                "MigrationEngine", "AWS", "SystemSupport", "StructuredLogging",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .target(
            name: "TestSupport",
            dependencies: [
                "PostgresClient", "SystemSupport", "StructuredLogging",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "MigrationEngineTests",
            dependencies: [
                "MigrationEngine", "PostgresClient", "SystemSupport", "StructuredLogging", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MigratorCLITests",
            dependencies: ["TestSupport", "PostgresClient", "SystemSupport"]
        ),
        .testTarget(
            name: "AWSTests",
            dependencies: [
                "AWS", "CCurl", "SystemSupport", "TestSupport", "StructuredLogging",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)
