// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "migrator",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "migrator", targets: ["migrator"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // libcurl without linking it: curl.h (from libcurl4-openssl-dev) for the types, and a function
        // table that dlopen fills when an AWS request needs it (CCurl.c), so that runs given
        // DATABASE_URL never load libcurl and its dependencies.
        .target(
            name: "CCurl",
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]
        ),
        // libpq's SCRAM login spends most of its time in OpenSSL 3.0's HMAC setup; see fast_hmac.c.
        .target(
            name: "CFastHMAC",
            linkerSettings: [.linkedLibrary("crypto", .when(platforms: [.linux]))]
        ),
        .target(
            name: "StructuredLogging",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "PostgresClient",
            dependencies: ["CLibPQ", "CFastHMAC", "StructuredLogging", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "AWS",
            dependencies: [
                "CCurl", "StructuredLogging",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "MigrationEngine",
            dependencies: [
                "PostgresClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "migrator",
            dependencies: [
                "MigrationEngine", "PostgresClient", "AWS", "StructuredLogging",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Release links with lld: packed relative relocations (DT_RELR) turn 2 MB of RELA records
            // the loader reads at every start into 8 KB, and exporting only what shared libraries
            // need (the HMAC functions libpq binds to) drops 7,000 dynamic symbols. Measured on the
            // stripped binary: 19.2 -> 16.9 MB, and a faster start. DT_RELR needs glibc >= 2.36 where
            // the binary runs (Debian 12, the image's base, has 2.36).
            // scripts/startup.order (written by scripts/startup-order.sh from callgrind profiles) puts
            // the functions a no-op `up` runs next to each other: the kernel maps 64 KB around every
            // page of code a start touches, and they were spread over 11 MB. Measured on the no-op
            // run (stripped, median of 11): peak RSS 19.8 -> 17.5 MiB, of it the binary's code pages
            // 5.4 -> 3.1 MiB; page faults 1232 -> 1200; time and size unchanged. (Most of the 3.1 MiB
            // left is libswiftCore's and Foundation's one large .text section each, which lld cannot
            // reorder.)
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker",
                        "--no-export-dynamic",
                        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/startup.order",
                        "-Xlinker", "--no-warn-symbol-ordering",
                    ],
                    .when(platforms: [.linux], configuration: .release))
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["PostgresClient", "StructuredLogging", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "MigrationEngineTests",
            dependencies: ["MigrationEngine", "PostgresClient", "StructuredLogging", "TestSupport", "CFastHMAC"]
        ),
        .testTarget(
            name: "MigratorCLITests",
            dependencies: ["TestSupport", "PostgresClient"]
        ),
        .testTarget(
            name: "AWSTests",
            dependencies: [
                "AWS", "TestSupport", "StructuredLogging",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
