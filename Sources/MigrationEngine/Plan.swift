/// The recorded history set against the folder: each entry's state, rows the folder does not
/// know, drift findings, and what `up` would apply. Pure: no I/O, so every rule is unit-tested.
public struct Plan: Sendable {
    public enum State: String, Sendable {
        case applied
        case pending
        /// Recorded, but the file's hash differs from the recorded one.
        case changed
        /// Not recorded, and older than the newest recorded row: Drizzle would skip it forever.
        case outOfOrder = "out-of-order"
    }

    public struct Entry: Sendable {
        public var migration: Migration
        public var state: State
        /// The row that recorded it, if any.
        public var row: TrackingRow?
    }

    public struct Finding: Sendable {
        public enum Kind: String, Sendable {
            case changed = "drift.changed"
            case outOfOrder = "drift.out_of_order"
            case unknownRow = "drift.unknown_row"
            case nullCreatedAt = "drift.null_created_at"
            case nonMonotonic = "drift.non_monotonic"
            /// Warning only: the database is ahead of this folder (an app rollback).
            case newerRows = "drift.newer_rows"
            /// Warning only: Drizzle's concurrent runs can record a file twice.
            case duplicateRow = "drift.duplicate_row"
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
    /// Rows that match no journal entry.
    public var unknownRows: [TrackingRow]
    public var findings: [Finding]
    /// Highest recorded `created_at` (Drizzle's *last*).
    public var last: Int64?

    public var pending: [Migration] {
        entries.filter { $0.state == .pending || $0.state == .outOfOrder }.map(\.migration)
    }
    public var appliedCount: Int { entries.count { $0.state == .applied || $0.state == .changed } }
    public var fatalFindings: [Finding] { findings.filter(\.isFatal) }

