import MigrationEngine

/// The `status --json` document. Absent values are `null`, never left out: the synthesized
/// conformance would omit them (`encodeIfPresent`), so optionals go through `Nullable`.
struct StatusDocument: Encodable {
    var format: Int
    var database: String
    var table: String
    var tableExists: Bool
    /// `journal` (drizzle-kit 0.x) or `folders` (1.0), and 0 / 1 / null (no table yet).
    var layout: MigrationFolder.Layout
    var tableVersion: Nullable<Int>
    var upgradeDue: Bool
    var summary: Summary
    var entries: [Entry]
    var unknownRows: [UnknownRow]
    var findings: [Finding]

    struct Summary: Encodable {
        var total, applied, pending, changed, outOfOrder, unknownRows: Int
        var drift: Bool
        var warnings: Int
    }

    struct Entry: Encodable {
        var index: Int
        var tag: String
        var createdAt: Int64
        var hash: String
        var state: Plan.State
        var mode: Migration.Mode
        var rowId: Nullable<Int64>
        var recordedHash: Nullable<String>
    }

    struct UnknownRow: Encodable {
        var id: Int64
        var hash: String
        var createdAt: Nullable<Int64>
        var position: String
    }

    struct Finding: Encodable {
        var kind: Plan.Finding.Kind
        var fatal: Bool
        var tag: Nullable<String>
        var index: Nullable<Int>
        var rowId: Nullable<Int64>
        var recordedHash: Nullable<String>
        var expectedHash: Nullable<String>
        var createdAt: Nullable<Int64>
        var message: String
    }

    init(_ report: StatusReport) {
        let plan = report.plan
        func count(_ state: Plan.State) -> Int { plan.entries.count { $0.state == state } }
        format = StatusReport.format
        database = report.database
        table = report.table
        tableExists = report.tableExists
        layout = plan.layout
        tableVersion = Nullable(plan.tableVersion)
        upgradeDue = plan.upgrade != nil
        summary = Summary(
            total: plan.entries.count, applied: count(.applied), pending: count(.pending), changed: count(.changed),
            outOfOrder: count(.outOfOrder), unknownRows: plan.unknownRows.count, drift: !plan.fatalFindings.isEmpty,
            warnings: plan.findings.count - plan.fatalFindings.count)
        entries = plan.entries.map { entry in
            Entry(
                index: entry.migration.index, tag: entry.migration.tag, createdAt: entry.migration.when,
                hash: entry.migration.hash, state: entry.state, mode: entry.migration.mode,
                rowId: Nullable(entry.row?.id), recordedHash: Nullable(entry.row?.hash))
        }
        unknownRows = plan.unknownRows.map { row in
            UnknownRow(
                id: row.id, hash: row.hash, createdAt: Nullable(row.createdAt), position: report.position(of: row))
        }
        findings = plan.findings.map { finding in
            Finding(
                kind: finding.kind, fatal: finding.isFatal, tag: Nullable(finding.tag), index: Nullable(finding.index),
                rowId: Nullable(finding.rowID), recordedHash: Nullable(finding.recordedHash),
                expectedHash: Nullable(finding.expectedHash), createdAt: Nullable(finding.createdAt),
                message: finding.message)
        }
    }
}

/// An optional that encodes as `null` when absent.
struct Nullable<Wrapped: Encodable>: Encodable {
    var value: Wrapped?

    init(_ value: Wrapped?) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}
