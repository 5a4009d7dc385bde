extension Plan {
    /// Which row recorded which migration (keyed by position in `migrations`, which need not equal
    /// `index`: a caller may pass a subset), the rows no migration claims, and what that says.
    struct Matching {
        var matched: [Int: TrackingRow] = [:]
        var unknown: [TrackingRow] = []
        var findings: [Finding] = []

        /// 0.x: by `created_at == when`. Exact (when, hash) matches first, so that a stray row sharing a
        /// `when` cannot take the entry from the row that really recorded it, whatever their id order.
        init(byWhen migrations: [Migration], rows: [TrackingRow]) {
            var byWhen: [Int64: [Int]] = [:]
            for (position, migration) in migrations.enumerated() {
                byWhen[migration.when, default: []].append(position)
            }
            var leftover: [TrackingRow] = []
            for row in rows {
                let candidates = row.createdAt.flatMap { byWhen[$0] } ?? []
                if let target = candidates.first(where: { matched[$0] == nil && migrations[$0].hash == row.hash }) {
                    matched[target] = row
                } else {
                    leftover.append(row)
                }
            }
            let newestEntry = migrations.map(\.when).max()
            for row in leftover {
                guard let createdAt = row.createdAt else {
                    unknown.append(row)
                    findings.append(
                        Finding(
                            kind: .nullCreatedAt,
                            message: "tracking row id \(row.id) has created_at NULL: Drizzle would re-run every "
                                + "migration; delete or fix that row by hand",
                            recordedHash: row.hash, rowID: row.id, isFatal: true))
                    continue
                }
                let candidates = byWhen[createdAt] ?? []
                if let target = candidates.first(where: { matched[$0] == nil }) {
                    matched[target] = row
                } else if let duplicateOf = candidates.first(where: { matched[$0]?.hash == row.hash }) {
                    duplicate(row, of: migrations[duplicateOf], first: matched[duplicateOf]!)
                } else if let taken = candidates.first {
                    let migration = migrations[taken]
                    unknown.append(row)
                    findings.append(
                        Finding(
                            kind: .unknownRow,
                            message: "tracking row id \(row.id) has the created_at of \(migration.tag) (\(createdAt)), "
                                + "which row id \(matched[taken]!.id) already records, but its hash matches no file",
                            tag: migration.tag, index: migration.index, recordedHash: row.hash,
                            expectedHash: migration.hash, createdAt: createdAt, rowID: row.id, isFatal: true))
                } else {
                    // An empty journal is older than any row: the same app-rollback case, not a hole.
                    unmatched(
                        row, newer: newestEntry.map { createdAt > $0 } ?? true, what: "created_at \(createdAt)",
                        hole: "matches no journal entry but migrations after it exist: a migration was removed from "
                            + "the journal or its \"when\" was edited")
                }
            }
        }

        /// 1.0: by `name == folder name`, as Drizzle 1.0 decides what is applied.
        init(byName migrations: [Migration], rows: [TrackingRow], reportUnnamed: Bool) {
            var byName: [String: Int] = [:]
            for (position, migration) in migrations.enumerated() { byName[migration.tag] = position }
            let newestName = migrations.map(\.tag).max { MigrationFolder.localeOrder($0, $1) }
            var unnamed: [TrackingRow] = []
            for row in rows {
                guard let name = row.name else {
                    unnamed.append(row)
                    continue
                }
                if let target = byName[name] {
                    if let first = matched[target] {
                        duplicate(row, of: migrations[target], first: first)
                    } else {
                        matched[target] = row
                    }
                } else {
                    // Newer than every folder: this image is older than the database (an app rollback).
                    let newer = newestName.map { MigrationFolder.localeOrder($0, name) } ?? true
                    unmatched(
                        row, newer: newer, what: "name \(name)",
                        hole: "matches no migration folder but folders after it exist: a migration folder was "
                            + "removed or renamed")
                }
            }
            unknown += unnamed
            if reportUnnamed && !unnamed.isEmpty {
                let ids = unnamed.map { String($0.id) }.joined(separator: ", ")
                findings.append(
                    Plan.unnamedFinding(
                        "tracking row id(s) \(ids) have no name: Drizzle 1.0 counts them as not applied and would run "
                            + "their migrations again; set their name to the migration's folder name, or delete them",
                        rows: unnamed))
            }
        }

        private mutating func duplicate(_ row: TrackingRow, of migration: Migration, first: TrackingRow) {
            findings.append(
                Finding(
                    kind: .duplicateRow,
                    message: "\(migration.tag) is recorded twice (row id \(row.id) repeats row id \(first.id)); "
                        + "harmless, left as it is",
                    tag: migration.tag, index: migration.index, recordedHash: row.hash,
                    expectedHash: migration.hash, createdAt: row.createdAt, rowID: row.id, isFatal: false))
        }

        /// A row no migration claims: newer than all of them (warning), or a hole among them (drift).
        private mutating func unmatched(_ row: TrackingRow, newer: Bool, what: String, hole: String) {
            unknown.append(row)
            if newer {
                findings.append(
                    Finding(
                        kind: .newerRows,
                        message: "tracking row id \(row.id) (\(what)) is newer than every migration in this "
                            + "folder: the database is ahead of this image (an app rollback?); nothing to do",
                        recordedHash: row.hash, createdAt: row.createdAt, rowID: row.id, isFatal: false))
            } else {
                findings.append(
                    Finding(
                        kind: .unknownRow,
                        message: "tracking row id \(row.id) (\(what)) \(hole)",
                        recordedHash: row.hash, createdAt: row.createdAt, rowID: row.id, isFatal: true))
            }
        }
    }
}
