import Foundation
import TestSupport
import Testing

@Suite("up: per-file transactions", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct ApplyTests {
    static let base: Int64 = 1_750_000_000_000

    @Test("a failing statement rolls back only its file; after fixing it, up resumes from that file")
    func perFileAtomicity() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([
                .init(tag: "0000_a", sql: "CREATE TABLE a (id int);", when: Self.base),
                .init(
                    tag: "0001_b", sql: "CREATE TABLE b (id int);--> statement-breakpoint\nINSERT INTO b VALUES (1);",
                    when: Self.base + 1),
                .init(
                    tag: "0002_c",
                    sql:
                        "CREATE TABLE c (id int);--> statement-breakpoint\n-- the bad one\nINSERT INTO c VALUES (1), (2, 'x', nope);",
                    when: Self.base + 2),
                .init(tag: "0003_d", sql: "CREATE TABLE d (id int);", when: Self.base + 3),
            ])
            defer { folder.remove() }
            let environment = migratorEnvironment(database: database, folder: folder)
            let failed = try MigratorProcess.run(["up"], environment: environment)
            #expect(failed.exitCode == 1)
            try expectWellFormedRun(failed, password: database.password)
            #expect(try database.trackingRows().count == 2)
            #expect(
                try database.query(
                    "SELECT to_regclass('c') IS NULL, to_regclass('d') IS NULL, (SELECT count(*) FROM b)") == [
                        ["t", "t", "1"]
                    ])

            let failure = try #require(try failed.events("migration.failed").first)
            #expect(failure["migration"] as? String == "0002_c")
            #expect(failure["statement"] as? Int == 2)
            #expect(failure["sqlstate"] as? String == "42703" || failure["sqlstate"] as? String == "42601")
            #expect(failure["line"] as? Int == 3)
            #expect((failure["column"] as? Int ?? 0) > 1)
            #expect(failure["level"] as? String == "error")
            #expect((failed.lastLine?["error"] as? String)?.contains("0002_c") == true)

            try folder.write(
                "0002_c", "CREATE TABLE c (id int);--> statement-breakpoint\nINSERT INTO c VALUES (1), (2);")
            let fixed = try MigratorProcess.run(["up"], environment: environment)
            #expect(fixed.exitCode == 0, "\(fixed.output)")
            #expect(try fixed.events("migration.applied").map { $0["migration"] as! String } == ["0002_c", "0003_d"])
            #expect(try database.trackingRows().count == 4)
        }
    }

    @Test("files with their own COMMIT (CREATE INDEX CONCURRENTLY, a procedure committing in batches) apply once each")
    func selfManagedFiles() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([
                .init(tag: "0000_items", sql: "CREATE TABLE items (id serial PRIMARY KEY, v int);", when: Self.base),
                .init(
                    tag: "0001_concurrent_index",
                    sql:
                        "ALTER TABLE items ADD COLUMN w int;\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\n"
                        + "CREATE INDEX CONCURRENTLY items_w_idx ON items (w);",
                    when: Self.base + 1),
                .init(
                    tag: "0002_batches",
                    sql: """
                        CREATE PROCEDURE fill_items() LANGUAGE plpgsql AS $$
                        BEGIN
                          FOR i IN 1..5 LOOP
                            INSERT INTO items (v) VALUES (i);
                            COMMIT;
                          END LOOP;
                        END $$;
                        --> statement-breakpoint
                        COMMIT;
                        --> statement-breakpoint
                        CALL fill_items();
                        """,
                    when: Self.base + 2),
                .init(tag: "0003_after", sql: "ALTER TABLE items ADD COLUMN z int;", when: Self.base + 3),
            ])
            defer { folder.remove() }
            let environment = migratorEnvironment(database: database, folder: folder)
            let runs = try (0..<2).map { _ in try MigratorProcess(["up"], environment: environment) }.map {
                try $0.wait()
            }
            for run in runs {
                #expect(run.exitCode == 0, "\(run.output)")
                try expectWellFormedRun(run, password: database.password)
            }
            #expect(try database.trackingRows().count == 4)
            #expect(try database.query("SELECT count(*) FROM items") == [["5"]])
            #expect(
                try database.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_w_idx'::regclass") == [
                    ["t"]
                ])
            let modes = try runs.flatMap { try $0.events("migration.applied") }.map {
                "\($0["migration"]!):\($0["mode"]!)"
            }
            #expect(
                Set(modes) == [
                    "0000_items:transactional", "0001_concurrent_index:self-managed", "0002_batches:self-managed",
                    "0003_after:transactional",
                ])
            // pg_locks spans the cluster: count only this test's database (other tests run in parallel).
            #expect(try advisoryLocks(in: database) == 0)
        }
    }

    @Test(
        "8 runs started together on an empty database apply 50 files exactly once, rows in journal order",
        .tags(.concurrency))
    func eightConcurrentRuns() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.generated(count: 50, start: Self.base)
            defer { folder.remove() }
            let environment = migratorEnvironment(
                database: database, folder: folder, extra: ["MIGRATOR_LOCK_WAIT": "2m"])
            let processes = try (0..<8).map { _ in try MigratorProcess(["up"], environment: environment) }
            let results = try processes.map { try $0.wait(timeout: .seconds(180)) }
            for result in results {
                #expect(result.exitCode == 0, "\(result.output)")
                try expectWellFormedRun(result, password: database.password)
            }
            let applied = try results.map { try $0.events("migration.applied").count }.reduce(0, +)
            #expect(applied == 50)
            let createdAt = try database.query("SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY id").map {
                Int64($0[0]!)!
            }
            #expect(createdAt == (0..<50).map { Self.base + Int64($0) * 1000 })
            #expect(try database.query("SELECT count(*) FROM pg_tables WHERE tablename ~ '^t[0-9]+$'") == [["50"]])
        }
    }

    @Test("--dry-run prints the plan and changes nothing")
    func dryRun() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up", "--dry-run"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 0)
            #expect(try result.events("migration.planned").map { $0["position"] as! Int } == [1, 2, 3, 4, 5, 6])
            #expect(try database.query("SELECT to_regnamespace('drizzle') IS NULL") == [["t"]])
        }
    }
}

