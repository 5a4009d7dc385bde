import Foundation
import TestSupport
import Testing

/// Drift on a Drizzle 1.0 table (matched by name), and the commands that write rows, on the 1.0 layout.
@Suite("Drizzle 1.0 drift", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct DrizzleV1DriftTests {
    static func migration(_ stamp: String, _ table: String) -> (name: String, sql: String) {
        ("\(stamp)_\(table)", "CREATE TABLE \"\(table)\" (id int);\n")
    }
    static let a = migration("20251001100000", "a")
    static let b = migration("20251002100000", "b")
    static let c = migration("20251003100000", "c")

    /// A, B, C applied on a 1.0 table.
    static func applied(_ database: TestDatabase) throws -> DrizzleFolder {
        let folder = try DrizzleFolder.folders([a, b, c])
        #expect(try Ops.run(["up"], database, folder).exitCode == 0)
        return folder
    }

    /// up, up --dry-run and verify all exit 5 with one `event` line and change nothing.
    static func expectDrift(_ event: String, _ database: TestDatabase, _ folder: DrizzleFolder) throws {
        let before = try Ops.snapshot(database)
        for arguments in [["up"], ["up", "--dry-run"], ["verify"]] {
            let result = try Ops.run(arguments, database, folder)
            #expect(result.exitCode == 5, "\(arguments): \(result.output)")
            #expect(try Ops.driftEvents(result).map { $0["event"] as? String } == [event], "\(result.output)")
            #expect(try Ops.snapshot(database) == before)
        }
    }

    @Test("a changed file under an applied name")
    func changed() throws {
        try withDatabase { database in
            let folder = try Self.applied(database)
            defer { folder.remove() }
            try folder.writeMigration(Self.b.name, "CREATE TABLE b (id bigint);\n")
            try Self.expectDrift("drift.changed", database, folder)
        }
    }

    @Test("a new folder older than the newest applied one; applied with --allow-out-of-order")
    func outOfOrder() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.folders([Self.a, Self.c])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try folder.writeMigration(Self.b.name, Self.b.sql)
            try Self.expectDrift("drift.out_of_order", database, folder)
            let allowed = try Ops.run(["up", "--allow-out-of-order"], database, folder)
            let appliedNow = try Ops.applied(allowed)
            #expect(allowed.exitCode == 0 && appliedNow == [Self.b.name], "\(allowed.output)")
        }
    }

    @Test("a row whose name no folder has: drift among the folders, a warning past the newest")
    func unknownRow() throws {
        try withDatabase { database in
            let folder = try Self.applied(database)
            defer { folder.remove() }
            try FileManager.default.removeItem(atPath: folder.path + "/" + Self.b.name)
            try Self.expectDrift("drift.unknown_row", database, folder)

            try folder.writeMigration(Self.b.name, Self.b.sql)
            try FileManager.default.removeItem(atPath: folder.path + "/" + Self.c.name)
            let rollback = try Ops.run(["up"], database, folder)
            #expect(rollback.exitCode == 0, "\(rollback.output)")
            #expect(try Ops.driftEvents(rollback).map { $0["event"] as? String } == ["drift.newer_rows"])
        }
    }

    @Test("a row without a name on a 1.0 table (Drizzle 1.0 would run its file again)")
    func unnamedRow() throws {
        try withDatabase { database in
            let folder = try Self.applied(database)
            defer { folder.remove() }
            try database.query("UPDATE drizzle.__drizzle_migrations SET name = NULL WHERE id = 3")
            try Self.expectDrift("drift.unnamed_row", database, folder)
        }
    }

    @Test("a journal folder on a 1.0 table is refused with exit 5, pointing at drizzle-kit up")
    func journalOnV1Table() throws {
        try withDatabase { database in
            let folder = try Self.applied(database)
            defer { folder.remove() }
            let journal = try DrizzleFolder([Ops.a])
            defer { journal.remove() }
            let result = try Ops.run(["up"], database, journal)
            #expect(result.exitCode == 5)
            #expect(result.finalError.contains("drizzle-kit up"), "\(result.finalError)")
        }
    }

    @Test("baseline --through and forget by folder name; status --json names the layout")
    func baselineAndForget() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.folders([Self.a, Self.b, Self.c])
            defer { folder.remove() }
            let baseline = try Ops.run(["baseline", "--through", Self.b.name], database, folder)
            #expect(baseline.exitCode == 0, "\(baseline.output)")
            #expect(try DrizzleV1Tests.columns(database) == DrizzleV1Tests.v1Columns)
            #expect(
                try database.query("SELECT name FROM drizzle.__drizzle_migrations ORDER BY id") == [
                    [Self.a.name], [Self.b.name],
                ])
            let status = try StatusTests.document(try Ops.run(["status", "--json"], database, folder))
            #expect(status["layout"] as? String == "folders" && status["table_version"] as? Int == 1)
            #expect((status["summary"] as? [String: Any])?["pending"] as? Int == 1)

            let refused = try Ops.run(["forget", Self.a.name], database, folder)
            #expect(refused.exitCode == 2, "newer row \(Self.b.name) exists: \(refused.output)")
            let forget = try Ops.run(["forget", Self.b.name], database, folder)
            #expect(forget.exitCode == 0, "\(forget.output)")
            #expect(try database.query("SELECT name FROM drizzle.__drizzle_migrations") == [[Self.a.name]])
            let up = try Ops.run(["up"], database, folder)
            #expect(try Ops.applied(up) == [Self.b.name, Self.c.name], "\(up.output)")
        }
    }

    @Test("on a 0.x table, baseline and forget upgrade it first, then record and delete by name")
    func upgradeBeforeBaselineAndForget() throws {
        try withDatabase { database in
            let journal = try DrizzleFolder([Ops.a, Ops.b])
            defer { journal.remove() }
            #expect(try Ops.run(["up"], database, journal).exitCode == 0)
            try journal.append(Ops.c)
            let v1 = try journal.convertedToFolders()
            defer { v1.remove() }
            let names = v1.migrationFolders

            let dry = try Ops.run(["forget", names[1], "--dry-run"], database, v1)
            #expect(dry.exitCode == 0 && dry.count("forget.planned") == 1, "\(dry.output)")
            #expect(try DrizzleV1Tests.columns(database).count == 3, "a dry run changes nothing")

            let baseline = try Ops.run(["baseline"], database, v1)
            #expect(baseline.exitCode == 0 && baseline.count("tracking.upgraded") == 1, "\(baseline.output)")
            #expect(
                try database.query("SELECT name FROM drizzle.__drizzle_migrations ORDER BY id").map { $0[0] } == names)
            #expect(try DrizzleV1Tests.appliedAtNull(database) == [true, true, false])

            let forget = try Ops.run(["forget", names[2]], database, v1)
            #expect(forget.exitCode == 0, "\(forget.output)")
            #expect(
                try database.query("SELECT name FROM drizzle.__drizzle_migrations ORDER BY id").map { $0[0] }
                    == Array(names.prefix(2)))
        }
    }
}
