import Foundation
import TestSupport
import Testing

/// Drizzle 1.0's layout (one folder per migration) and tracking table, and the upgrade of a 0.x
/// table, against ../shared/testdata/drizzle-v1/basic (what Drizzle 1.0 writes there).
@Suite(
    "Drizzle 1.0 layout", .tags(.postgres, .drizzleCompatibility), .enabled(if: TestEnvironment.postgresTestsEnabled)
)
struct DrizzleV1Tests {
    /// expected_tracking.tsv of drizzle-v1/basic: `hash<TAB>created_at<TAB>name`, id order.
    static func expected() throws -> [String] {
        let path = TestEnvironment.sharedTestdata.appendingPathComponent("drizzle-v1/basic/expected_tracking.tsv").path
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst().map(String.init)
    }

    static func rows(_ database: TestDatabase) throws -> [String] {
        try database.query("SELECT hash, created_at, name FROM drizzle.__drizzle_migrations ORDER BY id").map {
            $0.map { $0 ?? "NULL" }.joined(separator: "\t")
        }
    }

    /// `applied_at IS NULL` per row, id order.
    static func appliedAtNull(_ database: TestDatabase) throws -> [Bool] {
        try database.query("SELECT applied_at IS NULL FROM drizzle.__drizzle_migrations ORDER BY id").map {
            $0[0] == "t"
        }
    }

    static func columns(_ database: TestDatabase) throws -> [[String?]] {
        try database.query(
            """
            SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
            WHERE table_schema = 'drizzle' AND table_name = '__drizzle_migrations' ORDER BY ordinal_position
            """)
    }

    static let v1Columns: [[String?]] = [
        ["id", "integer", "NO", "nextval('drizzle.__drizzle_migrations_id_seq'::regclass)"],
        ["hash", "text", "NO", nil], ["created_at", "bigint", "YES", nil], ["name", "text", "YES", nil],
        ["applied_at", "timestamp with time zone", "YES", "now()"],
    ]

