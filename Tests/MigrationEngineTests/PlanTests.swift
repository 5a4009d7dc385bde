import MigrationEngine
import Testing

/// The drift rules of the contract, on plain values: no database, no files.
@Suite("Plan: recorded history against the folder")
struct PlanTests {
    static let a = Migration(index: 0, tag: "0000_a", when: 100, sql: "CREATE TABLE a (id int);")
    static let b = Migration(index: 1, tag: "0001_b", when: 200, sql: "CREATE TABLE b (id int);")
    static let c = Migration(index: 2, tag: "0002_c", when: 300, sql: "CREATE TABLE c (id int);")

    static func row(_ id: Int64, _ migration: Migration) -> TrackingRow {
        TrackingRow(id: id, hash: migration.hash, createdAt: migration.when)
    }

    static func states(_ plan: Plan) -> [Plan.State] { plan.entries.map(\.state) }
    static func kinds(_ plan: Plan) -> [Plan.Finding.Kind] { plan.findings.map(\.kind) }

    @Test("no tracking rows: everything pending, in journal order, no findings")
    func fresh() {
        let plan = Plan(migrations: [Self.a, Self.b, Self.c], rows: [], allowOutOfOrder: false)
        #expect(Self.states(plan) == [.pending, .pending, .pending])
        #expect(plan.pending.map(\.tag) == ["0000_a", "0001_b", "0002_c"])
        #expect(plan.findings.isEmpty)
        #expect(plan.last == nil)
    }

    @Test("rows for the first entries: those applied, the rest pending")
    func partlyApplied() {
        let plan = Plan(
            migrations: [Self.a, Self.b, Self.c], rows: [Self.row(1, Self.a), Self.row(2, Self.b)],
            allowOutOfOrder: false)
        #expect(Self.states(plan) == [.applied, .applied, .pending])
        #expect(plan.entries[1].row?.id == 2)
        #expect(plan.pending.map(\.tag) == ["0002_c"])
        #expect(plan.appliedCount == 2)
        #expect(plan.findings.isEmpty)
        #expect(plan.last == 200)
    }

    @Test("changed file: the recorded hash differs; fatal, names tag, index, both hashes, and line endings")
    func changedHash() throws {
        let edited = Migration(index: 1, tag: "0001_b", when: 200, sql: "CREATE TABLE b (id int);\r\n")
        let rows = [Self.row(1, Self.a), Self.row(2, Self.b)]
        let plan = Plan(migrations: [Self.a, edited, Self.c], rows: rows, allowOutOfOrder: true)
        #expect(Self.states(plan) == [.applied, .changed, .pending])
        let finding = try #require(plan.findings.first)
        #expect(plan.findings.count == 1)
        #expect(finding.kind == .changed)
        #expect(finding.isFatal)
        #expect(finding.tag == "0001_b")
        #expect(finding.index == 1)
        #expect(finding.rowID == 2)
        #expect(finding.recordedHash == Self.b.hash)
        #expect(finding.expectedHash == edited.hash)
        #expect(finding.message.contains("line endings"))
        #expect(finding.message.contains(Self.b.hash) && finding.message.contains(edited.hash))
        // A changed entry is recorded: it is neither pending nor applied again.
        #expect(plan.pending.map(\.tag) == ["0002_c"])
    }

    @Test("out-of-order pending entry (older than the newest row): fatal, unless allowed")
    func outOfOrder() throws {
        let rows = [Self.row(1, Self.a), Self.row(2, Self.c)]
        let strict = Plan(migrations: [Self.a, Self.b, Self.c], rows: rows, allowOutOfOrder: false)
        #expect(Self.states(strict) == [.applied, .outOfOrder, .applied])
        let finding = try #require(strict.findings.first)
        #expect(Self.kinds(strict) == [.outOfOrder])
        #expect(finding.isFatal)
        #expect(finding.tag == "0001_b" && finding.index == 1 && finding.expectedHash == Self.b.hash)
        #expect(finding.recordedHash == nil)
        #expect(finding.message.contains("--allow-out-of-order"))

        let allowed = Plan(migrations: [Self.a, Self.b, Self.c], rows: rows, allowOutOfOrder: true)
        #expect(Self.kinds(allowed) == [.outOfOrder])
        #expect(allowed.fatalFindings.isEmpty)
        #expect(allowed.pending.map(\.tag) == ["0001_b"])
        #expect(allowed.findings[0].message.contains("applying it"))
    }

    @Test("an entry whose when equals the newest row's but has no row of its own is out of order (Drizzle skips it)")
    func equalWhenIsOutOfOrder() {
        let twin = Migration(index: 1, tag: "0001_twin", when: 100, sql: "SELECT 2;")
        let plan = Plan(migrations: [Self.a, twin], rows: [Self.row(1, Self.a)], allowOutOfOrder: false)
        #expect(Self.states(plan) == [.applied, .outOfOrder])
        #expect(plan.fatalFindings.count == 1)
    }

