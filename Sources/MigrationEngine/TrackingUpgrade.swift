/// Drizzle 1.0's first-run upgrade of a 0.x tracking table (`up-migrations/pg.ts`, v1.0.0-rc.4):
/// every row, in id order, gets the folder name of the migration it recorded, matched by
/// `created_at` truncated to the second (one candidate: that one; several: the one with the row's
/// hash), else by hash alone. Drizzle throws when a row stays unmatched; so do we (exit 5), before
/// anything is changed. Pure: the SQL is run by `Migrator.upgradeTrackingTable`.
public struct TrackingUpgrade: Sendable {
    /// The folder name given to each matched row, in id order.
    public var names: [(rowID: Int64, name: String)]
    /// Rows no folder matches.
    public var unmatched: [TrackingRow]

    public init(rows: [TrackingRow], migrations: [Migration]) {
        // Drizzle sorts by (folderMillis, name) and its hash map keeps the last migration of a hash.
        let ordered = migrations.sorted {
            $0.when != $1.when ? $0.when < $1.when : MigrationFolder.localeOrder($0.tag, $1.tag)
        }
        var bySecond: [Int64: [Migration]] = [:]
        var byHash: [String: Migration] = [:]
        for migration in ordered {
            bySecond[migration.when, default: []].append(migration)
            byHash[migration.hash] = migration
        }
        names = []
        unmatched = []
        for row in rows {
            // Drizzle drops the last three characters of the number's text: the second, for any real row.
            let candidates = row.createdAt.flatMap { bySecond[$0 / 1_000 * 1_000] } ?? []
            let match: Migration?
            switch candidates.count {
            case 0: match = byHash[row.hash]
            case 1: match = candidates[0]
            default: match = candidates.first { $0.hash == row.hash }
            }
            if let match { names.append((row.id, match.tag)) } else { unmatched.append(row) }
        }
    }

    /// The rows as they read after the upgrade: `name` set on every matched one.
    public func apply(to rows: [TrackingRow]) -> [TrackingRow] {
        let byID = Dictionary(names.map { ($0.rowID, $0.name) }, uniquingKeysWith: { first, _ in first })
        return rows.map { row in
            var row = row
            row.name = byID[row.id]
            return row
        }
    }

    /// Drizzle's statements, in one transaction: the two columns, then `name` (and `applied_at`
    /// NULL: the time is unknown) on every matched row.
    func statements(for table: TrackingTable) -> [String] {
        var statements = [
            "ALTER TABLE \(table.qualifiedName) ADD COLUMN IF NOT EXISTS \"name\" text",
            "ALTER TABLE \(table.qualifiedName) ADD COLUMN IF NOT EXISTS \"applied_at\" timestamp with time zone "
                + "DEFAULT now()",
        ]
        if !names.isEmpty {
            let values = names.map { "(\($0.rowID), \(quoteLiteral($0.name)))" }.joined(separator: ", ")
            statements.append(
                "UPDATE \(table.qualifiedName) AS t SET \"name\" = v.name, \"applied_at\" = NULL "
                    + "FROM (VALUES \(values)) AS v(id, name) WHERE t.id = v.id")
        }
        return statements
    }

    /// The one line that says why the upgrade cannot run; nil when every row is matched.
    var refusal: String? {
        guard !unmatched.isEmpty else { return nil }
        let ids = unmatched.map { String($0.id) }.joined(separator: ", ")
        return "Drizzle 1.0's upgrade of the 0.x tracking table matches no migration folder to row id(s) \(ids) "
            + "(matched by created_at to the second, else by hash); Drizzle 1.0 would stop here too. Restore the "
            + "missing folders (or fix the rows by hand); nothing was changed"
    }
}
