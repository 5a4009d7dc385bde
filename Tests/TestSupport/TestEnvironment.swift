import Foundation

/// Where the test servers are. `scripts/test.sh` starts them and exports these variables; a test
/// that needs one and cannot find it fails under CI (CI=true) and is skipped elsewhere.
public enum TestEnvironment {
    /// Superuser URL of the throwaway PostgreSQL cluster.
    public static var adminURL: String? { nonEmpty("MIGRATOR_TEST_DATABASE_URL") }
    public static var isCI: Bool {
        ["true", "1"].contains(ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? "")
    }
    /// True when PostgreSQL tests must run: the server is there, or CI demands it (and then fails loudly).
    public static var postgresTestsEnabled: Bool { adminURL != nil || isCI }

    /// The package root (this file is Tests/TestSupport/TestEnvironment.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/testdata` beside the checkout, as CI lays it out.
    public static var sharedTestdata: URL {
        packageRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")
    }

    /// The `migrator` binary built next to the test bundle (`swift build` builds both), unless
    /// MIGRATOR_BIN points elsewhere (for example a release build).
    public static var migratorBinary: String {
        if let override = nonEmpty("MIGRATOR_BIN") { return override }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        // On Linux the test runner is `<build>/debug/<package>PackageTests.xctest`.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("migrator").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/migrator").path
    }

    static func nonEmpty(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
