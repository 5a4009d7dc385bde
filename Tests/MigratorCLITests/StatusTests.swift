import Foundation
import TestSupport
import Testing

/// `migrator status`: a report, never a gate (exit 0 whatever the drift; `verify` is the gate). With
/// `--json`, stdout is exactly one JSON document whose shape the README ("Runbook") documents.
@Suite("status", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct StatusTests {
    /// One of each state: 0000_a applied, 0001_b changed, 0002_c applied, 0003_x out of order,
    /// 0004_d pending; plus a row matching no entry (unmatched) and its row ids 1..4.
    static func mixedState(_ database: TestDatabase) throws -> DrizzleFolder {
        let folder = try DrizzleFolder([Ops.a, Ops.b, Ops.c])
        #expect(try Ops.run(["up"], database, folder).exitCode == 0)
        try database.query(
            "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('feedface', \(Ops.base + 500))")
        try folder.write("0001_b", "CREATE TABLE b (id int);\r\n")
        try folder.append(Ops.file("0003_x", "x", Ops.base + 1500))
        try folder.append(Ops.file("0004_d", "d", Ops.base + 3000))
        return folder
    }

    static func document(_ result: MigratorProcess.Result) throws -> [String: Any] {
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "exactly one JSON line on stdout: \(result.stdout)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test("status --json: stable keys, every state, unknown rows and findings; exit 0 even with drift")
    func json() throws {
        try withDatabase { database in
            let folder = try Self.mixedState(database)
            defer { folder.remove() }
            let before = try Ops.snapshot(database)
            let result = try Ops.run(["status", "--json"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try Ops.snapshot(database) == before)

            // Logs go to stderr, as JSON lines ending with run.finished.
            let logs = try result.stderr.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(logs.last?["event"] as? String == "run.finished")
            #expect(logs.last?["exit_code"] as? Int == 0)

            let status = try Self.document(result)
            #expect(
                Set(status.keys) == [
                    "format", "database", "table", "table_exists", "layout", "table_version", "upgrade_due", "summary",
                    "entries", "unknown_rows", "findings",
                ])
            #expect(status["layout"] as? String == "journal" && status["table_version"] as? Int == 0)
            #expect(status["upgrade_due"] as? Bool == false)
            #expect(status["format"] as? Int == 1)
            #expect(status["table"] as? String == "\"drizzle\".\"__drizzle_migrations\"")
            #expect(status["table_exists"] as? Bool == true)
            let databaseName = try #require(status["database"] as? String)
            #expect(databaseName.hasPrefix("postgres@127.0.0.1:") && databaseName.hasSuffix("/\(database.name)"))

            let summary = try #require(status["summary"] as? [String: Any])
            #expect(
                Set(summary.keys) == [
                    "total", "applied", "pending", "changed", "out_of_order", "unknown_rows", "drift", "warnings",
                ])
            #expect(summary["total"] as? Int == 5)
            #expect(summary["applied"] as? Int == 2)
            #expect(summary["changed"] as? Int == 1)
            #expect(summary["out_of_order"] as? Int == 1)
            #expect(summary["pending"] as? Int == 1)
            #expect(summary["unknown_rows"] as? Int == 1)
            #expect(summary["drift"] as? Bool == true)
            #expect(summary["warnings"] as? Int == 0)

            let entries = try #require(status["entries"] as? [[String: Any]])
            #expect(entries.map { $0["tag"] as? String } == ["0000_a", "0001_b", "0002_c", "0003_x", "0004_d"])
            #expect(
                entries.map { $0["state"] as? String } == ["applied", "changed", "applied", "out-of-order", "pending"])
            #expect(entries.map { $0["index"] as? Int } == [0, 1, 2, 3, 4])
            for entry in entries {
                #expect(
                    Set(entry.keys) == [
                        "index", "tag", "created_at", "hash", "state", "mode", "row_id", "recorded_hash",
                    ])
                #expect(entry["mode"] as? String == "transactional")
                #expect((entry["hash"] as? String)?.count == 64)
            }
            #expect(entries[0]["row_id"] as? Int == 1)
            #expect(entries[0]["recorded_hash"] as? String == entries[0]["hash"] as? String)
            #expect(entries[1]["recorded_hash"] as? String == (try Ops.sha256(Ops.b.sql, on: database)))
            #expect(entries[1]["hash"] as? String == (try Ops.sha256("CREATE TABLE b (id int);\r\n", on: database)))
            #expect(entries[3]["row_id"] is NSNull && entries[3]["recorded_hash"] is NSNull)
            #expect(entries[4]["created_at"] as? Int == Int(Ops.base + 3000))

            let unknown = try #require(status["unknown_rows"] as? [[String: Any]])
            #expect(unknown.count == 1)
            #expect(Set(unknown[0].keys) == ["id", "hash", "created_at", "position"])
            #expect(unknown[0]["id"] as? Int == 4)
            #expect(unknown[0]["hash"] as? String == "feedface")
            #expect(unknown[0]["position"] as? String == "unmatched")

            let findings = try #require(status["findings"] as? [[String: Any]])
            #expect(
                Set(findings.compactMap { $0["kind"] as? String }) == [
                    "drift.changed", "drift.out_of_order", "drift.unknown_row",
                ])
            for finding in findings {
                #expect(
                    Set(finding.keys) == [
                        "kind", "fatal", "tag", "index", "row_id", "recorded_hash", "expected_hash", "created_at",
                        "message",
                    ])
                #expect(finding["fatal"] as? Bool == true)
            }

            // The same database fails the gate.
            #expect(try Ops.run(["verify"], database, folder).exitCode == 5)
        }
    }

    @Test("status (text) shows changed, out-of-order, pending and unknown rows, and says DRIFT")
    func text() throws {
        try withDatabase { database in
            let folder = try Self.mixedState(database)
            defer { folder.remove() }
            let result = try Ops.run(["status"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            func line(_ tag: String) -> String { lines.first { $0.contains(tag) } ?? "" }
            #expect(line("0000_a").contains("applied"))
            #expect(line("0001_b").contains("changed") && line("0001_b").contains("recorded "))
            #expect(line("0002_c").contains("applied"))
            #expect(line("0003_x").contains("out-of-order"))
            #expect(line("0004_d").contains("pending"))
            #expect(line("0000_a").contains("2025-10-09 08:53:20"))
            #expect(lines.contains { $0.contains("unknown") && $0.contains("unmatched, hash feedface") })
            #expect(lines.contains { $0.contains("DRIFT: 3 finding(s)") })
            #expect(lines.filter { $0.hasPrefix("  drift:") }.count == 3)
            #expect(!result.stdout.contains("{\"timestamp\""), "logs must not mix into the report")
        }
    }

    @Test("status after an app rollback: the newer row is listed as newer, a warning, no drift")
    func newerRow() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a, Ops.b])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try database.query(
                "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('0ddba11', \(Ops.base + 99_000))")
            let result = try Ops.run(["status"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.contains("unknown") && $0.contains("newer, hash 0ddba11") })
            #expect(lines.contains { $0.hasSuffix("2 applied, 0 pending, 1 unknown row(s); no drift") })
            #expect(lines.contains { $0.hasPrefix("  warning:") && $0.contains("newer than every migration") })

            let json = try Self.document(try Ops.run(["status", "--json"], database, folder))
            #expect((json["unknown_rows"] as? [[String: Any]])?.first?["position"] as? String == "newer")
            #expect((json["summary"] as? [String: Any])?["warnings"] as? Int == 1)
            #expect((json["summary"] as? [String: Any])?["drift"] as? Bool == false)
        }
    }

    @Test("status before anything was recorded: all pending, no table created, exit 0")
    func noTrackingTable() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            let result = try Ops.run(["status", "--json"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let status = try Self.document(result)
            #expect(status["table_exists"] as? Bool == false)
            let summary = try #require(status["summary"] as? [String: Any])
            #expect(summary["pending"] as? Int == 6 && summary["drift"] as? Bool == false)
            #expect(try !Ops.trackingExists(database))

            let text = try Ops.run(["status"], database, folder)
            #expect(text.stdout.contains("does not exist yet"))
            #expect(text.stdout.contains("0 applied, 6 pending, 0 unknown row(s); no drift"))
        }
    }

    @Test("status on a table Drizzle 1.0 took over: exit 5, nothing on stdout (the table cannot be read as 0.x)")
    func drizzleOneTable() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try database.query("ALTER TABLE drizzle.__drizzle_migrations ADD COLUMN name text")
            let result = try Ops.run(["status", "--json"], database, folder)
            #expect(result.exitCode == 5, "\(result.output)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("\\\"name\\\" column"))
        }
    }
}
