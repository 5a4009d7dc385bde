import Foundation
import TestSupport
import Testing

/// The contract's Drift section, run by the real binary: every fatal kind stops `up` (dry run or not)
/// and `verify` with exit 5 before anything is applied, with one log line per finding.
@Suite("drift: up and verify refuse", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct DriftTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case changedFile, outOfOrder, unmatchedRow, nullCreatedAt, nonMonotonic, drizzleNameColumn
        var testDescription: String { rawValue }
    }

    /// Builds the drifted database and folder; returns the event the finding must be logged as and
    /// the fields it must carry (nil: no finding line, the refusal is the run's error).
    static func setUp(_ kind: Kind, _ database: TestDatabase) throws -> (DrizzleFolder, String?, [String: AnyHashable])
    {
        switch kind {
        case .changedFile:
            let folder = try DrizzleFolder([Ops.a, Ops.b, Ops.c])
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            let recorded = try Ops.sha256(Ops.b.sql, on: database)
            // The usual culprit: a checkout that turned LF into CRLF.
            let crlf = Ops.b.sql.replacingOccurrences(of: "\n", with: "\r\n")
            try folder.write("0001_b", crlf)
            try folder.append(Ops.file("0003_d", "d", Ops.base + 3000))
            return (
                folder, "drift.changed",
                [
                    "migration": "0001_b", "index": 1, "recorded_hash": recorded,
                    "expected_hash": try Ops.sha256(crlf, on: database), "row_id": 2,
                ]
            )
        case .outOfOrder:
            // A merge: the branch's file was generated before main's newest one, but sits after it.
            let folder = try DrizzleFolder([Ops.a, Ops.file("0001_c", "c", Ops.base + 2000)])
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            let late = Ops.file("0002_b", "b", Ops.base + 1000)
            try folder.append(late)
            try folder.append(Ops.file("0003_d", "d", Ops.base + 3000))
            return (
                folder, "drift.out_of_order",
                ["migration": "0002_b", "index": 2, "expected_hash": try Ops.sha256(late.sql, on: database)]
            )
        case .unmatchedRow:
            let old = try DrizzleFolder([Ops.a, Ops.b, Ops.c])
            defer { old.remove() }
            #expect(try Ops.run(["up"], database, old).exitCode == 0)
            // 0001_b removed from the journal (a revert of its commit) while later entries stay.
            let folder = try DrizzleFolder([Ops.a, Ops.c, Ops.file("0003_d", "d", Ops.base + 3000)])
            return (
                folder, "drift.unknown_row",
                ["row_id": 2, "recorded_hash": try Ops.sha256(Ops.b.sql, on: database), "created_at": Ops.base + 1000]
            )
        case .nullCreatedAt:
            let folder = try DrizzleFolder([Ops.a, Ops.b])
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try database.query("INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('abc123', NULL)")
            try folder.append(Ops.c)
            return (folder, "drift.null_created_at", ["row_id": 3, "recorded_hash": "abc123"])
        case .nonMonotonic:
            let folder = try DrizzleFolder([
                Ops.a, Ops.file("0001_late", "late", Ops.base + 2000), Ops.file("0002_early", "early", Ops.base + 1000),
            ])
            return (
                folder, "drift.non_monotonic",
                ["migration": "0002_early", "index": 2, "created_at": Ops.base + 1000]
            )
        case .drizzleNameColumn:
            let folder = try DrizzleFolder([Ops.a, Ops.b])
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            // What Drizzle 1.0's upgrade does to a 0.x table.
            try database.query(
                "ALTER TABLE drizzle.__drizzle_migrations ADD COLUMN name text, "
                    + "ADD COLUMN applied_at timestamp with time zone DEFAULT now()")
            try folder.append(Ops.c)
            return (folder, nil, [:])
        }
    }

    @Test(
        "exit 5 from up, up --dry-run and verify; nothing applied; one log line per finding", arguments: Kind.allCases)
    func refuses(kind: Kind) throws {
        try withDatabase { database in
            let (folder, event, fields) = try Self.setUp(kind, database)
            defer { folder.remove() }
            let before = try Ops.snapshot(database)
            for arguments in [["up"], ["up", "--dry-run"], ["verify"], []] {
                let result = try Ops.run(arguments, database, folder)
                #expect(result.exitCode == 5, "\(arguments) \(kind): \(result.output)")
                #expect(try Ops.snapshot(database) == before, "\(arguments) changed the database")
                #expect(try Ops.applied(result).isEmpty)
                #expect(try result.events("migration.started").isEmpty)
                let finished = try #require(result.lastLine)
                #expect(finished["exit_code"] as? Int == 5)
                let drift = try Ops.driftEvents(result)
                guard let event else {
                    #expect(drift.isEmpty)
                    #expect((finished["error"] as? String)?.contains("\"name\" column") == true, "\(finished)")
                    continue
                }
                #expect(drift.count == 1, "one line per finding: \(drift)")
                let line = try #require(drift.first)
                #expect(line["event"] as? String == event)
                #expect(line["level"] as? String == "error")
                #expect(line["fatal"] as? Bool == true)
                for (key, value) in fields {
                    switch value {
                    case let number as Int64:
                        #expect((line[key] as? Int).map(Int64.init) == number, "\(key) in \(line)")
                    case let number as Int: #expect(line[key] as? Int == number, "\(key) in \(line)")
                    default: #expect(line[key] as? String == value as? String, "\(key) in \(line)")
                    }
                }
                if event == "drift.changed" {
                    #expect((line["message"] as? String)?.contains("only in its line endings") == true)
                }
                #expect((finished["error"] as? String)?.contains("drift") == true)
            }
        }
    }

    @Test("rows newer than the folder (an app rollback): up and verify exit 0 with a warning")
    func recordedNewerIsAWarning() throws {
        try withDatabase { database in
            let newer = try DrizzleFolder([Ops.a, Ops.b, Ops.c])
            defer { newer.remove() }
            #expect(try Ops.run(["up"], database, newer).exitCode == 0)
            let older = try DrizzleFolder([Ops.a, Ops.b])
            defer { older.remove() }
            let before = try Ops.snapshot(database)
            for arguments in [["up"], ["verify"]] {
                let result = try Ops.run(arguments, database, older)
                #expect(result.exitCode == 0, "\(arguments): \(result.output)")
                let drift = try Ops.driftEvents(result)
                #expect(drift.count == 1)
                #expect(drift.first?["event"] as? String == "drift.newer_rows")
                #expect(drift.first?["level"] as? String == "warning")
                #expect(drift.first?["row_id"] as? Int == 3)
                #expect(drift.first?["created_at"] as? Int == Int(Ops.base + 2000))
                #expect(try Ops.snapshot(database) == before)
            }
        }
    }

    @Test("a file recorded twice (Drizzle's concurrent runs): a warning, up proceeds")
    func duplicateRowIsAWarning() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try database.query(
                "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) SELECT hash, created_at FROM drizzle.__drizzle_migrations"
            )
            try folder.append(Ops.b)
            let result = try Ops.run(["up"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try Ops.driftEvents(result).map { $0["event"] as? String } == ["drift.duplicate_row"])
            #expect(try Ops.applied(result) == ["0001_b"])
        }
    }

    enum AllowVia: String, CaseIterable, CustomTestStringConvertible {
        case flag, environment
        var testDescription: String { rawValue }
        var arguments: [String] { self == .flag ? ["up", "--allow-out-of-order"] : ["up"] }
        var environment: [String: String] { self == .environment ? ["MIGRATOR_ALLOW_OUT_OF_ORDER": "true"] : [:] }
    }

    @Test(
        "allowing out-of-order applies the old entry in journal order and logs that it did",
        arguments: AllowVia.allCases)
    func allowOutOfOrder(via: AllowVia) throws {
        try withDatabase { database in
            let (folder, _, _) = try Self.setUp(.outOfOrder, database)
            defer { folder.remove() }
            let before = try Ops.snapshot(database)
            let plan = try Ops.run(via.arguments + ["--dry-run"], database, folder, environment: via.environment)
            #expect(plan.exitCode == 0, "\(plan.output)")
            let planned = try plan.events("migration.planned")
            #expect(planned.map { $0["migration"] as? String } == ["0002_b", "0003_d"])
            #expect(planned.map { $0["out_of_order"] as? Bool } == [true, false])
            #expect(try Ops.snapshot(database) == before)

            let result = try Ops.run(via.arguments, database, folder, environment: via.environment)
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try Ops.applied(result) == ["0002_b", "0003_d"])
            let warning = try #require(try Ops.driftEvents(result).first)
            #expect(warning["event"] as? String == "drift.out_of_order")
            #expect(warning["level"] as? String == "warning")
            #expect((warning["message"] as? String)?.contains("applying it") == true)
            let applied = try result.events("migration.applied")
            #expect(applied[0]["out_of_order"] as? Bool == true)
            #expect(applied[0]["level"] as? String == "warning")
            #expect((applied[0]["message"] as? String)?.contains("out of order") == true)
            #expect(applied[1]["out_of_order"] == nil)
            #expect(
                try database.trackingRows().map { $0.split(separator: "\t")[1] } == [
                    "\(Ops.base)", "\(Ops.base + 2000)", "\(Ops.base + 1000)", "\(Ops.base + 3000)",
                ])
            // Recorded now, so the gate passes without the override.
            #expect(try Ops.run(["verify"], database, folder).exitCode == 0)
        }
    }

    @Test("allowing out-of-order applies a non-monotonic pending set in journal order")
    func allowNonMonotonic() throws {
        try withDatabase { database in
            let (folder, _, _) = try Self.setUp(.nonMonotonic, database)
            defer { folder.remove() }
            let result = try Ops.run(
                ["up"], database, folder, environment: ["MIGRATOR_ALLOW_OUT_OF_ORDER": "true"])
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try Ops.applied(result) == ["0000_a", "0001_late", "0002_early"])
            #expect(try Ops.driftEvents(result).map { $0["level"] as? String } == ["warning"])
        }
    }

    @Test(
        "two deploys at once: the second waits, then skips what the first recorded, or exits 5 on another version",
        arguments: [true, false])
    func concurrentDeploy(sameVersion: Bool) throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try folder.append(Ops.b)
            // The other deploy: holds migrator's advisory lock (the key the README documents) while it
            // records 0001_b, in its version of the folder.
            let other = try database.connect(applicationName: "other-deploy")
            defer { other.close() }
            let key =
                "('x' || left(encode(sha256(convert_to('migrator:drizzle.__drizzle_migrations', 'UTF8')), 'hex'), 16))::bit(64)::bigint"
            try other.simpleQuery("SELECT pg_advisory_lock(\(key))")
            let process = try MigratorProcess(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            // Until migrator has asked for the lock (blocking or polling), after it planned. Between
            // polls its last query is the ROLLBACK of the try; after 0.5 s of waiting it asks who
            // holds the lock (a query on pg_locks for locktype 'advisory') and pauses, which stays
            // visible long enough to be seen.
            try MigratorProcess.waitUntil {
                try database.query(
                    """
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND application_name <> 'other-deploy' AND query LIKE '%advisory%'
                    """) == [["1"]]
            }
            let hash =
                sameVersion
                ? try Ops.sha256(Ops.b.sql, on: database)
                : try Ops.sha256("CREATE TABLE b (id bigint);\n", on: database)
            // Commit first, unlock after: a session lock released inside the same (implicit) transaction
            // would let migrator in before the row is visible, which no real runner does.
            try other.simpleQuery(
                "CREATE TABLE b (id int); INSERT INTO drizzle.__drizzle_migrations (hash, created_at) "
                    + "VALUES ('\(hash)', \(Ops.base + 1000))")
            try other.simpleQuery("SELECT pg_advisory_unlock(\(key))")
            let result = try process.wait()
            try expectWellFormedRun(result, password: database.password)
            if sameVersion {
                #expect(result.exitCode == 0, "\(result.output)")
                #expect(try result.events("migration.skipped").map { $0["migration"] as? String } == ["0001_b"])
                #expect(try Ops.applied(result).isEmpty)
            } else {
                #expect(result.exitCode == 5, "\(result.output)")
                #expect(
                    (result.lastLine?["error"] as? String)?.contains("two different versions of the folder") == true)
            }
            #expect(try database.trackingRows().count == 2)
        }
    }
}
