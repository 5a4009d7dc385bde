import MigrationEngine
import Testing

/// Drizzle 1.0's rules: rows matched by name, and the upgrade of a 0.x table.
@Suite("Plan: Drizzle 1.0 folders")
struct PlanV1Tests {
    static func migration(_ index: Int, _ name: String, _ when: Int64, _ sql: String? = nil) -> Migration {
        Migration(index: index, tag: name, when: when, sql: sql ?? "CREATE TABLE t\(index) (id int);", layout: .folders)
    }
    static let a = migration(0, "20250101100000_a", 1_735_725_600_000)
    static let b = migration(1, "20250102100000_b", 1_735_812_000_000)
    static let b2 = migration(2, "20250102100000_b2", 1_735_812_000_000)
    static let c = migration(3, "20250103100000_c", 1_735_898_400_000)

    static func row(_ id: Int64, _ migration: Migration, named: Bool = true, millis: Int64 = 0) -> TrackingRow {
        TrackingRow(
            id: id, hash: migration.hash, createdAt: migration.when + millis, name: named ? migration.tag : nil)
    }

    @Test("pending by name; a row of another name among the folders is drift, past them a warning")
    func byName() {
        let plan = Plan(
            migrations: [Self.a, Self.b, Self.c], rows: [Self.row(1, Self.a), Self.row(2, Self.c)],
            allowOutOfOrder: false, layout: .folders, tableVersion: 1)
        #expect(plan.entries.map(\.state) == [.applied, .outOfOrder, .applied])
        #expect(plan.findings.map(\.kind) == [.outOfOrder])
        #expect(plan.findings[0].message.contains("Drizzle 1.0 would apply it out of order"))

        var ghost = Self.row(3, Self.b)
        ghost.name = "20250102110000_gone"
        var future = Self.row(4, Self.c)
        future.name = "20990101000000_later"
        let drift = Plan(
            migrations: [Self.a, Self.b, Self.c], rows: [Self.row(1, Self.a), ghost, future], allowOutOfOrder: false,
            layout: .folders, tableVersion: 1)
        #expect(drift.findings.map(\.kind) == [.unknownRow, .newerRows, .outOfOrder])
        #expect(drift.unknownRows.map(\.id) == [3, 4])
    }

    @Test("a folder of the same second as the newest row is not out of order (1.0 orders them by name)")
    func sameSecond() {
        let plan = Plan(
            migrations: [Self.a, Self.b, Self.b2], rows: [Self.row(1, Self.a), Self.row(2, Self.b)],
            allowOutOfOrder: false, layout: .folders, tableVersion: 1)
        #expect(plan.entries.map(\.state) == [.applied, .applied, .pending])
        #expect(plan.findings.isEmpty)
    }

    @Test("upgrade: by created_at to the second, ties by hash, else by hash; duplicates share a name")
    func upgrade() throws {
        let moved = Self.migration(3, "20250201000000_moved", 1_738_368_000_000, "CREATE TABLE t1 (id int);")
        let rows = [
            Self.row(1, Self.a, named: false, millis: 123), Self.row(2, Self.b2, named: false, millis: 5),
            TrackingRow(id: 3, hash: moved.hash, createdAt: 42), Self.row(4, Self.a, named: false, millis: 999),
        ]
        let upgrade = TrackingUpgrade(rows: rows, migrations: [Self.a, Self.b, Self.b2, moved])
        #expect(upgrade.names.map(\.name) == [Self.a.tag, Self.b2.tag, moved.tag, Self.a.tag])
        #expect(upgrade.unmatched.isEmpty)
        let plan = Plan(
            migrations: [Self.a, Self.b, Self.b2, moved], rows: rows, allowOutOfOrder: false, layout: .folders,
            tableVersion: 0)
        #expect(plan.upgrade != nil)
        #expect(plan.entries.map(\.state) == [.applied, .pending, .applied, .applied])
        #expect(plan.findings.map(\.kind) == [.duplicateRow])
    }

    @Test("upgrade: a row nothing matches is one fatal finding naming every such row")
    func unmatched() throws {
        let rows = [
            Self.row(1, Self.a, named: false),
            TrackingRow(id: 2, hash: "feedface", createdAt: Self.b.when),
            TrackingRow(id: 5, hash: "0ddba11", createdAt: 7),
        ]
        let tie = Plan(
            migrations: [Self.a, Self.b, Self.b2], rows: rows, allowOutOfOrder: false, layout: .folders,
            tableVersion: 0)
        #expect(tie.upgrade?.unmatched.map(\.id) == [2, 5])
        let finding = try #require(tie.fatalFindings.first)
        #expect(tie.fatalFindings.count == 1 && finding.kind == .unnamedRow)
        #expect(finding.message.contains("row id(s) 2, 5"))
    }
}