    @Test("out-of-order entries are applied in journal order, among the newer pending ones")
    func allowedOrder() {
        let d = Migration(index: 3, tag: "0003_d", when: 400, sql: "SELECT 4;")
        let e = Migration(index: 4, tag: "0004_e", when: 250, sql: "SELECT 5;")
        let rows = [Self.row(1, Self.a), Self.row(2, Self.c)]
        let plan = Plan(migrations: [Self.a, Self.b, Self.c, d, e], rows: rows, allowOutOfOrder: true)
        #expect(plan.pending.map(\.tag) == ["0001_b", "0003_d", "0004_e"])
        #expect(Self.states(plan) == [.applied, .outOfOrder, .applied, .pending, .outOfOrder])
        // 0004_e is reported once, as out of order, not also as non-monotonic after 0003_d.
        #expect(Self.kinds(plan) == [.outOfOrder, .outOfOrder])
    }

    @Test("rows newer than every entry (image older than the database): warning only")
    func newerRows() throws {
        let rows = [Self.row(1, Self.a), Self.row(2, Self.b), TrackingRow(id: 3, hash: "ff", createdAt: 999)]
        let plan = Plan(migrations: [Self.a, Self.b], rows: rows, allowOutOfOrder: false)
        #expect(Self.states(plan) == [.applied, .applied])
        #expect(plan.unknownRows.map(\.id) == [3])
        let finding = try #require(plan.findings.first)
        #expect(Self.kinds(plan) == [.newerRows])
        #expect(!finding.isFatal)
        #expect(finding.rowID == 3 && finding.recordedHash == "ff" && finding.createdAt == 999)
        #expect(plan.pending.isEmpty)
        #expect(plan.fatalFindings.isEmpty)
    }

    @Test("an empty journal with rows: the database is ahead, warning only")
    func emptyJournal() {
        let plan = Plan(migrations: [], rows: [Self.row(1, Self.a)], allowOutOfOrder: false)
        #expect(Self.kinds(plan) == [.newerRows])
        #expect(plan.fatalFindings.isEmpty)
    }

    @Test("a row matching no entry, with entries after it: fatal", arguments: [Int64(50), 150, 299])
    func unknownRowInTheMiddle(createdAt: Int64) throws {
        let rows = [Self.row(1, Self.a), TrackingRow(id: 2, hash: "abc", createdAt: createdAt)]
        let plan = Plan(migrations: [Self.a, Self.c], rows: rows, allowOutOfOrder: true)
        let finding = try #require(plan.findings.first)
        #expect(Self.kinds(plan) == [.unknownRow])
        #expect(finding.isFatal)
        #expect(finding.rowID == 2 && finding.recordedHash == "abc" && finding.createdAt == createdAt)
        #expect(finding.message.contains("matches no journal entry"))
        #expect(plan.unknownRows.map(\.id) == [2])
        #expect(Self.states(plan) == [.applied, .pending])
    }

    @Test("a removed entry: its row stays and is drift once later entries exist")
    func removedEntry() throws {
        let rows = [Self.row(1, Self.a), Self.row(2, Self.b), Self.row(3, Self.c)]
        let plan = Plan(migrations: [Self.a, Self.c], rows: rows, allowOutOfOrder: false)
        #expect(Self.states(plan) == [.applied, .applied])
        let finding = try #require(plan.fatalFindings.first)
        #expect(finding.kind == .unknownRow && finding.rowID == 2 && finding.createdAt == 200)
    }

    @Test("NULL created_at: fatal (Drizzle would re-run everything)")
    func nullCreatedAt() throws {
        let rows = [Self.row(1, Self.a), TrackingRow(id: 2, hash: Self.b.hash, createdAt: nil)]
        let plan = Plan(migrations: [Self.a, Self.b], rows: rows, allowOutOfOrder: true)
        let finding = try #require(plan.findings.first)
        #expect(Self.kinds(plan) == [.nullCreatedAt])
        #expect(finding.isFatal && finding.rowID == 2 && finding.recordedHash == Self.b.hash)
        #expect(plan.unknownRows.map(\.id) == [2])
        #expect(Self.states(plan) == [.applied, .pending])
    }

