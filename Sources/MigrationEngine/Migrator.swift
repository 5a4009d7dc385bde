import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

/// Runs the contract's commands on one connection: `up`, `status`/`verify`, `baseline`, `forget`.
///
/// One instance per run. Counters (`applied`, `lockWait`…) stay readable after a failure, so the
/// executable can report them in `run.finished` whatever happened.
public final class Migrator {
    /// The live session; replaced when a lost connection is re-established (`reconnect`).
    var connection: Connection
    let target: DatabaseTarget
    let folder: MigrationFolder
    let table: TrackingTable
    let settings: Settings
    let logger: Logger
    let interruption: Interruption
    let probe: BlockerProbe
    /// What waiting for locks has seen and spent, for the file being applied and the run.
    var locks = LockWaitState()

    /// Files applied by this run.
    public internal(set) var applied = 0
    /// Files found already applied by another runner once we held the lock.
    public internal(set) var skipped = 0
    /// Files still pending when the run ended.
    public internal(set) var pending = 0
    /// Time spent waiting for locks (advisory and table locks, including backoff).
    public var lockWait: Duration { locks.waited }

    /// Connects (waiting for the database up to `settings.connectTimeout`) and keeps the connection
    /// for every command of the run.
    public init(
        target: DatabaseTarget, folder: MigrationFolder, settings: Settings, logger: Logger,
        interruption: Interruption
    ) throws(MigrationError) {
        self.target = target
        self.folder = folder
        self.table = TrackingTable(schema: settings.migrationsSchema, table: settings.migrationsTable)
        self.settings = settings
        self.logger = logger
        self.interruption = interruption
        self.probe = BlockerProbe(target: target, interruption: interruption)
        self.connection = try DatabaseConnector.connect(
            to: target, settings: settings, interruption: interruption, logger: logger)
        forwardNotices()
    }

    /// `user@host:port/dbname` of the session, as the server names it.
    public var databaseName: String { connection.displayName }

    public func close() { connection.close() }

    /// Replaces a connection that broke, waiting up to the connect timeout as at the start.
    func reconnect() throws(MigrationError) {
        connection.close()
        connection = try DatabaseConnector.connect(
            to: target, settings: settings, interruption: interruption, logger: logger)
        forwardNotices()
    }

    private func forwardNotices() {
        let noticeLogger = logger
        connection.onNotice { notice in
            noticeLogger.event(
                notice.severity == "WARNING" ? .warning : .info, "postgres.notice", notice.message,
                ["severity": "\(notice.severity)", "sqlstate": "\(notice.sqlState ?? "")"])
        }
    }

    // MARK: reading the history

    /// Reads the tracking table (without creating it) and sets it against the folder.
    public func plan() throws(MigrationError) -> (plan: Plan, tableExists: Bool) {
        let (rows, tableExists) = try history()
        return (Plan(migrations: folder.migrations, rows: rows, allowOutOfOrder: settings.allowOutOfOrder), tableExists)
    }

    /// The tracking rows in id order; refuses a table Drizzle 1.0 has taken over.
    func history() throws(MigrationError) -> (rows: [TrackingRow], tableExists: Bool) {
        let state = try database { () throws(PostgresError) in try table.state(on: connection) }
        if state.hasNameColumn {
            throw MigrationError(
                .drift,
                "\(table.qualifiedName) has Drizzle 1.0's \"name\" column: this database belongs to the 1.0 "
                    + "folder layout; applying a journal folder would make Drizzle 1.0 run migrations twice")
        }
        var rows = state.rows ?? []
        if state.rows == nil && state.tableExists {
            rows = try database { () throws(PostgresError) in try table.rows(on: connection) }
        }
        return (rows, state.tableExists)
    }

    /// Logs every finding; throws exit 5 if any is fatal.
    public func check(_ plan: Plan, action: String) throws(MigrationError) {
        for finding in plan.findings {
            var fields: Logger.Metadata = [:]
            if let tag = finding.tag { fields["migration"] = .string(tag) }
            if let index = finding.index { fields["index"] = .int(index) }
            if let hash = finding.recordedHash { fields["recorded_hash"] = .string(hash) }
            if let hash = finding.expectedHash { fields["expected_hash"] = .string(hash) }
            if let createdAt = finding.createdAt { fields["created_at"] = .int(createdAt) }
            if let rowID = finding.rowID { fields["row_id"] = .int(rowID) }
            fields["fatal"] = .bool(finding.isFatal)
            logger.event(finding.isFatal ? .error : .warning, finding.kind.rawValue, finding.message, fields)
        }
        let fatal = plan.fatalFindings
        if !fatal.isEmpty {
            throw MigrationError(
                .drift,
                "\(fatal.count) drift finding(s) between \(table.qualifiedName) and the folder (first: "
                    + "\(fatal[0].message)); \(action)")
        }
    }

    // MARK: baseline and forget

