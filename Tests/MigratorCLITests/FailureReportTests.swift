import Foundation
import PostgresClient
import TestSupport
import Testing

/// What an operator reads when a file fails: which statement, what took effect, how to clean up; and
/// what one self-managed file must not leave behind for the next.
@Suite("faults: failure reports and session state", .tags(.faults), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct FailureReportTests {
    static let base: Int64 = 1_766_000_000_000

    @Test("statement timeout (57014): exit 1 naming the file, the statement and its text; the file rolled back")
    func statementTimeout() throws {
        try withFaultDatabase { database in
            let folder = try DrizzleFolder([
                .init(tag: "0000_a", sql: "CREATE TABLE a (id int);", when: Self.base),
                .init(
                    tag: "0001_slow",
                    sql: "CREATE TABLE b (id int);\n--> statement-breakpoint\nSELECT pg_sleep(5);",
                    when: Self.base + 1),
            ])
            defer { folder.remove() }
            let result = try Spawned.runMigrator(
                ["up", "--statement-timeout", "500ms"],
                environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 1, "\(result.output)")
            #expect(result.duration < .seconds(4), "\(result.duration)")
            let failed = try #require(try result.events("migration.failed").first, "\(result.stdout)")
            #expect(failed["sqlstate"] as? String == "57014")
            #expect(failed["statement"] as? Int == 2)
            #expect(failed["line"] as? Int == 3)
            let error = result.finalError
            for part in [
                "0001_slow", "statement 2", "0001_slow.sql line 3", "statement timeout of 500 ms", "pg_sleep(5)",
            ] {
                #expect(error.contains(part), "\"\(part)\" missing from: \(error)")
            }
            #expect(try database.trackingRows().count == 1)
            #expect(try database.query("SELECT to_regclass('b') IS NULL") == [["t"]])
        }
    }

    @Test("self-managed file fails after its COMMIT: exit 1, says which statements stay, and the INVALID index hint")
    func selfManagedFailureReport() throws {
        try withFaultDatabase { database in
            let folder = try DrizzleFolder([
                .init(
                    tag: "0000_items",
                    sql: "CREATE TABLE items (id serial PRIMARY KEY, v int);--> statement-breakpoint\n"
                        + "INSERT INTO items (v) VALUES (1), (1), (2);",
                    when: Self.base),
                .init(
                    tag: "0001_unique_v",
                    sql: "ALTER TABLE items ADD COLUMN w int;\n--> statement-breakpoint\nCOMMIT;\n"
                        + "--> statement-breakpoint\nCREATE UNIQUE INDEX CONCURRENTLY items_v_key ON items (v);",
                    when: Self.base + 1),
            ])
            defer { folder.remove() }
            let result = try Spawned.runMigrator(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 1, "\(result.output)")
            let error = result.finalError
            for part in [
                "0001_unique_v", "statement 3", "23505", "statements 1-2 had already taken effect",
                "no tracking row was written", "INVALID index", "DROP INDEX CONCURRENTLY",
            ] {
                #expect(error.contains(part), "\"\(part)\" missing from: \(error)")
            }
            #expect(try database.trackingRows().count == 1)
            // Exactly what the message says: the column stays, the index is there and INVALID.
            #expect(
                try database.query(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'w'")
                    == [["1"]])
            #expect(
                try database.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_v_key'::regclass") == [
                    ["f"]
                ])
            #expect(try advisoryLocks(in: database) == 0)
        }
    }

    @Test("RESET ALL after a self-managed file: its session SETs (search_path, lock_timeout) do not reach later files")
    func sessionSettingsDoNotLeak() throws {
        try withFaultDatabase { database in
            let capture = "SELECT current_setting('search_path') AS sp, current_setting('lock_timeout') AS lt"
            let folder = try DrizzleFolder([
                .init(tag: "0000_schema", sql: "CREATE SCHEMA other;", when: Self.base),
                .init(
                    tag: "0001_session_sets",
                    sql: "-- migrator:no-transaction\nSET search_path = other;\n--> statement-breakpoint\n"
                        + "SET lock_timeout = 0;\n--> statement-breakpoint\nCREATE TABLE t1 AS \(capture);",
                    when: Self.base + 1),
                .init(
                    tag: "0002_self_managed",
                    sql: "COMMIT;\n--> statement-breakpoint\nCREATE TABLE t2 AS \(capture);", when: Self.base + 2),
                .init(tag: "0003_plain", sql: "CREATE TABLE t3 AS \(capture);", when: Self.base + 3),
            ])
            defer { folder.remove() }
            let result = try Spawned.runMigrator(
                ["up", "--lock-timeout", "3s"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try database.query("SELECT sp, lt FROM other.t1") == [["other", "0"]])
            #expect(
                try database.query("SELECT to_regclass('other.t2') IS NULL, to_regclass('other.t3') IS NULL") == [
                    ["t", "t"]
                ])
            #expect(try database.query("SELECT sp, lt FROM public.t2") == [["\"$user\", public", "3s"]])
            #expect(try database.query("SELECT sp, lt FROM public.t3") == [["\"$user\", public", "3s"]])
            #expect(try advisoryLocks(in: database) == 0)
        }
    }
}