    public init(migrations: [Migration], rows: [TrackingRow], allowOutOfOrder: Bool) {
        // Keyed by position in `migrations`, which need not equal `index` (a caller may pass a subset).
        var byWhen: [Int64: [Int]] = [:]
        for (position, migration) in migrations.enumerated() { byWhen[migration.when, default: []].append(position) }
        var matched: [Int: TrackingRow] = [:]
        var unknown: [TrackingRow] = []
        var findings: [Finding] = []
        let newestEntry = migrations.map(\.when).max()
        let last = rows.compactMap(\.createdAt).max()

        // Exact (when, hash) matches first, so that a stray row sharing a `when` cannot take the entry
        // from the row that really recorded it, whatever their id order.
        var leftover: [TrackingRow] = []
        for row in rows {
            guard let createdAt = row.createdAt else {
                leftover.append(row)
                continue
            }
            let candidates = byWhen[createdAt] ?? []
            if let target = candidates.first(where: { matched[$0] == nil && migrations[$0].hash == row.hash }) {
                matched[target] = row
            } else {
                leftover.append(row)
            }
        }
        for row in leftover {
            guard let createdAt = row.createdAt else {
                unknown.append(row)
                findings.append(
                    Finding(
                        kind: .nullCreatedAt,
                        message:
                            "tracking row id \(row.id) has created_at NULL: Drizzle would re-run every migration; "
                            + "delete or fix that row by hand",
                        recordedHash: row.hash, rowID: row.id, isFatal: true))
                continue
            }
            let candidates = byWhen[createdAt] ?? []
            if let target = candidates.first(where: { matched[$0] == nil }) {
                matched[target] = row
            } else if let duplicateOf = candidates.first(where: { matched[$0]?.hash == row.hash }) {
                let migration = migrations[duplicateOf]
                findings.append(
                    Finding(
                        kind: .duplicateRow,
                        message:
                            "\(migration.tag) is recorded twice (row id \(row.id) repeats row id \(matched[duplicateOf]!.id)); "
                            + "harmless, left as it is",
                        tag: migration.tag, index: migration.index, recordedHash: row.hash,
                        expectedHash: migration.hash, createdAt: createdAt, rowID: row.id, isFatal: false))
            } else if let taken = candidates.first {
                let migration = migrations[taken]
                unknown.append(row)
                findings.append(
                    Finding(
                        kind: .unknownRow,
                        message:
                            "tracking row id \(row.id) has the created_at of \(migration.tag) (\(createdAt)), which row id "
                            + "\(matched[taken]!.id) already records, but its hash matches no file",
                        tag: migration.tag, index: migration.index, recordedHash: row.hash,
                        expectedHash: migration.hash, createdAt: createdAt, rowID: row.id, isFatal: true))
            } else {
                unknown.append(row)
                // An empty journal is older than any row: the same app-rollback case, not a hole.
                if newestEntry.map({ createdAt > $0 }) ?? true {
                    findings.append(
                        Finding(
                            kind: .newerRows,
                            message:
                                "tracking row id \(row.id) (created_at \(createdAt)) is newer than every migration in this "
                                + "folder: the database is ahead of this image (an app rollback?); nothing to do",
                            recordedHash: row.hash, createdAt: createdAt, rowID: row.id, isFatal: false))
                } else {
                    findings.append(
                        Finding(
                            kind: .unknownRow,
                            message:
                                "tracking row id \(row.id) (created_at \(createdAt)) matches no journal entry but migrations "
                                + "after it exist: a migration was removed from the journal or its \"when\" was edited",
                            recordedHash: row.hash, createdAt: createdAt, rowID: row.id, isFatal: true))
                }
            }
        }

        var entries: [Entry] = []
        entries.reserveCapacity(migrations.count)
        for (position, migration) in migrations.enumerated() {
            if let row = matched[position] {
                if row.hash == migration.hash {
                    entries.append(Entry(migration: migration, state: .applied, row: row))
                } else {
                    entries.append(Entry(migration: migration, state: .changed, row: row))
                    findings.append(
                        Finding(
                            kind: .changed,
                            message: Self.changedMessage(migration, recorded: row.hash),
                            tag: migration.tag, index: migration.index, recordedHash: row.hash,
                            expectedHash: migration.hash, createdAt: migration.when, rowID: row.id, isFatal: true))
                }
            } else if let last, migration.when <= last {
                entries.append(Entry(migration: migration, state: .outOfOrder, row: nil))
                findings.append(
                    Finding(
                        kind: .outOfOrder,
                        message:
                            "\(migration.tag) is pending but older than the newest recorded migration (when "
                            + "\(migration.when) <= \(last)); Drizzle would skip it forever"
                            + (allowOutOfOrder
                                ? "; applying it because out-of-order is allowed"
                                : "; regenerate it with a newer timestamp, or rerun with --allow-out-of-order"),
                        tag: migration.tag, index: migration.index, expectedHash: migration.hash,
                        createdAt: migration.when, isFatal: !allowOutOfOrder))
            } else {
                entries.append(Entry(migration: migration, state: .pending, row: nil))
            }
        }

        // Applied file by file, a non-increasing pending set can leave an entry that Drizzle skips forever.
        let pending = entries.filter { $0.state == .pending || $0.state == .outOfOrder }.map(\.migration)
        // An entry already reported as out of order is not reported a second time here.
        let outOfOrder = Set(entries.filter { $0.state == .outOfOrder }.map(\.migration.index))
        for (previous, next) in zip(pending, pending.dropFirst())
        where next.when <= previous.when && !outOfOrder.contains(next.index) {
            findings.append(
                Finding(
                    kind: .nonMonotonic,
                    message:
                        "pending \(next.tag) (when \(next.when)) comes after \(previous.tag) (when \(previous.when)) in "
                        + "the journal but is not newer: if \(previous.tag) were applied and \(next.tag) then failed, "
                        + "Drizzle would skip it forever; fix the journal order or its \"when\" values"
                        + (allowOutOfOrder ? " (applying in journal order because out-of-order is allowed)" : ""),
                    tag: next.tag, index: next.index, expectedHash: next.hash, createdAt: next.when,
                    isFatal: !allowOutOfOrder))
        }

        self.entries = entries
        self.unknownRows = unknown
        self.findings = findings
        self.last = last
    }

    /// Says outright when only the line endings differ, since that is the common, harmless case and
    /// its fix (restore the bytes) differs from that of a real edit.
    static func changedMessage(_ migration: Migration, recorded: String) -> String {
        let hashes = "recorded hash \(recorded), file hash \(migration.hash)"
        let lf = migration.sql.replacing("\r\n", with: "\n")
        if Migration.hash(of: lf) == recorded {
            return "\(migration.fileName) differs from the applied version only in its line endings (the file now has "
                + "CRLF, the applied one LF; \(hashes)): restore LF line endings, e.g. with `*.sql -text` in "
                + ".gitattributes and a fresh checkout"
        }
        if Migration.hash(of: lf.replacing("\n", with: "\r\n")) == recorded {
            return "\(migration.fileName) differs from the applied version only in its line endings (the file now has "
                + "LF, the applied one CRLF; \(hashes)): restore its CRLF line endings, e.g. with `*.sql -text` in "
                + ".gitattributes and a fresh checkout"
        }
        return "\(migration.fileName) changed after it was applied: \(hashes) (line endings changed by a checkout, "
            + "CRLF vs LF, are the usual harmless cause, but not this time; restore the file and put the change in a "
            + "new migration)"
    }
}
