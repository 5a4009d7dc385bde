import Foundation
import TestSupport
import Testing

/// The smaller bad-input findings of issue 14: each ends with exit 2, one clear line in the log's own
/// format, and the database untouched.
@Suite("faults: configuration edges", .tags(.faults), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct ConfigurationEdgeTests {
    typealias Case = BadInputTests.Case

    @Test("a negative duration after a flag is named as a bad duration, not as a missing value")
    func negativeFlagDuration() throws {
        try BadInputTests.expectRejected(
            Case(name: "--lock-timeout -1s", code: 2, mentions: ["--lock-timeout", "\"-1s\"", "not a duration"]),
            arguments: ["up", "--lock-timeout", "-1s"])
    }

    @Test("a schema named pg_* is refused before anything runs (PostgreSQL reserves the prefix)")
    func reservedSchema() throws {
        try BadInputTests.expectRejected(
            Case(name: "pg_ schema", code: 2, mentions: ["pg_tracking", "reserves"]),
            environment: ["MIGRATIONS_SCHEMA": "pg_tracking"])
    }

    @Test(
        "a bad LOG_LEVEL or MIGRATOR_LOG_FORMAT is reported as JSON on stdout, like every other line",
        arguments: [("LOG_LEVEL", "loud"), ("MIGRATOR_LOG_FORMAT", "yaml")])
    func badLoggingSettings(variable: String, value: String) throws {
        try BadInputTests.expectRejected(
            Case(name: "\(variable)=\(value)", code: 2, mentions: ["\"\(value)\""]), environment: [variable: value])
        try withFaultDatabase { database in
            let folder = try DrizzleFolder(BadInputTests.goodFiles())
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder, extra: [variable: value]))
            #expect(result.stderr.isEmpty, "\(result.stderr)")
            #expect(try result.logLines().count == 1)
        }
    }
}
