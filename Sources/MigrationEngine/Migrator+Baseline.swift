import Logging
import PostgresClient
import StructuredLogging

/// `baseline` and `forget`: the two commands that write tracking rows without running SQL.
extension Migrator {
    /// Records entries (all, or through `tag`) as applied without running them, in one locked transaction.
    ///
    /// Entries older than the newest row are recorded too: filling such a hole (a file applied by hand
    /// and never recorded) is one of the reasons to baseline. Any other drift refuses with exit 5, since
    /// adding rows to a history that already disagrees with the folder hides the disagreement.
    @discardableResult
    public func baseline(through tag: String?) throws(MigrationError) -> [Migration] {
        let last = try index(of: tag) ?? folder.migrations.count - 1
        let history = try history()
        let current = try baselinePlan(history)
        let wanted = current.entries.prefix(last + 1).filter { $0.state == .pending || $0.state == .outOfOrder }
        if settings.dryRun || wanted.isEmpty {
            for entry in wanted { logBaseline(entry, recorded: false) }
            logger.event(
                .info, "baseline.planned",
                wanted.isEmpty ? "nothing to record" : "would record \(wanted.count) migration(s) without running them",
                ["count": .int(wanted.count), "dry_run": .bool(settings.dryRun)])
            return []
        }
        if !history.tableExists { try bootstrap() }
        if current.upgrade != nil { try upgradeTrackingTable() }
        var recorded: [Plan.Entry] = []
        var refusal: MigrationError?
        _ = try withLockRetry("baseline") { () throws in
            recorded = []
            refusal = nil
            try transaction(label: "baseline") { () throws(PostgresError) in
                // Re-read under the lock: a concurrent run may have recorded some meanwhile.
                let fresh = plan(try lockedHistory(), allowOutOfOrder: true)
                if let first = fresh.fatalFindings.first {
                    refusal = MigrationError(
                        .drift,
                        "the tracking table changed while baseline waited for the lock: \(first.message); nothing was recorded"
                    )
                    return false
                }
                for entry in fresh.entries.prefix(last + 1) where entry.state == .pending || entry.state == .outOfOrder
                {
                    try connection.simpleQuery(table.insertSQL(for: entry.migration))
                    recorded.append(entry)
                }
                return true
            }
            return .applied
        }
        if let refusal { throw refusal }
        for entry in recorded { logBaseline(entry, recorded: true) }
        applied = recorded.count
        logger.event(
            .info, "baseline.done", "recorded \(recorded.count) migration(s) as applied without running them",
            ["count": .int(recorded.count)])
        return recorded.map(\.migration)
    }

    /// The plan baseline works from: out-of-order entries are what it may fill in, so only the other
    /// fatal findings refuse.
    private func baselinePlan(_ history: History) throws(MigrationError) -> Plan {
        var plan = plan(history, allowOutOfOrder: true)
        // Their messages speak of applying; the entries baseline records say out_of_order themselves,
        // and those past --through are for `up` to judge.
        plan.findings.removeAll { $0.kind == .outOfOrder || $0.kind == .nonMonotonic }
        try check(plan, action: "nothing was recorded; resolve the drift (see the runbook) before baselining")
        return plan
    }

    private func logBaseline(_ entry: Plan.Entry, recorded: Bool) {
        let migration = entry.migration
        var fields: Logger.Metadata = [
            "migration": "\(migration.tag)", "index": .int(migration.index), "hash": "\(migration.hash)",
            "created_at": .int(migration.when),
        ]
        if entry.state == .outOfOrder { fields["out_of_order"] = .bool(true) }
        logger.event(
            .info, recorded ? "baseline.recorded" : "baseline.planned",
            recorded ? "recorded \(migration.tag) as applied" : "would record \(migration.tag) as applied", fields)
    }