    /// Records entries (all, or through `tag`) as applied without running them, in one locked transaction.
    ///
    /// Entries older than the newest row are recorded too: filling such a hole (a file applied by hand
    /// and never recorded) is one of the reasons to baseline. Any other drift refuses with exit 5, since
    /// adding rows to a history that already disagrees with the folder hides the disagreement.
    @discardableResult
    public func baseline(through tag: String?) throws(MigrationError) -> [Migration] {
        let last = try index(of: tag) ?? folder.migrations.count - 1
        let (rows, tableExists) = try history()
        let plan = try baselinePlan(rows: rows)
        let wanted = plan.entries.prefix(last + 1).filter { $0.state == .pending || $0.state == .outOfOrder }
        if settings.dryRun || wanted.isEmpty {
            for entry in wanted { logBaseline(entry, recorded: false) }
            logger.event(
                .info, "baseline.planned",
                wanted.isEmpty ? "nothing to record" : "would record \(wanted.count) migration(s) without running them",
                ["count": .int(wanted.count), "dry_run": .bool(settings.dryRun)])
            return []
        }
        if !tableExists { try bootstrap() }
        var recorded: [Plan.Entry] = []
        var refusal: MigrationError?
        _ = try withLockRetry("baseline") { () throws in
            recorded = []
            refusal = nil
            try transaction(label: "baseline") { () throws(PostgresError) in
                // Re-read under the lock: a concurrent run may have recorded some meanwhile.
                let fresh = Plan(
                    migrations: folder.migrations, rows: try table.rows(on: connection), allowOutOfOrder: true)
                if let first = fresh.fatalFindings.first {
                    refusal = MigrationError(
                        .drift,
                        "the tracking table changed while baseline waited for the lock: \(first.message); nothing was recorded"
                    )
                    return false
                }
                for entry in fresh.entries.prefix(last + 1) where entry.state == .pending || entry.state == .outOfOrder
                {
                    try connection.simpleQuery(
                        table.insertSQL(hash: entry.migration.hash, createdAt: entry.migration.when))
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
    private func baselinePlan(rows: [TrackingRow]) throws(MigrationError) -> Plan {
        var plan = Plan(migrations: folder.migrations, rows: rows, allowOutOfOrder: true)
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
        let sharesWhen = folder.migrations.contains { $0.when == migration.when && $0.index != migration.index }
        let (_, tableExists) = try history()
        guard tableExists else {
            throw MigrationError(.configuration, "\(tag) is not recorded: \(table.qualifiedName) does not exist")
        }
        var refusal: MigrationError?
        _ = try withLockRetry("forget") { () throws in
            refusal = nil
            try transaction(label: "forget") { () throws(PostgresError) in
                let rows = try table.rows(on: connection)
                let mine = rows.filter {
                    $0.createdAt == migration.when && (!sharesWhen || $0.hash == migration.hash)
                }
                let newer = rows.filter { ($0.createdAt ?? 0) > migration.when }
                if mine.isEmpty {
                    refusal = MigrationError(
                        .configuration, "\(tag) is not recorded in \(table.qualifiedName); nothing to forget")
                } else if !newer.isEmpty && !force {
                    refusal = MigrationError(
                        .configuration,
                        "\(newer.count) newer row(s) exist after \(tag) (newest created_at "
                            + "\(newer.compactMap(\.createdAt).max() ?? 0)); forgetting \(tag) alone makes it out of "
                            + "order; forget the newer ones first, or pass --force")
                } else {
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
                                "hash": "\(row.hash)", "created_at": .int(row.createdAt ?? 0),
                                "dry_run": .bool(settings.dryRun),
                            ])
                    }
                    if !settings.dryRun {
                        try connection.simpleQuery(
                            "DELETE FROM \(table.qualifiedName) WHERE id IN (\(mine.map { String($0.id) }.joined(separator: ",")))"
                        )
                    }
                }
                return refusal == nil && !settings.dryRun
            }
            return .applied
        }
        if let refusal { throw refusal }
    }

    private func index(of tag: String?) throws(MigrationError) -> Int? {
        guard let tag else { return nil }
        guard let position = folder.migrations.firstIndex(where: { $0.tag == tag }) else {
            let known =
                folder.migrations.isEmpty
                ? "the journal is empty"
                : "known tags run from \(folder.migrations.first!.tag) to \(folder.migrations.last!.tag)"
            throw MigrationError(.configuration, "unknown migration tag \"\(tag)\" (\(known))")
        }
        return position
    }

    // MARK: helpers

    func stopIfInterrupted() throws(MigrationError) {
        if let reason = interruption.reason {
            throw MigrationError(.interrupted, "stopped by \(reason.signalName)", interruption: reason)
        }
    }

    /// Runs a read outside any transaction, mapping libpq errors to the engine's.
    func database<T>(_ body: () throws(PostgresError) -> T) throws(MigrationError) -> T {
        do {
            return try body()
        } catch {
            if let reason = interruption.reason {
                throw MigrationError(.interrupted, "stopped by \(reason.signalName)", interruption: reason)
            }
            if error.code == .connectionLost {
                throw MigrationError(.database, "lost the database connection: \(error.message)")
            }
            throw MigrationError(.migrationFailed, "reading \(table.qualifiedName) failed: \(error)")
        }
    }
}
