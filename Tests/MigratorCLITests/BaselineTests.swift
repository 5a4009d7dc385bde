import Foundation
import TestSupport
import Testing

/// `migrator baseline`: the one-time seeding of a database whose first migrations were applied by
/// hand before any tracking existed (the deploy guide's "seed script").
@Suite("baseline", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct BaselineTests {
    static let basicTags = [
        "0000_initial_schema", "0001_seed_rows", "0002_do_block_and_function", "0003_add_enum_value", "0004_indexes",
        "0005_backfill_display_name",
    ]

    @Test("hand-migrated database: baseline --through the last hand-applied tag, then up runs only later files")
    func handMigratedThenBaselineThenUp() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            try Ops.applyByHand(Array(Self.basicTags.prefix(3)), from: folder, on: database)
            #expect(try !Ops.trackingExists(database))

            // What the deploy guide warns about: without the seeding, up re-runs the first file and fails.
            let unseeded = try Ops.run(["up"], database, folder)
            #expect(unseeded.exitCode == 1, "\(unseeded.output)")
            #expect(try unseeded.events("migration.failed").first?["migration"] as? String == "0000_initial_schema")
            #expect(try database.trackingRows().isEmpty)

            let baseline = try Ops.run(["baseline", "--through", "0002_do_block_and_function"], database, folder)
            #expect(baseline.exitCode == 0, "\(baseline.output)")
            #expect(
                try baseline.events("baseline.recorded").map { $0["migration"] as? String }
                    == Array(Self.basicTags.prefix(3)))
            #expect(
                try baseline.events("baseline.recorded").allSatisfy { $0["hash"] is String && $0["created_at"] is Int })
            #expect(try baseline.events("migration.started").isEmpty)
            let expected = try Ops.expectedTracking()
            #expect(try database.trackingRows() == Array(expected.prefix(3)))
            #expect(try Ops.run(["verify"], database, folder).exitCode == 0)

            let up = try Ops.run(["up"], database, folder)
            #expect(up.exitCode == 0, "\(up.output)")
            #expect(try Ops.applied(up) == Array(Self.basicTags.suffix(3)))
            // Exactly the rows a Drizzle run on a fresh database writes, in the same order.
            #expect(try database.trackingRows() == expected)
            #expect(
                try database.query("SELECT string_agg(display_name, ',' ORDER BY id) FROM customers") == [
                    ["Ana,Zoë,山田"]
                ])
            #expect(try database.query("SELECT cents_to_text(1250)") == [["12.50 EUR; net"]])
        }
    }

    @Test("baseline without --through records every entry; a second baseline records nothing; up applies nothing")
    func baselineEverything() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            try Ops.applyByHand(Self.basicTags, from: folder, on: database)
            let first = try Ops.run(["baseline"], database, folder)
            #expect(first.exitCode == 0, "\(first.output)")
            #expect(try first.events("baseline.recorded").count == 6)
            #expect(try database.trackingRows() == Ops.expectedTracking())

            let second = try Ops.run(["baseline"], database, folder)
            #expect(second.exitCode == 0)
            #expect(try second.events("baseline.recorded").isEmpty)
            #expect(try second.events("baseline.planned").first?["count"] as? Int == 0)

            let up = try Ops.run(["up"], database, folder)
            #expect(up.exitCode == 0)
            #expect(try Ops.applied(up).isEmpty)
            #expect(try database.trackingRows() == Ops.expectedTracking())
        }
    }

    @Test("baseline with an unknown tag exits 2 and changes nothing")
    func unknownTag() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            let result = try Ops.run(["baseline", "--through", "0009_nope"], database, folder)
            #expect(result.exitCode == 2, "\(result.output)")
            let error = try #require(result.lastLine?["error"] as? String)
            #expect(error.contains("0009_nope") && error.contains("0000_initial_schema"))
            #expect(try !Ops.trackingExists(database))
        }
    }

    @Test("baseline --dry-run lists the rows it would write and changes nothing")
    func dryRun() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            let result = try Ops.run(["baseline", "--through", "0001_seed_rows", "--dry-run"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let planned = try result.events("baseline.planned")
            #expect(planned.compactMap { $0["migration"] as? String } == ["0000_initial_schema", "0001_seed_rows"])
            #expect(planned.last?["count"] as? Int == 2)
            #expect(planned.last?["dry_run"] as? Bool == true)
            #expect(try !Ops.trackingExists(database))
            #expect(try Ops.snapshot(database).tables.isEmpty)
        }
    }

    @Test("baseline refuses (exit 5) when the recorded history already drifts, and records nothing")
    func refusesOnDrift() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a, Ops.b])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try folder.write("0001_b", "CREATE TABLE b (id bigint);\n")
            try folder.append(Ops.c)
            let before = try Ops.snapshot(database)
            let result = try Ops.run(["baseline"], database, folder)
            #expect(result.exitCode == 5, "\(result.output)")
            #expect(try Ops.driftEvents(result).map { $0["event"] as? String } == ["drift.changed"])
            #expect(try result.events("baseline.recorded").isEmpty)
            #expect(try Ops.snapshot(database) == before)
        }
    }

    @Test("baseline --through fills an out-of-order hole whose file was applied by hand")
    func fillsOutOfOrderHole() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a, Ops.file("0001_c", "c", Ops.base + 2000)])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            try folder.append(Ops.file("0002_b", "b", Ops.base + 1000))
            try folder.append(Ops.file("0003_d", "d", Ops.base + 3000))
            try Ops.applyByHand(["0002_b"], from: folder, on: database)
            #expect(try Ops.run(["verify"], database, folder).exitCode == 5)

            let result = try Ops.run(["baseline", "--through", "0002_b"], database, folder)
            #expect(result.exitCode == 0, "\(result.output)")
            let recorded = try result.events("baseline.recorded")
            #expect(recorded.map { $0["migration"] as? String } == ["0002_b"])
            #expect(recorded.first?["out_of_order"] as? Bool == true)
            #expect(try Ops.run(["verify"], database, folder).exitCode == 0)
            let up = try Ops.run(["up"], database, folder)
            #expect(try Ops.applied(up) == ["0003_d"])
        }
    }

    @Test("an applied file edited on purpose: forget --force, then baseline --through records its new hash")
    func reRecordAChangedFile() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([Ops.a, Ops.b, Ops.c])
            defer { folder.remove() }
            #expect(try Ops.run(["up"], database, folder).exitCode == 0)
            let edited = "-- reviewed: same table, comment added\n" + Ops.b.sql
            try folder.write("0001_b", edited)
            #expect(try Ops.run(["verify"], database, folder).exitCode == 5)

            #expect(try Ops.run(["forget", "0001_b"], database, folder).exitCode == 2)
            #expect(try Ops.run(["forget", "0001_b", "--force"], database, folder).exitCode == 0)
            let baseline = try Ops.run(["baseline", "--through", "0001_b"], database, folder)
            #expect(baseline.exitCode == 0, "\(baseline.output)")
            #expect(try baseline.events("baseline.recorded").map { $0["migration"] as? String } == ["0001_b"])
            #expect(try Ops.run(["verify"], database, folder).exitCode == 0)
            #expect(try database.trackingRows().last == "\(try Ops.sha256(edited, on: database))\t\(Ops.base + 1000)")
        }
    }
}
