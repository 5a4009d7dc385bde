/// The recorded history set against the folder: each entry's state, rows the folder does not
/// know, drift findings, and what `up` would apply. Pure: no I/O, so every rule is unit-tested.
///
/// Rows are matched to migrations by `created_at` (0.x, journal folders) or by `name` (Drizzle
/// 1.0, folder-per-migration), then each migration is classified, then the pending set is checked.
public struct Plan: Sendable {
    public enum State: String, Sendable, Codable {
        case applied
        case pending
        /// Recorded, but the file's hash differs from the recorded one.
        case changed
        /// Not recorded, and older than the newest recorded row: Drizzle 0.x would skip it forever.
        case outOfOrder = "out-of-order"
    }

    public struct Entry: Sendable {
        public var migration: Migration
        public var state: State
        /// The row that recorded it, if any.
        public var row: TrackingRow?
    }

    public struct Finding: Sendable {
        public enum Kind: String, Sendable, Codable {
            case changed = "drift.changed"
            case outOfOrder = "drift.out_of_order"
            case unknownRow = "drift.unknown_row"
            case nullCreatedAt = "drift.null_created_at"
            case nonMonotonic = "drift.non_monotonic"
            /// Warning only: the database is ahead of this folder (an app rollback).
            case newerRows = "drift.newer_rows"
            /// Warning only: Drizzle's concurrent runs can record a file twice.
            case duplicateRow = "drift.duplicate_row"
            /// A 1.0 table's rows without `name` (Drizzle 1.0 counts them as not applied), or 0.x rows
            /// that Drizzle 1.0's upgrade cannot name.
            case unnamedRow = "drift.unnamed_row"
        }
        public var kind: Kind
        public var message: String
        public var tag: String?
        public var index: Int?
        public var recordedHash: String?
        public var expectedHash: String?
        public var createdAt: Int64?
        /// The tracking row the finding is about, if it is about one.
        public var rowID: Int64?
        /// Fatal findings stop `up` and `verify` with exit 5.
        public var isFatal: Bool
    }

    public var entries: [Entry]
    /// Rows that match no migration.
    public var unknownRows: [TrackingRow]
    public var findings: [Finding]
    /// Highest recorded `created_at` (Drizzle 0.x's *last*).
    public var last: Int64?
    /// The folder's layout, and the tracking table's version (0, 1; nil: no table yet).
    public var layout: MigrationFolder.Layout
    public var tableVersion: Int?
    /// Set when a 1.0 folder meets a 0.x table: `up` upgrades the table first, as Drizzle 1.0 does.
    public var upgrade: TrackingUpgrade?

    /// In application order, each `analyzed()`: these are the files `up` runs.
    public var pending: [Migration] {
        entries.filter { $0.state == .pending || $0.state == .outOfOrder }.map { $0.migration.analyzed() }
    }
    public var appliedCount: Int { entries.count { $0.state == .applied || $0.state == .changed } }
    public var fatalFindings: [Finding] { findings.filter(\.isFatal) }

    public init(
        migrations: [Migration], rows: [TrackingRow], allowOutOfOrder: Bool, layout: MigrationFolder.Layout = .journal,
        tableVersion: Int? = nil
    ) {
        self.layout = layout
        self.tableVersion = tableVersion
        var rows = rows
        var upgradeFindings: [Finding] = []
        if layout == .folders && tableVersion == 0 {
            let upgrade = TrackingUpgrade(rows: rows, migrations: migrations)
            rows = upgrade.apply(to: rows)
            self.upgrade = upgrade
            upgradeFindings =
                upgrade.refusal.map { Self.unnamedFinding($0, rows: upgrade.unmatched) }.map { [$0] } ?? []
        }
        let matching =
            layout == .folders
            ? Matching(byName: migrations, rows: rows, reportUnnamed: upgradeFindings.isEmpty)
            : Matching(byWhen: migrations, rows: rows)
        let last = rows.compactMap(\.createdAt).max()
        var findings = upgradeFindings + matching.findings
        entries = migrations.enumerated().map { position, migration in
            Self.classify(
                migration, row: matching.matched[position], last: last, allowOutOfOrder: allowOutOfOrder,
                findings: &findings)
        }
        if layout == .journal { findings += Self.nonMonotonic(entries, allowOutOfOrder: allowOutOfOrder) }
        self.unknownRows = matching.unknown
        self.findings = findings
        self.last = last
    }

