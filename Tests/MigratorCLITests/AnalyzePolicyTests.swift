import Foundation
import TestSupport
import Testing

/// `analyze` as a pipeline gate: a 20 MB table's rewrite and blocking lock break `--fail-on` (exit 7)
/// and leave the database as it was; `up` then applies the file and logs the same facts.
@Suite("analyze policy", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct AnalyzePolicyTests {
    /// About 23 MB of heap, its planner statistics fresh (as autovacuum keeps them on a busy table).
    static func bigTable(_ database: TestDatabase) throws {
        try database.query(
            """
            CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL);
            INSERT INTO big SELECT g, g, 'row-value-' || repeat(md5(g::text), 6) FROM generate_series(1, 100000) g;
            """)
        try database.query("VACUUM ANALYZE big")
    }

    @Test("a 20 MB rewrite: exit 7, database unchanged; then up applies it and logs the same lock facts")
    func bigRewrite() throws {
        try withDatabase { database in
            try Self.bigTable(database)
            let folder = try DrizzleFolder([
                DrizzleFolder.File(
                    tag: "0000_retype", sql: "ALTER TABLE \"big\" ALTER COLUMN \"n\" TYPE bigint;", when: Ops.base)
            ])
            defer { folder.remove() }
            let schema = try AnalyzeRun.schemaDump(database)
            let relfilenode = try database.query("SELECT relfilenode FROM pg_class WHERE relname = 'big'")

            let result = try AnalyzeRun.run(["analyze", "--fail-on", "blocking,rewrite", "--json"], database, folder)
            #expect(result.exitCode == 7, "\(result.output)")
            let file = try #require(try AnalyzeRun.files(AnalyzeRun.document(result)).first)
            #expect(file["verdict"] as? String == "rewrite")
            let findings = try #require(file["findings"] as? [[String: Any]])
            #expect(Set(findings.compactMap { $0["verdict"] as? String }) == ["rewrite", "blocking"])
            #expect(findings.allSatisfy { ($0["hint"] as? String ?? "").count > 20 })
            let big = try AnalyzeRun.lock("public.big", in: file)
            #expect(big["mode"] as? String == "ACCESS EXCLUSIVE")
            #expect(big["rewritten"] as? Bool == true)
            #expect((big["size_bytes"] as? Int ?? 0) > 20 * 1024 * 1024)
            #expect(result.stderr.contains("\"exit_code\":7"))

            #expect(try AnalyzeRun.schemaDump(database) == schema)
            #expect(try !Ops.trackingExists(database))
            #expect(try database.query("SELECT relfilenode FROM pg_class WHERE relname = 'big'") == relfilenode)
            #expect(try database.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'") == [["0"]])

            let up = try Ops.run(["up"], database, folder)
            #expect(up.exitCode == 0, "\(up.output)")
            let applied = try #require(try up.events("migration.applied").first)
            #expect(AnalyzeRun.facts(applied) == AnalyzeRun.facts(file))
            #expect(applied["max_lock"] as? String == "ACCESS EXCLUSIVE")
            // One statement runs on its own: its locks are attributed to it, the hold time exact.
            let appliedBig = try AnalyzeRun.lock("public.big", in: applied)
            #expect(appliedBig["statement"] as? Int == 1 && appliedBig["held_upper_bound"] == nil)
            #expect((appliedBig["size_bytes"] as? Int ?? 0) > 20 * 1024 * 1024)
            let finished = try #require(up.lastLine)
            #expect(finished["TablesRewritten"] as? Int == 1)
            #expect((finished["MaxExclusiveLockMs"] as? Int).map { $0 >= 0 } == true)
            #expect(!up.output.contains("row-value") && !result.output.contains("row-value"))
        }
    }

    @Test("without --fail-on the same file is reported, not refused: exit 0")
    func reportOnly() throws {
        try withDatabase { database in
            try Self.bigTable(database)
            let folder = try DrizzleFolder([
                DrizzleFolder.File(tag: "0000_index", sql: "CREATE INDEX \"big_n\" ON \"big\" (\"n\");", when: Ops.base)
            ])
            defer { folder.remove() }
            let result = try AnalyzeRun.run(["analyze"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let line = try #require(try result.events("migration.analyzed").first)
            #expect(line["verdict"] as? String == "blocking")
            let finding = try #require((line["findings"] as? [[String: Any]])?.first)
            #expect((finding["hint"] as? String ?? "").contains("CONCURRENTLY"))
            #expect(try AnalyzeRun.run(["analyze", "--fail-on", "rewrite"], database, folder).exitCode == 0)
            #expect(try AnalyzeRun.run(["analyze", "--fail-on", "blocking"], database, folder).exitCode == 7)
            #expect(try database.query("SELECT to_regclass('public.big_n') IS NULL") == [["t"]])
        }
    }

    @Test("stops before the first self-managed file and says so; what came before is measured")
    func stopsAtSelfManaged() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([
                Ops.a,
                DrizzleFolder.File(
                    tag: "0001_concurrently",
                    sql: "-- migrator:no-transaction\nCREATE INDEX CONCURRENTLY \"a_id\" ON \"a\" (\"id\");",
                    when: Ops.base + 1000),
                Ops.c,
            ])
            defer { folder.remove() }
            let result = try AnalyzeRun.run(["analyze", "--json"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let document = try AnalyzeRun.document(result)
            #expect(try AnalyzeRun.files(document).map { $0["migration"] as? String } == ["0000_a"])
            let stop = try #require(document["stopped_at"] as? [String: Any])
            #expect(stop["migration"] as? String == "0001_concurrently" && stop["unmeasured"] as? Int == 2)
            #expect(result.stderr.contains("analyze.stopped"))
            #expect(try database.query("SELECT to_regclass('public.a') IS NULL") == [["t"]])
        }
    }

    @Test("stops at a file that uses an enum value an earlier pending file adds (one transaction cannot)")
    func stopsAtNewEnumValue() throws {
        try withDatabase { database in
            let type = DrizzleFolder.File(
                tag: "0000_enum",
                sql: "CREATE TYPE \"mood\" AS ENUM ('calm');--> statement-breakpoint\n"
                    + "CREATE TABLE \"moods\" (\"m\" \"mood\");", when: Ops.base)
            // The type is committed first: PostgreSQL 17 lets a transaction use a value it added to
            // a type it created itself, so only an older type shows the limit on every version.
            let first = try DrizzleFolder([type])
            defer { first.remove() }
            #expect(try Ops.run(["up"], database, first).exitCode == 0)
            let folder = try DrizzleFolder([
                type,
                DrizzleFolder.File(
                    tag: "0001_value", sql: "ALTER TYPE \"mood\" ADD VALUE 'busy';", when: Ops.base + 1000),
                DrizzleFolder.File(
                    tag: "0002_use", sql: "INSERT INTO \"moods\" VALUES ('busy');", when: Ops.base + 2000),
            ])
            defer { folder.remove() }
            let result = try AnalyzeRun.run(["analyze", "--json"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let document = try AnalyzeRun.document(result)
            #expect(try AnalyzeRun.files(document).count == 1)
            let stop = try #require(document["stopped_at"] as? [String: Any])
            #expect(stop["migration"] as? String == "0002_use" && stop["unmeasured"] as? Int == 1)
            #expect((stop["reason"] as? String ?? "").contains("enum value"))
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
        }
    }

    @Test("takes the advisory lock like up: while another session holds it, analyze waits, then exits 4")
    func advisoryLock() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a])
            defer { folder.remove() }
            let first = try Ops.run(["up"], database, folder)
            let key = try #require(first.stdout.firstMatch(of: /"lock_key":(-?[0-9]+)/).map { String($0.output.1) })
            try folder.append(Ops.b)
            let holder = try database.connect()
            defer { holder.close() }
            try holder.simpleQuery("SELECT pg_advisory_lock(\(key))")
            let result = try AnalyzeRun.run(["analyze", "--lock-wait", "1s"], database, folder)
            #expect(result.exitCode == 4, "\(result.output)")
            #expect(try database.query("SELECT to_regclass('public.b') IS NULL") == [["t"]])
        }
    }

    @Test("text table for people, markdown for a pull request; up of the same two-piece file")
    func peopleAndPullRequests() throws {
        try withDatabase { database in
            try Self.bigTable(database)
            let folder = try DrizzleFolder([
                DrizzleFolder.File(
                    tag: "0000_notnull",
                    sql: "ALTER TABLE \"big\" ADD COLUMN \"flag\" boolean;--> statement-breakpoint\n"
                        + "UPDATE \"big\" SET \"flag\" = true WHERE \"id\" <= 10;", when: Ops.base)
            ])
            defer { folder.remove() }
            let text = try AnalyzeRun.run(["analyze", "--log-format", "text"], database, folder)
            #expect(text.exitCode == 0, "\(text.output)")
            #expect(text.stdout.contains("0000_notnull  blocking"), "\(text.stdout)")
            #expect(text.stdout.contains("public.big ACCESS EXCLUSIVE"))
            #expect(text.stdout.contains("(statement 1, line 1)"))
            #expect(text.stderr.contains("run.finished"))
            let markdown = try AnalyzeRun.run(["analyze", "--format", "markdown"], database, folder)
            #expect(markdown.stdout.hasPrefix("## migrator analyze: policy passed (1 blocking)"), "\(markdown.stdout)")
            #expect(markdown.stdout.contains("| `public.big` | table | ACCESS EXCLUSIVE |"))
            #expect(markdown.stdout.contains("**blocking** (statement 1, line 1)"))

            // `up` sends these two pieces as one query: no statement to name, the transaction bounds the hold.
            let up = try Ops.run(["up"], database, folder)
            let applied = try #require(try up.events("migration.applied").first)
            let big = try AnalyzeRun.lock("public.big", in: applied)
            #expect(big["mode"] as? String == "ACCESS EXCLUSIVE" && big["rewritten"] as? Bool == false)
            #expect(big["held_upper_bound"] as? Bool == true && big["statement"] == nil)
        }
    }

    @Test(
        "bad policy flags exit 2 with one line",
        arguments: [
            ["--fail-on", "sometimes"], ["--size-threshold", "ten"], ["--lock-threshold", "soon"],
            ["--json", "--format", "markdown"],
        ])
    func badFlags(_ flags: [String]) throws {
        let folder = try DrizzleFolder([Ops.a])
        defer { folder.remove() }
        let result = try MigratorProcess.run(
            ["analyze"] + flags,
            environment: ["DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "MIGRATIONS_DIR": folder.path])
        #expect(result.exitCode == 2, "\(result.output)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }
}
