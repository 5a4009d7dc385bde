import Foundation
import TestSupport
import Testing

/// Runs `migrator analyze` and reads its JSON document; dumps a database's schema with pg_dump.
enum AnalyzeRun {
    /// Runs `migrator` like `Ops.run`; when a report goes to stdout (`--json`, `--format`, text logs),
    /// the logs are on stderr and end with `run.finished`.
    static func run(
        _ arguments: [String], _ database: TestDatabase, _ folder: DrizzleFolder,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> MigratorProcess.Result {
        let reports = arguments.contains("--json") || arguments.contains("--format") || arguments.contains("text")
        guard reports else { return try Ops.run(arguments, database, folder, sourceLocation: sourceLocation) }
        let result = try MigratorProcess.run(
            arguments, environment: migratorEnvironment(database: database, folder: folder))
        #expect(!result.output.contains(database.password), sourceLocation: sourceLocation)
        let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(
            last.contains("run.finished"), "logs on stderr end with run.finished: \(result.stderr)",
            sourceLocation: sourceLocation)
        return result
    }

    static func document(_ result: MigratorProcess.Result) throws -> [String: Any] {
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "exactly one JSON line on stdout: \(result.stdout)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    static func files(_ document: [String: Any]) throws -> [[String: Any]] {
        try #require(document["files"] as? [[String: Any]])
    }

    /// The lock entry of `relation` in a file's (or a `migration.applied` line's) `locks`.
    static func lock(_ relation: String, in file: [String: Any]) throws -> [String: Any] {
        let locks = try #require(file["locks"] as? [[String: Any]], "no locks in \(file)")
        return try #require(
            locks.first { $0["relation"] as? String == relation }, "\(relation) not among \(locks)")
    }

    /// The facts `analyze` and `up` must agree on, per relation that existed before the file.
    static func facts(_ file: [String: Any]) -> Set<String> {
        let locks = file["locks"] as? [[String: Any]] ?? []
        return Set(
            locks.filter { $0["new"] as? Bool != true }.map {
                "\($0["relation"] ?? "") \($0["mode"] ?? "") rewritten=\($0["rewritten"] ?? "?")"
            })
    }

    /// `pg_dump --schema-only` of the database: the test's notion of "the schema did not change".
    static func schemaDump(_ database: TestDatabase) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let bindir = environment["MIGRATOR_TEST_PG_BINDIR"].flatMap { $0.isEmpty ? nil : $0 }
        let executable = bindir.map { $0 + "/pg_dump" } ?? "/usr/bin/pg_dump"
        var child = ["PATH": environment["PATH"] ?? "/usr/bin:/bin"]
        for key in ["PGSSLMODE", "PGSSLROOTCERT"] { child[key] = environment[key] }
        let dump = try MigratorProcess(
            executable: executable, ["--schema-only", "--no-owner", "--dbname", database.url], environment: child
        ).wait(timeout: .seconds(60))
        guard dump.exitCode == 0 else { throw TestSetupError("pg_dump failed: \(dump.stderr)") }
        // pg_dump 15.14+ fences the dump with a random \\restrict key, different every run.
        return dump.stdout.split(separator: "\n").filter {
            !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict")
        }
        .joined(separator: "\n")
    }
}
