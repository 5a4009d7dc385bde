import Logging
import PostgresClient
import StructuredLogging

/// Runs the contract's commands on one connection: `up`, `status`/`verify`, `baseline`, `forget`.
///
/// One instance per run. Counters (`applied`, `lockWait`…) stay readable after a failure, so the
/// executable can report them in `run.finished` whatever happened.
public final class Migrator {
    let connection: Connection
    let folder: MigrationFolder
    let table: TrackingTable
    let settings: Settings
    let logger: Logger
    let interruption: Interruption
    let probe: BlockerProbe
    /// Who blocked the last statement that waited, for the lock-timeout report.
    var lastBlockers: [BlockerProbe.Blocker] = []
    /// When the current `withLockRetry` gives up; advisory-lock polling shares it.
    var lockDeadline: ContinuousClock.Instant?

    /// Files applied by this run.
    public internal(set) var applied = 0
    /// Files found already applied by another runner once we held the lock.
    public internal(set) var skipped = 0
    /// Files still pending when the run ended.
    public internal(set) var pending = 0
    /// Time spent waiting for locks (advisory and table locks, including backoff).
    public internal(set) var lockWait: Duration = .zero

    public init(
        connection: Connection, connectionString: String, folder: MigrationFolder, settings: Settings, logger: Logger,
        interruption: Interruption
    ) {
        self.connection = connection
        self.folder = folder
        self.table = TrackingTable(
            schema: settings.migrationsSchema, table: settings.migrationsTable, layout: folder.layout)
        self.settings = settings
        self.logger = logger
        self.interruption = interruption
        self.probe = BlockerProbe(connectionString: connectionString, interruption: interruption)
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
        let history = try history()
        return (plan(history, allowOutOfOrder: settings.allowOutOfOrder), history.tableExists)
    }

    func plan(_ history: History, allowOutOfOrder: Bool) -> Plan {
        Plan(
            migrations: folder.migrations, rows: history.rows, allowOutOfOrder: allowOutOfOrder,
            layout: folder.layout, tableVersion: history.tableVersion)
    }

    /// Logs every finding; throws exit 5 if any is fatal.
    public func check(_ plan: Plan, action: String) throws(MigrationError) {
        reportUpgrade(plan)
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

    // MARK: up

    public func up() throws(MigrationError) {
        let (plan, tableExists) = try self.plan()
        let pendingMigrations = plan.pending
        pending = pendingMigrations.count
        try check(plan, action: "nothing was applied")
        try refuseEmptyFiles(in: pendingMigrations)
        logger.event(
            .info, "plan.ready",
            pendingMigrations.isEmpty
                ? "nothing to apply: the database is up to date" : "\(pending) migration(s) to apply",
            [
                "applied": .int(plan.appliedCount), "pending": .int(pending), "total": .int(folder.migrations.count),
                "dry_run": .bool(settings.dryRun),
            ])
        if settings.dryRun {
            for (position, migration) in pendingMigrations.enumerated() {
                logger.event(
                    .info, "migration.planned", "would apply \(migration.tag)",
                    [
                        "migration": "\(migration.tag)", "index": .int(migration.index),
                        "position": .int(position + 1), "total": .int(pendingMigrations.count),
                        "hash": "\(migration.hash)", "created_at": .int(migration.when),
                        "mode": "\(migration.mode.rawValue)", "statements": .int(migration.pieces.count),
                        "out_of_order": .bool(
                            plan.entries.contains { $0.migration.index == migration.index && $0.state == .outOfOrder }),
                    ])
            }
            return
        }
        if plan.upgrade != nil { try upgradeTrackingTable() }
        guard !pendingMigrations.isEmpty else { return }
        // Only reachable with out-of-order allowed (otherwise `check` refused); said again on each file
        // it concerns, so the log shows the override next to what it let through.
        let outOfOrder = Set(plan.entries.filter { $0.state == .outOfOrder }.map(\.migration.index))
        if !tableExists { try bootstrap() }
        let runStarted = ContinuousClock.now
        for (position, migration) in pendingMigrations.enumerated() {
            try stopIfInterrupted()
            logger.event(
                .info, "migration.started", "applying \(migration.tag)",
                [
                    "migration": "\(migration.tag)", "index": .int(migration.index), "position": .int(position + 1),
                    "total": .int(pendingMigrations.count), "mode": "\(migration.mode.rawValue)",
                    "elapsed_ms": .int((ContinuousClock.now - runStarted).milliseconds),
                ])
            let started = ContinuousClock.now
            let outcome = try withLockRetry(migration.tag) { () throws in
                try apply(migration)
            }
            pending -= 1
            var fields: Logger.Metadata = [
                "migration": "\(migration.tag)", "index": .int(migration.index), "position": .int(position + 1),
                "total": .int(pendingMigrations.count), "hash": "\(migration.hash)",
                "duration_ms": .int((ContinuousClock.now - started).milliseconds),
                "elapsed_ms": .int((ContinuousClock.now - runStarted).milliseconds),
                "statements": .int(migration.pieces.count), "mode": "\(migration.mode.rawValue)",
            ]
            let wasOutOfOrder = outOfOrder.contains(migration.index)
            if wasOutOfOrder { fields["out_of_order"] = .bool(true) }
            switch outcome {
            case .applied:
                applied += 1
                logger.event(
                    wasOutOfOrder ? .warning : .info, "migration.applied",
                    wasOutOfOrder
                        ? "applied \(migration.tag) out of order (older than the newest recorded migration; allowed by "
                            + "--allow-out-of-order / MIGRATOR_ALLOW_OUT_OF_ORDER)"
                        : "applied \(migration.tag)", fields)
            case .alreadyApplied:
                skipped += 1
                logger.event(
                    .info, "migration.skipped", "\(migration.tag) was applied meanwhile by another runner", fields)
            }
        }
    }

    /// Creates the tracking schema and table, exactly as Drizzle does, under the advisory lock so that
    /// concurrent first runs cannot race on `CREATE SCHEMA` (which Drizzle's bootstrap does).
    func bootstrap() throws(MigrationError) {
        _ = try withLockRetry("bootstrap") { () throws in
            try transaction(label: "bootstrap") { () throws(PostgresError) in
                let state = try table.state(on: connection)
                if !state.schemaExists { try connection.simpleQuery(table.createSchemaSQL) }
                if !state.tableExists {
                    try connection.simpleQuery(table.createTableSQL)
                    logger.event(
                        .info, "tracking.created", "created \(table.qualifiedName)",
                        ["table": "\(table.qualifiedName)", "lock_key": .int(table.advisoryLockKey)])
                }
                return true
            }
            return .applied
        }
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
