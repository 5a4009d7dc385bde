import Logging
import PostgresClient
import StructuredLogging

/// What the tracking table holds, as read before a command decides anything.
struct History {
    var rows: [TrackingRow]
    var tableExists: Bool
    /// 0: Drizzle 0.x's columns; 1: with Drizzle 1.0's `name`; nil: no table yet.
    var tableVersion: Int?

    init(_ state: TrackingTable.State) {
        rows = state.rows ?? []
        tableExists = state.tableExists
        tableVersion = state.version
    }

    /// The rows, named as Drizzle 1.0's upgrade would name them while the table is still 0.x.
    func namedRows(_ migrations: [Migration]) -> [TrackingRow] {
        guard tableVersion == 0, migrations.first?.layout == .folders else { return rows }
        return TrackingUpgrade(rows: rows, migrations: migrations).apply(to: rows)
    }
}

extension Migrator {
    /// The tracking rows in id order, read without creating anything; refuses a journal folder on a
    /// table Drizzle 1.0 has taken over.
    func history() throws(MigrationError) -> History {
        let history = History(try database { () throws(PostgresError) in try table.state(on: connection) })
        if folder.layout == .journal && history.tableVersion == 1 {
            throw MigrationError(
                .drift,
                "\(table.qualifiedName) has Drizzle 1.0's \"name\" column: this database belongs to the 1.0 "
                    + "folder layout; applying a journal folder would make Drizzle 1.0 run migrations twice. Convert "
                    + "the folder with `drizzle-kit up` (drizzle-kit 1.0) and deploy the converted folder")
        }
        return history
    }

    /// Re-read inside a locked transaction.
    func lockedHistory() throws(PostgresError) -> History {
        History(try table.state(on: connection))
    }

    /// Drizzle 1.0's first-run upgrade of a 0.x table (see `TrackingUpgrade`), under our lock and
    /// in one transaction, so that of several runners starting together exactly one upgrades and
    /// the others find it done. Rows no folder matches stop it (exit 5) with nothing changed.
    func upgradeTrackingTable() throws(MigrationError) {
        var named: Int?
        var refusal: MigrationError?
        _ = try withLockRetry("upgrade") { () throws in
            (named, refusal) = (nil, nil)
            try transaction(label: "upgrade") { () throws(PostgresError) in
                let state = try table.state(on: connection)
                guard state.version == 0 else { return false }
                let upgrade = TrackingUpgrade(rows: state.rows ?? [], migrations: folder.migrations)
                if let message = upgrade.refusal {
                    refusal = MigrationError(.drift, message)
                    return false
                }
                for statement in upgrade.statements(for: table) { try connection.simpleQuery(statement) }
                named = upgrade.names.count
                return true
            }
            return .applied
        }
        if let refusal { throw refusal }
        guard let named else {
            logger.event(
                .info, "tracking.upgrade_skipped", "\(table.qualifiedName) was upgraded meanwhile by another runner",
                ["table": "\(table.qualifiedName)"])
            return
        }
        logger.event(
            .info, "tracking.upgraded",
            "upgraded \(table.qualifiedName) to Drizzle 1.0's table: added name and applied_at, named \(named) row(s)",
            [
                "table": "\(table.qualifiedName)", "rows_named": .int(named), "from_version": .int(0),
                "to_version": .int(1),
            ])
    }

    /// Said by every command that reads a plan (`up --dry-run`, `verify`, `baseline`): the upgrade is
    /// due and what it will do, or why it cannot run.
    func reportUpgrade(_ plan: Plan) {
        guard let upgrade = plan.upgrade, upgrade.refusal == nil else { return }
        logger.event(
            .info, "tracking.upgrade_due",
            "\(table.qualifiedName) is Drizzle 0.x's table and this is a Drizzle 1.0 folder: `up` adds name and "
                + "applied_at and names \(upgrade.names.count) row(s) first, as Drizzle 1.0 does on its first run",
            ["table": "\(table.qualifiedName)", "rows_named": .int(upgrade.names.count)])
    }
}