    @Test("pending entries whose when does not increase in journal order: fatal, unless out-of-order is allowed")
    func nonMonotonic() throws {
        let late = Migration(index: 1, tag: "0001_late", when: 300, sql: "SELECT 1;")
        let early = Migration(index: 2, tag: "0002_early", when: 200, sql: "SELECT 2;")
        let strict = Plan(migrations: [Self.a, late, early], rows: [Self.row(1, Self.a)], allowOutOfOrder: false)
        #expect(Self.states(strict) == [.applied, .pending, .pending])
        let finding = try #require(strict.findings.first)
        #expect(Self.kinds(strict) == [.nonMonotonic])
        #expect(finding.isFatal && finding.tag == "0002_early" && finding.index == 2)
        #expect(finding.message.contains("0001_late"))

        let allowed = Plan(migrations: [Self.a, late, early], rows: [Self.row(1, Self.a)], allowOutOfOrder: true)
        #expect(allowed.fatalFindings.isEmpty)
        #expect(allowed.pending.map(\.tag) == ["0001_late", "0002_early"])

        // Equal `when` values are not increasing either.
        let same = Migration(index: 2, tag: "0002_same", when: 300, sql: "SELECT 3;")
        #expect(
            Self.kinds(Plan(migrations: [Self.a, late, same], rows: [], allowOutOfOrder: false)) == [.nonMonotonic])
    }

    @Test("the same file recorded twice (Drizzle's concurrent runs): warning only")
    func duplicateRows() throws {
        let rows = [Self.row(1, Self.a), Self.row(2, Self.a), Self.row(3, Self.b)]
        let plan = Plan(migrations: [Self.a, Self.b], rows: rows, allowOutOfOrder: false)
        #expect(Self.states(plan) == [.applied, .applied])
        let finding = try #require(plan.findings.first)
        #expect(Self.kinds(plan) == [.duplicateRow])
        #expect(!finding.isFatal && finding.tag == "0000_a" && finding.rowID == 2)
        #expect(plan.unknownRows.isEmpty)
    }

    @Test("entries sharing a when are matched by hash, whatever the row order")
    func sharedWhen() {
        let x = Migration(index: 0, tag: "0000_x", when: 100, sql: "SELECT 'x';")
        let y = Migration(index: 1, tag: "0001_y", when: 100, sql: "SELECT 'y';")
        let both = Plan(
            migrations: [x, y], rows: [Self.row(1, y), Self.row(2, x)], allowOutOfOrder: false)
        #expect(Self.states(both) == [.applied, .applied])
        #expect(both.entries.map { $0.row?.id } == [2, 1])
        #expect(both.findings.isEmpty)

        // Only y recorded: x shares the newest when without a row, so Drizzle would skip it.
        let onlyY = Plan(migrations: [x, y], rows: [Self.row(1, y)], allowOutOfOrder: false)
        #expect(Self.states(onlyY) == [.outOfOrder, .applied])
        #expect(onlyY.entries[1].row?.id == 1)

        // A row with that when but neither hash is the changed one of the unmatched entry.
        let stray = TrackingRow(id: 2, hash: "00", createdAt: 100)
        let changed = Plan(migrations: [x, y], rows: [stray, Self.row(3, x)], allowOutOfOrder: false)
        #expect(Self.states(changed) == [.applied, .changed])
        #expect(changed.entries[0].row?.id == 3)
        #expect(Self.kinds(changed) == [.changed])
    }

    @Test("an exact (when, hash) match wins over an earlier row with the same when and another hash")
    func exactMatchFirst() throws {
        let rows = [TrackingRow(id: 1, hash: "00", createdAt: 100), Self.row(2, Self.a)]
        let plan = Plan(migrations: [Self.a, Self.b], rows: rows, allowOutOfOrder: false)
        #expect(Self.states(plan) == [.applied, .pending])
        #expect(plan.entries[0].row?.id == 2)
        let finding = try #require(plan.fatalFindings.first)
        #expect(finding.kind == .unknownRow && finding.rowID == 1 && finding.tag == "0000_a")
    }

    @Test("a change of line endings only is named as such, in both directions; a real edit is not")
    func lineEndingsOnly() throws {
        let lf = Migration(index: 0, tag: "0000_a", when: 100, sql: "CREATE TABLE a (\n  id int\n);\n")
        let crlf = Migration(index: 0, tag: "0000_a", when: 100, sql: "CREATE TABLE a (\r\n  id int\r\n);\r\n")
        let edited = Migration(index: 0, tag: "0000_a", when: 100, sql: "CREATE TABLE a (\r\n  id bigint\r\n);\r\n")
        for (file, applied, expected) in [(crlf, lf, "the file now has CRLF"), (lf, crlf, "the file now has LF")] {
            let plan = Plan(migrations: [file], rows: [Self.row(1, applied)], allowOutOfOrder: false)
            let message = try #require(plan.fatalFindings.first?.message)
            #expect(message.contains("only in its line endings") && message.contains(expected), "\(message)")
        }
        let plan = Plan(migrations: [edited], rows: [Self.row(1, lf)], allowOutOfOrder: false)
        let message = try #require(plan.fatalFindings.first?.message)
        #expect(!message.contains("only in its line endings"))
        #expect(message.contains("line endings") && message.contains("new migration"))
    }
}