    @Test("fresh up writes exactly Drizzle 1.0's rows and table; a second up is a no-op")
    func freshApply() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofSharedV1: "basic")
            defer { folder.remove() }
            let first = try Ops.run(["up"], database, folder)
            #expect(first.exitCode == 0, "\(first.output)")
            #expect(try Ops.applied(first) == folder.migrationFolders)
            #expect(try Self.rows(database) == Self.expected())
            #expect(try Self.appliedAtNull(database) == Array(repeating: false, count: 6))
            #expect(try Self.columns(database) == Self.v1Columns)
            #expect(try database.query("SELECT cents_to_text(1250)") == [["12.50 EUR; net"]])

            let second = try Ops.run(["up"], database, folder)
            #expect(second.exitCode == 0, "\(second.output)")
            #expect(try Ops.applied(second).isEmpty)
            #expect(try Self.rows(database) == Self.expected())
        }
    }

    @Test(
        "upgrade from the 0.x rows of the first k files: names them, applied_at NULL, applies the rest",
        arguments: [1, 3, 5])
    func upgrade(k: Int) throws {
        try withDatabase { database in
            let journal = try DrizzleFolder.copy(ofShared: "basic")
            defer { journal.remove() }
            let v1 = try journal.convertedToFolders()
            defer { v1.remove() }
            #expect(v1.migrationFolders == (try DrizzleFolder.copy(ofSharedV1: "basic")).migrationFolders)
            let partial = try Self.firstEntries(k, of: journal)
            defer { partial.remove() }
            #expect(try Ops.run(["up"], database, partial).exitCode == 0)
            let zeroRows = try database.trackingRows()

            let dry = try Ops.run(["up", "--dry-run"], database, v1)
            #expect(dry.exitCode == 0, "\(dry.output)")
            #expect(try dry.events("tracking.upgrade_due").first?["rows_named"] as? Int == k)
            #expect(try database.trackingRows() == zeroRows)
            #expect(try Self.columns(database).count == 3)
            let verify = try Ops.run(["verify"], database, v1)
            #expect(verify.exitCode == 0 && verify.count("tracking.upgrade_due") == 1, "\(verify.output)")
            #expect(try Self.columns(database).count == 3)

            let result = try Ops.run(["up"], database, v1)
            #expect(result.exitCode == 0, "\(result.output)")
            let upgraded = try #require(try result.events("tracking.upgraded").first)
            #expect(upgraded["rows_named"] as? Int == k)
            #expect(try Ops.applied(result) == Array(v1.migrationFolders.dropFirst(k)))
            let expected = try Self.expected()
            let rows = try Self.rows(database)
            // The upgraded rows keep 0.x's milliseconds; the rest are what Drizzle 1.0 writes.
            #expect(
                rows.prefix(k).map { $0.split(separator: "\t")[0] }
                    == expected.prefix(k).map { $0.split(separator: "\t")[0] })
            #expect(
                rows.prefix(k).map { $0.split(separator: "\t")[2] }
                    == expected.prefix(k).map { $0.split(separator: "\t")[2] })
            #expect(zip(rows.prefix(k), zeroRows).allSatisfy { $0.hasPrefix($1 + "\t") })
            #expect(Array(rows.dropFirst(k)) == Array(expected.dropFirst(k)))
            #expect(try Self.appliedAtNull(database) == (0..<6).map { $0 < k })
            #expect(try Self.columns(database) == Self.v1Columns)

            let again = try Ops.run(["up"], database, v1)
            let appliedAgain = try Ops.applied(again)
            #expect(again.exitCode == 0 && again.count("tracking.upgraded") == 0 && appliedAgain.isEmpty)
        }
    }

    /// A journal folder holding only the first `k` entries of `folder`.
    static func firstEntries(_ k: Int, of folder: DrizzleFolder) throws -> DrizzleFolder {
        let journal = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.journalURL)) as! [String: Any]
        let entries = (journal["entries"] as! [[String: Any]]).prefix(k)
        return try DrizzleFolder(
            entries.map { entry in
                let tag = entry["tag"] as! String
                let sql = try String(contentsOfFile: folder.path + "/\(tag).sql", encoding: .utf8)
                return DrizzleFolder.File(tag: tag, sql: sql, when: (entry["when"] as! NSNumber).int64Value)
            })
    }

    @Test("a 0.x row no folder matches: exit 5 naming the row, nothing changed")
    func unmatchedRow() throws {
        try withDatabase { database in
            let journal = try DrizzleFolder.copy(ofShared: "basic")
            defer { journal.remove() }
            let partial = try Self.firstEntries(2, of: journal)
            defer { partial.remove() }
            #expect(try Ops.run(["up"], database, partial).exitCode == 0)
            try database.query(
                "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('feedface', 1735900000000)")
            let v1 = try journal.convertedToFolders()
            defer { v1.remove() }
            let before = try Ops.snapshot(database)
            for arguments in [["up"], ["up", "--dry-run"], ["verify"], ["baseline"]] {
                let result = try Ops.run(arguments, database, v1)
                #expect(result.exitCode == 5, "\(arguments): \(result.output)")
                #expect(result.finalError.contains("row id(s) 3"), "\(result.finalError)")
                #expect(try Ops.snapshot(database) == before)
                #expect(try Self.columns(database).count == 3)
            }
        }
    }

    @Test("two first runs at once on a 0.x table: the upgrade happens once, every file once", .tags(.concurrency))
    func concurrentUpgrade() throws {
        try withDatabase { database in
            let journal = try DrizzleFolder.copy(ofShared: "basic")
            defer { journal.remove() }
            let partial = try Self.firstEntries(2, of: journal)
            defer { partial.remove() }
            #expect(try Ops.run(["up"], database, partial).exitCode == 0)
            let v1 = try journal.convertedToFolders()
            defer { v1.remove() }
            let environment = migratorEnvironment(database: database, folder: v1)
            let runs = try (0..<2).map { _ in try MigratorProcess(["up"], environment: environment) }
            let results = try runs.map { try $0.wait() }
            for result in results { #expect(result.exitCode == 0, "\(result.output)") }
            #expect(results.map { $0.count("tracking.upgraded") }.reduce(0, +) == 1)
            #expect(results.map { (try? Ops.applied($0).count) ?? 0 }.reduce(0, +) == 4)
            #expect(
                try Self.rows(database).map { $0.split(separator: "\t")[2] }
                    == v1.migrationFolders.map { Substring($0) })
        }
    }

    @Test("rows migrator writes are the rows Drizzle 1.0 writes: Drizzle's own inserts leave nothing pending")
    func drizzleWritesTheRest() throws {
        try withDatabase { database in
            let full = try DrizzleFolder.copy(ofSharedV1: "basic")
            defer { full.remove() }
            let names = full.migrationFolders
            // migrator applies the first three; "Drizzle 1.0" the other three (its SQL, then its insert).
            let firstThree = try DrizzleFolder.copy(ofSharedV1: "basic")
            defer { firstThree.remove() }
            for name in names.dropFirst(3) { try FileManager.default.removeItem(atPath: firstThree.path + "/" + name) }
            #expect(try Ops.run(["up"], database, firstThree).exitCode == 0)
            let expected = try Self.expected()
            for (name, line) in zip(names, expected).dropFirst(3) {
                let sql = try String(contentsOfFile: full.path + "/\(name)/migration.sql", encoding: .utf8)
                for piece in sql.components(separatedBy: "--> statement-breakpoint") { try database.query(piece) }
                let fields = line.split(separator: "\t")
                try database.query(
                    "INSERT INTO \"drizzle\".\"__drizzle_migrations\" (\"hash\", \"created_at\", \"name\") "
                        + "VALUES ('\(fields[0])', \(fields[1]), '\(fields[2])')")
            }
            #expect(try Self.rows(database) == expected)
            let status = try StatusTests.document(try Ops.run(["status", "--json"], database, full))
            #expect(status["layout"] as? String == "folders" && status["table_version"] as? Int == 1)
            let summary = try #require(status["summary"] as? [String: Any])
            #expect(summary["applied"] as? Int == 6 && summary["pending"] as? Int == 0)
            #expect(summary["drift"] as? Bool == false && summary["warnings"] as? Int == 0)
            let again = try Ops.run(["up"], database, full)
            let appliedAgain = try Ops.applied(again)
            #expect(again.exitCode == 0 && appliedAgain.isEmpty, "\(again.output)")
        }
    }
}
