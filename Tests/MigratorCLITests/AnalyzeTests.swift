import Foundation
import TestSupport
import Testing

/// `migrator analyze` against a real PostgreSQL: the lock modes and rewrites PostgreSQL reports for
/// the schema changes teams worry about, the policy exit code, and a database left exactly as it was.
@Suite("analyze", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct AnalyzeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var sql: String
        var mode: String
        var rewritten: Bool
        var rows: Int? = nil
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "ADD COLUMN without default", sql: "ALTER TABLE \"t\" ADD COLUMN \"c\" text;",
            mode: "ACCESS EXCLUSIVE", rewritten: false),
        Case(
            name: "ADD COLUMN DEFAULT now() (stored once, no rewrite)",
            sql: "ALTER TABLE \"t\" ADD COLUMN \"c\" timestamptz DEFAULT now();", mode: "ACCESS EXCLUSIVE",
            rewritten: false),
        Case(
            name: "ADD COLUMN DEFAULT random() (volatile: rewrite)",
            sql: "ALTER TABLE \"t\" ADD COLUMN \"c\" float8 DEFAULT random();", mode: "ACCESS EXCLUSIVE",
            rewritten: true),
        Case(
            name: "ALTER COLUMN TYPE int -> bigint", sql: "ALTER TABLE \"t\" ALTER COLUMN \"n\" TYPE bigint;",
            mode: "ACCESS EXCLUSIVE", rewritten: true),
        Case(name: "CREATE INDEX", sql: "CREATE INDEX \"t_n_idx\" ON \"t\" (\"n\");", mode: "SHARE", rewritten: false),
        Case(
            name: "UPDATE backfill", sql: "UPDATE \"t\" SET \"n\" = \"n\" + 1;", mode: "ROW EXCLUSIVE",
            rewritten: false, rows: 1000),
    ]

    static func seeded(_ database: TestDatabase) throws {
        try database.query(
            "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL); INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g"
        )
    }

    @Test("the exact lock mode and rewrite flag PostgreSQL reports", arguments: cases)
    func knownCase(_ known: Case) throws {
        try withDatabase { database in
            try Self.seeded(database)
            let folder = try DrizzleFolder([DrizzleFolder.File(tag: "0000_case", sql: known.sql, when: Ops.base)])
            defer { folder.remove() }
            let before = try AnalyzeRun.schemaDump(database)
            let result = try AnalyzeRun.run(["analyze", "--json"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let file = try #require(try AnalyzeRun.files(AnalyzeRun.document(result)).first)
            let lock = try AnalyzeRun.lock("public.t", in: file)
            #expect(lock["mode"] as? String == known.mode)
            #expect(lock["rewritten"] as? Bool == known.rewritten)
            #expect(lock["new"] as? Bool == false)
            #expect(lock["statement"] as? Int == 1 && lock["line"] as? Int == 1)
            #expect((lock["size_bytes"] as? Int ?? 0) > 8192)
            #expect(file["max_lock"] as? String == known.mode)
            #expect(file["verdict"] as? String == "ok", "a 1000-row table is below the 10 MB threshold")
            if let rows = known.rows { #expect(file["rows"] as? Int == rows) }
            #expect(try AnalyzeRun.schemaDump(database) == before)
            #expect(try !Ops.trackingExists(database), "analyze created the tracking table")
        }
    }

    static let hints: [(sql: String, verdict: String, hint: String)] = [
        ("CREATE INDEX \"t_n_idx\" ON \"t\" (\"n\");", "blocking", "CREATE INDEX CONCURRENTLY"),
        (
            "CREATE TABLE \"child\" (\"t_id\" int);--> statement-breakpoint\n"
                + "ALTER TABLE \"child\" ADD CONSTRAINT \"child_t\" FOREIGN KEY (\"t_id\") REFERENCES \"t\"(\"id\");",
            "blocking", "NOT VALID"
        ),
        ("ALTER TABLE \"t\" ALTER COLUMN \"id\" SET NOT NULL;", "blocking", "CHECK (column IS NOT NULL) NOT VALID"),
        ("ALTER TABLE \"t\" ALTER COLUMN \"n\" TYPE bigint;", "rewrite", "split the type change"),
        ("ALTER TABLE \"t\" ADD COLUMN \"r\" float8 DEFAULT random();", "rewrite", "SET DEFAULT in a second statement"),
    ]

    @Test("each risky finding names the safer pattern", arguments: 0..<hints.count)
    func hint(_ number: Int) throws {
        let (sql, verdict, hint) = Self.hints[number]
        try withDatabase { database in
            try Self.seeded(database)
            let folder = try DrizzleFolder([DrizzleFolder.File(tag: "0000_hint", sql: sql, when: Ops.base)])
            defer { folder.remove() }
            let result = try AnalyzeRun.run(["analyze", "--json", "--size-threshold", "0"], database, folder)
            let file = try #require(try AnalyzeRun.files(AnalyzeRun.document(result)).first)
            let findings = try #require(file["findings"] as? [[String: Any]])
            let finding = try #require(findings.first { $0["verdict"] as? String == verdict }, "\(findings)")
            #expect(finding["relation"] as? String == "public.t")
            #expect((finding["hint"] as? String ?? "").contains(hint), "\(finding)")
        }
    }

    @Test("ADD CONSTRAINT NOT VALID, then VALIDATE CONSTRAINT in the next file: SHARE UPDATE EXCLUSIVE")
    func notValidThenValidate() throws {
        try withDatabase { database in
            try Self.seeded(database)
            let folder = try DrizzleFolder([
                DrizzleFolder.File(
                    tag: "0000_check",
                    sql: "ALTER TABLE \"t\" ADD CONSTRAINT \"n_positive\" CHECK (\"n\" > 0) NOT VALID;",
                    when: Ops.base),
                DrizzleFolder.File(
                    tag: "0001_validate", sql: "ALTER TABLE \"t\" VALIDATE CONSTRAINT \"n_positive\";",
                    when: Ops.base + 1000),
            ])
            defer { folder.remove() }
            let result = try AnalyzeRun.run(["analyze", "--json"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let files = try AnalyzeRun.files(AnalyzeRun.document(result))
            #expect(files.map { $0["migration"] as? String } == ["0000_check", "0001_validate"])
            #expect(try AnalyzeRun.lock("public.t", in: files[0])["mode"] as? String == "ACCESS EXCLUSIVE")
            let validate = try AnalyzeRun.lock("public.t", in: files[1])
            #expect(validate["mode"] as? String == "SHARE UPDATE EXCLUSIVE")
            #expect(validate["rewritten"] as? Bool == false)
            #expect(try database.query("SELECT count(*) FROM pg_constraint WHERE conname = 'n_positive'") == [["0"]])
        }
    }

    @Test("a new table: its own lock, reported as new, not a risk")
    func newTable() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([
                DrizzleFolder.File(
                    tag: "0000_fresh", sql: "CREATE TABLE \"fresh\" (\"id\" serial PRIMARY KEY, \"v\" text);",
                    when: Ops.base)
            ])
            defer { folder.remove() }
            let result = try AnalyzeRun.run(
                ["analyze", "--json", "--size-threshold", "0", "--lock-threshold", "0"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let file = try #require(try AnalyzeRun.files(AnalyzeRun.document(result)).first)
            let lock = try AnalyzeRun.lock("public.fresh", in: file)
            #expect(lock["new"] as? Bool == true)
            #expect(lock["mode"] as? String == "ACCESS EXCLUSIVE")
            #expect(lock["size_bytes"] == nil)
            #expect(file["max_lock"] as? String == "none")
            #expect(file["verdict"] as? String == "ok")
            #expect(try database.query("SELECT to_regclass('public.fresh') IS NULL") == [["t"]])
        }
    }

    @Test("up: every migration.applied line carries the file's locks; MIGRATOR_LOCK_REPORT=false leaves them out")
    func upReportAndEscapeHatch() throws {
        try withDatabase { database in
            try Self.seeded(database)
            let folder = try DrizzleFolder([
                DrizzleFolder.File(tag: "0000_index", sql: "CREATE INDEX \"t_n_idx\" ON \"t\" (\"n\");", when: Ops.base)
            ])
            defer { folder.remove() }
            let off = try Ops.run(
                ["up", "--dry-run"], database, folder, environment: ["MIGRATOR_LOCK_REPORT": "maybe"])
            #expect(off.exitCode == 2 && off.finalError.contains("MIGRATOR_LOCK_REPORT"), "\(off.output)")
            let quiet = try Ops.run(["up"], database, folder, environment: ["MIGRATOR_LOCK_REPORT": "false"])
            #expect(quiet.exitCode == 0, "\(quiet.output)")
            let line = try #require(try quiet.events("migration.applied").first)
            #expect(line["locks"] == nil && line["max_lock"] == nil)

            try database.query("DROP INDEX t_n_idx; DELETE FROM drizzle.__drizzle_migrations")
            let reported = try Ops.run(["up"], database, folder)
            let applied = try #require(try reported.events("migration.applied").first)
            #expect(applied["max_lock"] as? String == "SHARE" && applied["max_lock_relation"] as? String == "public.t")
            let index = try AnalyzeRun.lock("public.t_n_idx", in: applied)
            #expect(index["new"] as? Bool == true)
            #expect(try AnalyzeRun.lock("public.t", in: applied)["statement"] as? Int == 1)
        }
    }

    @Test("odd identifiers are schema-qualified and quoted; no row value appears in any report")
    func oddIdentifiers() throws {
        try withDatabase { database in
            try database.query(
                #"""
                CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema"."Odd ""Name""" (id int, secret text);
                INSERT INTO "My Schema"."Odd ""Name""" VALUES (1, 'row-value-4f1c9e');
                """#)
            let folder = try DrizzleFolder([
                DrizzleFolder.File(
                    tag: "0000_odd",
                    sql: "UPDATE \"My Schema\".\"Odd \"\"Name\"\"\" SET \"secret\" = \"secret\" || 'x';",
                    when: Ops.base)
            ])
            defer { folder.remove() }
            let relation = "\"My Schema\".\"Odd \"\"Name\"\"\""
            let json = try AnalyzeRun.run(["analyze", "--json"], database, folder)
            let file = try #require(try AnalyzeRun.files(AnalyzeRun.document(json)).first)
            #expect(try AnalyzeRun.lock(relation, in: file)["mode"] as? String == "ROW EXCLUSIVE")
            let markdown = try AnalyzeRun.run(["analyze", "--format", "markdown"], database, folder)
            #expect(markdown.stdout.contains("`\(relation)`"), "\(markdown.stdout)")
            let text = try AnalyzeRun.run(["analyze", "--log-format", "text"], database, folder)
            let lines = try AnalyzeRun.run(["analyze"], database, folder)
            let up = try Ops.run(["up"], database, folder)
            #expect(up.exitCode == 0, "\(up.output)")
            let applied = try #require(try up.events("migration.applied").first)
            #expect(try AnalyzeRun.lock(relation, in: applied)["mode"] as? String == "ROW EXCLUSIVE")
            for result in [json, markdown, text, lines, up] {
                #expect(!result.output.contains("row-value"), "row data in: \(result.output)")
            }
        }
    }
}