    /// Deletes the tracking row of `tag` (recovery after a manual rollback), in one locked transaction.
    public func forget(tag: String, force: Bool) throws(MigrationError) {
        guard let position = try index(of: tag) else { return }
        let migration = folder.migrations[position]
        let history = try history()
        guard history.tableExists else {
            throw MigrationError(.configuration, "\(tag) is not recorded: \(table.qualifiedName) does not exist")
        }
        if !settings.dryRun && plan(history, allowOutOfOrder: true).upgrade != nil { try upgradeTrackingTable() }
        var refusal: MigrationError?
        _ = try withLockRetry("forget") { () throws in
            refusal = nil
            try transaction(label: "forget") { () throws(PostgresError) in
                let rows = try lockedHistory().namedRows(folder.migrations)
                refusal = try forget(migration, in: rows, force: force)
                return refusal == nil && !settings.dryRun
            }
            return .applied
        }
        if let refusal { throw refusal }
    }

    /// Deletes (or, dry, names) the rows that record `migration`; the refusal when it must not.
    private func forget(_ migration: Migration, in rows: [TrackingRow], force: Bool) throws(PostgresError)
        -> MigrationError?
    {
        let tag = migration.tag
        let mine = rows.filter { records(migration, $0) }
        let newer = rows.filter { isNewer($0, than: migration) }
        if mine.isEmpty {
            return MigrationError(.configuration, "\(tag) is not recorded in \(table.qualifiedName); nothing to forget")
        }
        if !newer.isEmpty && !force {
            return MigrationError(
                .configuration,
                "\(newer.count) newer row(s) exist after \(tag) (newest created_at "
                    + "\(newer.compactMap(\.createdAt).max() ?? 0)); forgetting \(tag) alone makes it out of "
                    + "order; forget the newer ones first, or pass --force")
        }
        if !newer.isEmpty {
            logger.event(
                .warning, "forget.forced",
                "\(newer.count) newer row(s) exist after \(tag): once forgotten it is out of order, and only "
                    + "`up --allow-out-of-order` (or `baseline --through \(tag)`) brings it back",
                ["migration": "\(tag)", "index": .int(migration.index), "newer_rows": .int(newer.count)])
        }
        for row in mine {
            logger.event(
                .info, settings.dryRun ? "forget.planned" : "migration.forgotten",
                settings.dryRun ? "would delete the row of \(tag)" : "deleted the row of \(tag)",
                [
                    "migration": "\(tag)", "index": .int(migration.index), "id": .int(row.id),
                    "hash": "\(row.hash)", "created_at": .int(row.createdAt ?? 0), "dry_run": .bool(settings.dryRun),
                ])
        }
        if !settings.dryRun {
            try connection.simpleQuery(
                "DELETE FROM \(table.qualifiedName) WHERE id IN (\(mine.map { String($0.id) }.joined(separator: ",")))")
        }
        return nil
    }

    /// Whether `row` records `migration`: by name on a 1.0 folder; by `created_at` on a journal (and
    /// by hash too where two entries share a `when`).
    private func records(_ migration: Migration, _ row: TrackingRow) -> Bool {
        if let name = migration.name { return row.name == name }
        let sharesWhen = folder.migrations.contains { $0.when == migration.when && $0.index != migration.index }
        return row.createdAt == migration.when && (!sharesWhen || row.hash == migration.hash)
    }

    private func isNewer(_ row: TrackingRow, than migration: Migration) -> Bool {
        if migration.name != nil { return row.name.map { MigrationFolder.localeOrder(migration.tag, $0) } ?? false }
        return (row.createdAt ?? 0) > migration.when
    }

    func index(of tag: String?) throws(MigrationError) -> Int? {
        guard let tag else { return nil }
        guard let position = folder.migrations.firstIndex(where: { $0.tag == tag }) else {
            let known =
                folder.migrations.isEmpty
                ? "the folder has no migrations"
                : "known tags run from \(folder.migrations.first!.tag) to \(folder.migrations.last!.tag)"
            throw MigrationError(.configuration, "unknown migration tag \"\(tag)\" (\(known))")
        }
        return position
    }
}
