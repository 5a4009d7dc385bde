import Foundation
import TestSupport
import Testing

/// `migrator forget TAG`: deleting one tracking row after the migration was undone by hand.
@Suite("forget", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct ForgetTests {
    static func applied(_ database: TestDatabase) throws -> DrizzleFolder {
        let folder = try DrizzleFolder([Ops.a, Ops.b, Ops.c])
        let result = try Ops.run(["up"], database, folder)
        #expect(result.exitCode == 0, "\(result.output)")
        return folder
    }

    @Test("after undoing the last migration by hand: forget it, then up re-applies exactly that file")
    func forgetThenUp() throws {
        try withDatabase { database in
            let folder = try Self.applied(database)
            defer { folder.remove() }
            let original = try database.trackingRows()
            try database.query("DROP TABLE c")

            let forget = try Ops.run(["forget", "0002_c"], database, folder)
            #expect(forget.exitCode == 0, "\(forget.output)")
            let line = try #require(try forget.events("migration.forgotten").first)
            #expect(line["migration"] as? String == "0002_c")
            #expect(line["id"] as? Int == 3)
            #expect(line["hash"] as? String == String(original[2].split(separator: "\t")[0]))
            #expect(line["created_at"] as? Int == Int(Ops.base + 2000))
            #expect(try database.trackingRows() == Array(original.prefix(2)))

            let up = try Ops.run(["up"], database, folder)
            #expect(up.exitCode == 0, "\(up.output)")
            #expect(try Ops.applied(up) == ["0002_c"])
            #expect(try database.trackingRows() == original)
        }
    }

    @Test("forget refuses (exit 2) when newer rows exist; --force deletes it and it becomes out of order")
    func newerRows() throws {
        try withDatabase { database in
            let folder = try Self.applied(database)
            defer { folder.remove() }
            let before = try Ops.snapshot(database)
            let refused = try Ops.run(["forget", "0001_b"], database, folder)
            #expect(refused.exitCode == 2, "\(refused.output)")
            #expect((refused.lastLine?["error"] as? String)?.contains("--force") == true)
            #expect(try Ops.snapshot(database) == before)

            try database.query("DROP TABLE b")
            let forced = try Ops.run(["forget", "0001_b", "--force"], database, folder)
            #expect(forced.exitCode == 0, "\(forced.output)")
            #expect(try forced.events("forget.forced").count == 1)
            #expect(try forced.events("migration.forgotten").first?["migration"] as? String == "0001_b")
            #expect(try database.trackingRows().count == 2)

            // Now older than the newest row: the gate says so, and only an explicit override re-applies it.
            #expect(try Ops.run(["verify"], database, folder).exitCode == 5)
            let up = try Ops.run(["up", "--allow-out-of-order"], database, folder)
            #expect(up.exitCode == 0, "\(up.output)")
            #expect(try Ops.applied(up) == ["0001_b"])
            #expect(try Ops.run(["verify"], database, folder).exitCode == 0)
        }
    }

    @Test("forget of a tag that is not recorded, not in the journal, or with no tracking table: exit 2")
    func notRecorded() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a, Ops.b])
            defer { folder.remove() }
            let noTable = try Ops.run(["forget", "0000_a"], database, folder)
            #expect(noTable.exitCode == 2, "\(noTable.output)")
            #expect(try !Ops.trackingExists(database))

            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try folder.append(Ops.c)
            let before = try Ops.snapshot(database)
            let pending = try Ops.run(["forget", "0002_c"], database, folder)
            #expect(pending.exitCode == 2, "\(pending.output)")
            #expect((pending.lastLine?["error"] as? String)?.contains("not recorded") == true)
            let unknown = try Ops.run(["forget", "0042_nope"], database, folder)
            #expect(unknown.exitCode == 2, "\(unknown.output)")
            #expect((unknown.lastLine?["error"] as? String)?.contains("unknown migration tag") == true)
            #expect(try Ops.snapshot(database) == before)
        }
    }

    @Test("forget --dry-run names the row it would delete and changes nothing")
    func dryRun() throws {
        try withDatabase { database in
            let folder = try Self.applied(database)
            defer { folder.remove() }
            let before = try Ops.snapshot(database)
            let result = try Ops.run(["forget", "0002_c", "--dry-run"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let planned = try #require(try result.events("forget.planned").first)
            #expect(planned["id"] as? Int == 3)
            #expect(planned["dry_run"] as? Bool == true)
            #expect(try result.events("migration.forgotten").isEmpty)
            #expect(try Ops.snapshot(database) == before)
            // Refusals hold in a dry run too.
            #expect(try Ops.run(["forget", "0000_a", "--dry-run"], database, folder).exitCode == 2)
        }
    }
}
