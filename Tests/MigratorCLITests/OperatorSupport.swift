import Foundation
import TestSupport
import Testing

/// Shared by the operator-command tests (drift, baseline, forget, status): small folders whose files
/// each create one table, and views of a database that show whether a run changed anything.
enum Ops {
    static let base: Int64 = 1_760_000_000_000

    /// A file that creates table `name`, so whether it ran is visible in the catalog.
    static func file(_ tag: String, _ name: String, _ when: Int64, suffix: String = "\n") -> DrizzleFolder.File {
        DrizzleFolder.File(tag: tag, sql: "CREATE TABLE \"\(name)\" (id int);" + suffix, when: when)
    }

    static var a: DrizzleFolder.File { file("0000_a", "a", base) }
    static var b: DrizzleFolder.File { file("0001_b", "b", base + 1000) }
    static var c: DrizzleFolder.File { file("0002_c", "c", base + 2000) }

    /// Runs `migrator` against `database` and `folder`, and checks what every run must hold:
    /// JSON log lines (on stdout, or stderr for `status`), `run.finished` last, no password anywhere.
    static func run(
        _ arguments: [String], _ database: TestDatabase, _ folder: DrizzleFolder, environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> MigratorProcess.Result {
        let result = try MigratorProcess.run(
            arguments, environment: migratorEnvironment(database: database, folder: folder, extra: environment))
        if arguments.first == "status" {
            #expect(!result.stdout.contains(database.password), sourceLocation: sourceLocation)
            #expect(!result.stderr.contains(database.password), sourceLocation: sourceLocation)
        } else {
            try expectWellFormedRun(result, password: database.password, sourceLocation: sourceLocation)
        }
        return result
    }

    /// Everything a run could change: tracking rows (id, hash, created_at) and the public tables.
    struct Snapshot: Equatable, CustomStringConvertible {
        var rows: [[String?]]
        var tables: [String]
        var description: String { "rows \(rows), tables \(tables)" }
    }

    static func snapshot(_ database: TestDatabase) throws -> Snapshot {
        let exists = try database.query("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL") == [["t"]]
        let rows =
            exists
            ? try database.query(
                "SELECT id::text, hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY id") : []
        let tables = try database.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).map { $0[0] ?? "" }
        return Snapshot(rows: rows, tables: tables)
    }

    static func trackingExists(_ database: TestDatabase) throws -> Bool {
        try database.query("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL") == [["t"]]
    }

    /// Lower-case hex SHA-256 of `text`'s UTF-8 bytes, computed by PostgreSQL (independent of migrator's).
    static func sha256(_ text: String, on database: TestDatabase) throws -> String {
        let hex = text.utf8.map { String(format: "%02x", $0) }.joined()
        return try database.query("SELECT encode(sha256(decode('\(hex)', 'hex')), 'hex')")[0][0] ?? ""
    }

    /// Runs a file's SQL the way someone with psql would: the whole file as one script, no tracking row.
    static func applyByHand(_ tags: [String], from folder: DrizzleFolder, on database: TestDatabase) throws {
        for tag in tags {
            let sql = try String(contentsOfFile: folder.path + "/\(tag).sql", encoding: .utf8)
            try database.query(sql)
        }
    }

    /// expected_tracking.tsv of a shared folder, header dropped: what Drizzle writes after a fresh apply.
    static func expectedTracking(_ name: String = "basic") throws -> [String] {
        let path = TestEnvironment.sharedTestdata.appendingPathComponent("drizzle/\(name)/expected_tracking.tsv").path
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst().map(String.init)
    }

    /// Every `drift.*` event of a run.
    static func driftEvents(_ result: MigratorProcess.Result) throws -> [[String: Any]] {
        try result.logLines().filter { ($0["event"] as? String)?.hasPrefix("drift.") == true }
    }

    static func applied(_ result: MigratorProcess.Result) throws -> [String] {
        try result.events("migration.applied").map { $0["migration"] as? String ?? "?" }
    }
}
