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
    /// The longest an applied file held ACCESS EXCLUSIVE on a relation that existed before it.
    public internal(set) var maxExclusiveLockMs: Int64 = 0
    /// Existing tables the applied files rewrote.
    public internal(set) var tablesRewritten = 0
    /// What the file being applied held just before its COMMIT (see `AppliedLocks`).
    var lastLockReport: LockReport?
    var fileLocks: LockTracker?
    /// The tracking table and its indexes, which the lock report leaves out (looked up once).
    var trackingOids: Set<UInt32>?

    /// Connects (waiting for the database up to `settings.connectTimeout`) and keeps the connection
    /// for every command of the run.
    public init(
        target: DatabaseTarget, folder: MigrationFolder, settings: Settings, logger: Logger,
        interruption: Interruption
    ) throws(MigrationError) {
        self.target = target
        self.folder = folder
        self.table = TrackingTable(
            schema: settings.migrationsSchema, table: settings.migrationsTable, layout: folder.layout)
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