    /// Applied, changed (recorded under another hash), out of order or pending.
    private static func classify(
        _ migration: Migration, row: TrackingRow?, last: Int64?, allowOutOfOrder: Bool, findings: inout [Finding]
    ) -> Entry {
        if let row {
            guard row.hash != migration.hash else { return Entry(migration: migration, state: .applied, row: row) }
            findings.append(
                Finding(
                    kind: .changed, message: changedMessage(migration, recorded: row.hash), tag: migration.tag,
                    index: migration.index, recordedHash: row.hash, expectedHash: migration.hash,
                    createdAt: migration.when, rowID: row.id, isFatal: true))
            return Entry(migration: migration, state: .changed, row: row)
        }
        guard let last, migration.isOlder(thanRecorded: last) else {
            return Entry(migration: migration, state: .pending, row: nil)
        }
        let consequence =
            migration.layout == .journal
            ? "Drizzle 0.x would skip it forever" : "Drizzle 1.0 would apply it out of order"
        findings.append(
            Finding(
                kind: .outOfOrder,
                message: "\(migration.tag) is pending but older than the newest recorded migration (when "
                    + "\(migration.when) \(migration.layout == .journal ? "<=" : "<") \(last)); \(consequence)"
                    + (allowOutOfOrder
                        ? "; applying it because out-of-order is allowed"
                        : "; regenerate it with a newer timestamp, or rerun with --allow-out-of-order"),
                tag: migration.tag, index: migration.index, expectedHash: migration.hash,
                createdAt: migration.when, isFatal: !allowOutOfOrder))
        return Entry(migration: migration, state: .outOfOrder, row: nil)
    }

    /// Applied file by file, a non-increasing pending set can leave an entry that Drizzle 0.x skips
    /// forever. (1.0 applies by name, so this is a journal-only rule.)
    private static func nonMonotonic(_ entries: [Entry], allowOutOfOrder: Bool) -> [Finding] {
        let pending = entries.filter { $0.state == .pending || $0.state == .outOfOrder }.map(\.migration)
        // An entry already reported as out of order is not reported a second time here.
        let outOfOrder = Set(entries.filter { $0.state == .outOfOrder }.map(\.migration.index))
        return zip(pending, pending.dropFirst()).compactMap { previous, next in
            guard next.when <= previous.when && !outOfOrder.contains(next.index) else { return nil }
            return Finding(
                kind: .nonMonotonic,
                message:
                    "pending \(next.tag) (when \(next.when)) comes after \(previous.tag) (when \(previous.when)) in "
                    + "the journal but is not newer: if \(previous.tag) were applied and \(next.tag) then failed, "
                    + "Drizzle would skip it forever; fix the journal order or its \"when\" values"
                    + (allowOutOfOrder ? " (applying in journal order because out-of-order is allowed)" : ""),
                tag: next.tag, index: next.index, expectedHash: next.hash, createdAt: next.when,
                isFatal: !allowOutOfOrder)
        }
    }

    static func unnamedFinding(_ message: String, rows: [TrackingRow]) -> Finding {
        Finding(
            kind: .unnamedRow, message: message, recordedHash: rows.first?.hash, createdAt: rows.first?.createdAt,
            rowID: rows.first?.id, isFatal: true)
    }

    /// Says outright when only the line endings differ, since that is the common, harmless case and
    /// its fix (restore the bytes) differs from that of a real edit.
    static func changedMessage(_ migration: Migration, recorded: String) -> String {
        let hashes = "recorded hash \(recorded), file hash \(migration.hash)"
        let lf = migration.sql.replacing("\r\n", with: "\n")
        let fix = ".gitattributes and a fresh checkout"
        if Migration.hash(of: lf) == recorded {
            return "\(migration.fileName) differs from the applied version only in its line endings (the file now has "
                + "CRLF, the applied one LF; \(hashes)): restore LF line endings, e.g. with `*.sql -text` in \(fix)"
        }
        if Migration.hash(of: lf.replacing("\n", with: "\r\n")) == recorded {
            return "\(migration.fileName) differs from the applied version only in its line endings (the file now has "
                + "LF, the applied one CRLF; \(hashes)): restore its CRLF line endings, e.g. with `*.sql -text` in \(fix)"
        }
        return "\(migration.fileName) changed after it was applied: \(hashes) (line endings changed by a checkout, "
            + "CRLF vs LF, are the usual harmless cause, but not this time; restore the file and put the change in a "
            + "new migration)"
    }
}

extension Migration {
    /// Whether a pending migration comes before the newest recorded `created_at`: at or before it for
    /// a journal (Drizzle 0.x's strict `last < when`), before its second for a 1.0 folder (names of
    /// one second are ordered by name, and upgraded 0.x rows keep their milliseconds).
    func isOlder(thanRecorded newest: Int64) -> Bool {
        layout == .journal ? when <= newest : when < newest / 1_000 * 1_000
    }
}