@Suite("exit codes and logs", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct ExitCodeTests {
    @Test("0 success, 1 failed migration, 2 configuration, 3 login refused; no password anywhere")
    func exitCodes() throws {
        try withDatabase { database in
            let good = try DrizzleFolder([.init(tag: "0000_ok", sql: "CREATE TABLE ok (id int);", when: 1)])
            let bad = try DrizzleFolder([.init(tag: "0000_bad", sql: "CREATE TABLE broken (id nosuchtype);", when: 1)])
            defer { good.remove(); bad.remove() }
            let password = database.password

            let success = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: good))
            #expect(success.exitCode == 0)
            try expectWellFormedRun(success, password: password)

            let failed = try MigratorProcess.run(
                ["up"],
                environment: migratorEnvironment(database: database, folder: bad, extra: ["MIGRATIONS_TABLE": "other"]))
            #expect(failed.exitCode == 1)
            try expectWellFormedRun(failed, password: password)
            #expect((try failed.events("migration.failed").first?["sqlstate"] as? String) == "42704")

            let usage = try MigratorProcess.run(
                ["up", "--no-such-flag"], environment: migratorEnvironment(database: database, folder: good))
            #expect(usage.exitCode == 2)
            #expect(usage.stderr.split(separator: "\n").count == 1)
            try expectWellFormedRun(usage, password: password)

            let badDuration = try MigratorProcess.run(
                ["up"],
                environment: migratorEnvironment(
                    database: database, folder: good, extra: ["MIGRATOR_LOCK_TIMEOUT": "soon"]))
            #expect(badDuration.exitCode == 2)
            #expect((badDuration.lastLine?["error"] as? String)?.contains("MIGRATOR_LOCK_TIMEOUT") == true)

            let wrongPassword = "not-the-\(password)"
            let refused = try MigratorProcess.run(
                ["up"],
                environment: ["DATABASE_URL": database.url(withPassword: wrongPassword), "MIGRATIONS_DIR": good.path])
            #expect(refused.exitCode == 3)
            #expect(refused.duration < .seconds(3))
            try expectWellFormedRun(refused, password: password)
            #expect(!refused.output.contains(wrongPassword))
            #expect((refused.lastLine?["error"] as? String)?.contains("wrong password") == true)

            // A URL whose password libpq cannot parse around must not be echoed either.
            let garbled = try MigratorProcess.run(
                ["status"],
                environment: [
                    "DATABASE_URL": "postgres://u:\(password)@host:port:x/db?bad param", "MIGRATIONS_DIR": good.path,
                ])
            #expect(garbled.exitCode == 2)
            #expect(!garbled.output.contains(password))
        }
    }
}

@Suite("run.finished metrics", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct EmbeddedMetricsTests {
    @Test("run.finished carries a CloudWatch EMF block; empty dimension variables count as unset")
    func embeddedMetricFormat() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            let labelled = try MigratorProcess.run(
                ["up"],
                environment: migratorEnvironment(
                    database: database, folder: folder,
                    extra: ["MIGRATOR_ENVIRONMENT": "staging", "MIGRATOR_TASK_FAMILY": "bcos-migration-staging"]))
            #expect(labelled.exitCode == 0, "\(labelled.output)")
            let last = try #require(labelled.lastLine)
            let aws = try #require(last["_aws"] as? [String: Any])
            #expect(aws["Timestamp"] is Int)
            let directive = try #require((aws["CloudWatchMetrics"] as? [[String: Any]])?.first)
            #expect(directive["Namespace"] as? String == "Migrator")
            #expect(directive["Dimensions"] as? [[String]] == [["Environment", "Family"]])
            let names = (directive["Metrics"] as? [[String: String]])?.compactMap { $0["Name"] }
            #expect(
                names == [
                    "MigrationsApplied", "MigrationsPending", "DurationMs", "LockWaitMs", "MaxExclusiveLockMs",
                    "TablesRewritten",
                ])
            #expect(last["MaxExclusiveLockMs"] is Int && last["TablesRewritten"] as? Int == 0)
            #expect(last["MigrationsApplied"] as? Int == 6)
            #expect(last["MigrationsPending"] as? Int == 0)
            #expect(last["Environment"] as? String == "staging")
            #expect(last["Family"] as? String == "bcos-migration-staging")
            // Nobody else held the lock: taking it is not waiting for it.
            #expect(last["LockWaitMs"] as? Int == 0)

            let unlabelled = try MigratorProcess.run(
                ["up"],
                environment: migratorEnvironment(
                    database: database, folder: folder,
                    extra: ["MIGRATOR_ENVIRONMENT": "", "MIGRATOR_METRICS_NAMESPACE": ""]))
            let directive2 = try #require(
                ((unlabelled.lastLine?["_aws"] as? [String: Any])?["CloudWatchMetrics"] as? [[String: Any]])?.first)
            #expect(directive2["Namespace"] as? String == "Migrator")
            #expect(directive2["Dimensions"] as? [[String]] == [[]])
            #expect(unlabelled.lastLine?["Environment"] == nil)
        }
    }
}
