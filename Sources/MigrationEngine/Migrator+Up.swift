import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

extension Migrator {
    /// Applies every pending file in order, each in its own locked transaction (or self-managed).
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
        // Only reachable with out-of-order allowed (otherwise `check` refused); said again on each file
        // it concerns, so the log shows the override next to what it let through.
        let outOfOrder = Set(plan.entries.filter { $0.state == .outOfOrder }.map(\.migration.index))
        if settings.dryRun {
            logPlanned(pendingMigrations, outOfOrder: outOfOrder)
            return
        }
        if plan.upgrade != nil { try upgradeTrackingTable() }
        guard !pendingMigrations.isEmpty else { return }
        if !tableExists { try bootstrap() }
        let runStarted = ContinuousClock.now
        for (position, migration) in pendingMigrations.enumerated() {
            try stopIfInterrupted()
            var fields: Logger.Metadata = [
                "migration": "\(migration.tag)", "index": .int(migration.index), "position": .int(position + 1),
                "total": .int(pendingMigrations.count), "mode": "\(migration.mode.rawValue)",
                "elapsed_ms": .int((ContinuousClock.now - runStarted).milliseconds),
            ]
            logger.event(.info, "migration.started", "applying \(migration.tag)", fields)
            let started = ContinuousClock.now
            let (outcome, recovered) = try applyRecoveringConnection(migration)
            pending -= 1
            fields["hash"] = "\(migration.hash)"
            fields["duration_ms"] = .int((ContinuousClock.now - started).milliseconds)
            fields["elapsed_ms"] = .int((ContinuousClock.now - runStarted).milliseconds)
            fields["statements"] = .int(migration.pieces.count)
            if outOfOrder.contains(migration.index) { fields["out_of_order"] = .bool(true) }
            logOutcome(outcome, of: migration, recovered: recovered, fields: fields)
        }
    }

    /// How many times one file may lose its connection and be tried again on a new one.
    static let reconnectsPerFile = 3

    /// Applies `migration`; when the connection breaks under a transactional file (an RDS Multi-AZ
    /// failover, a proxy restart), reconnects within the connect timeout and tries again. That is
    /// safe because such a file either committed with its row or left nothing: the retry re-reads
    /// the tracking table under the lock and skips the file if its COMMIT had gone through.
    func applyRecoveringConnection(_ migration: Migration) throws(MigrationError) -> (Outcome, recovered: Bool) {
        var reconnects = 0
        while true {
            do {
                return (try withLockRetry(migration.tag) { () throws in try apply(migration) }, reconnects > 0)
            } catch  where error.lostConnection && reconnects < Self.reconnectsPerFile {
                reconnects += 1
                logger.event(
                    .warning, "database.reconnecting",
                    "lost the database connection while applying \(migration.tag); reconnecting to carry on "
                        + "from the tracking table",
                    ["migration": "\(migration.tag)", "attempt": .int(reconnects), "error": "\(error.message)"])
                try reconnect()
            }
        }
    }

    private func logOutcome(_ outcome: Outcome, of migration: Migration, recovered: Bool, fields: Logger.Metadata) {
        var fields = fields
        let wasOutOfOrder = fields["out_of_order"] != nil
        switch outcome {
        case .applied:
            applied += 1
            fields.merge(appliedLockFields(migration)) { _, new in new }
            logger.event(
                wasOutOfOrder ? .warning : .info, "migration.applied",
                wasOutOfOrder
                    ? "applied \(migration.tag) out of order (older than the newest recorded migration; allowed by "
                        + "--allow-out-of-order / MIGRATOR_ALLOW_OUT_OF_ORDER)"
                    : "applied \(migration.tag)", fields)
        case .alreadyApplied where recovered:
            // The COMMIT reached the server before the connection broke (another runner could have
            // applied it in the gap too; either way it is applied exactly once).
            applied += 1
            fields["recovered"] = .bool(true)
            logger.event(
                .info, "migration.applied",
                "\(migration.tag) was found recorded after reconnecting: its COMMIT had gone through", fields)
        case .alreadyApplied:
            skipped += 1
            logger.event(.info, "migration.skipped", "\(migration.tag) was applied meanwhile by another runner", fields)
        }
    }

    private func logPlanned(_ pendingMigrations: [Migration], outOfOrder: Set<Int>) {
        for (position, migration) in pendingMigrations.enumerated() {
            logger.event(
                .info, "migration.planned", "would apply \(migration.tag)",
                [
                    "migration": "\(migration.tag)", "index": .int(migration.index),
                    "position": .int(position + 1), "total": .int(pendingMigrations.count),
                    "hash": "\(migration.hash)", "created_at": .int(migration.when),
                    "mode": "\(migration.mode.rawValue)", "statements": .int(migration.pieces.count),
                    "out_of_order": .bool(outOfOrder.contains(migration.index)),
                ])
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
}
