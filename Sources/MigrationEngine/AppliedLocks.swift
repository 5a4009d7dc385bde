import Logging
import PostgresClient
import StructuredLogging

/// The lock report of `up`: what each transactional file held just before its COMMIT, for the
/// `migration.applied` line and the run's metrics. Three calls from the applier: `followLocks` once
/// the file's transaction holds the advisory lock, `pieceRan` after each piece when the file runs
/// piece by piece, `reportLocks` just before the tracking insert and COMMIT.
extension Migrator {
    func followLocks(_ migration: Migration) {
        lastLockReport = nil
        fileLocks = nil
        guard settings.lockReport else { return }
        let tracker = LockTracker(table: table, excluded: trackingOids)
        tracker.lastPiece = migration.pieces.count
        fileLocks = tracker
    }

    /// After a piece of a file that runs piece by piece: which locks that statement took. The last
    /// piece's look is the one `reportLocks` takes, beside the monitor's.
    func pieceRan(_ piece: Piece, started: ContinuousClock.Instant) throws(PostgresError) {
        guard let tracker = fileLocks else { return }
        tracker.pieceStarting(piece.number, at: started)
        if piece.number < tracker.lastPiece { try tracker.snapshot(on: connection) }
    }

    /// Reads the file's locks while it still holds them, and, at the same time on the monitor
    /// connection, the committed catalog of the same relations. Where the pieces were not seen one
    /// by one, every hold time is the transaction's: an upper bound.
    func reportLocks(of migration: Migration) throws(PostgresError) {
        guard let tracker = fileLocks else { return }
        fileLocks = nil
        let pieceByPiece = tracker.attributesPieces
        let monitor = probe.connection()
        let committed = monitor.map { LockQueries.Concurrent(lockedBy: connection.backendPID, on: $0) }
        var snapshotError: PostgresError?
        do throws(PostgresError) {
            try tracker.snapshot(on: connection)
        } catch {
            snapshotError = error
        }
        var catalog = committed?.wait()
        if let snapshotError { throw snapshotError }
        if let monitor, catalog != nil, let pid = tracker.serverPID, pid != connection.backendPID {
            catalog = try? LockQueries.committed(oids: tracker.oids, on: monitor)
        }
        if monitor != nil && catalog == nil { probe.giveUp() }
        trackingOids = tracker.excluded
        lastLockReport = tracker.report(
            committed: catalog, migration: migration, heldIsUpperBound: !pieceByPiece)
    }

    /// The `locks` and `max_lock` fields of `migration.applied`, and the run's totals.
    func appliedLockFields(_ migration: Migration) -> Logger.Metadata {
        guard settings.lockReport else { return [:] }
        guard migration.mode == .transactional, let report = lastLockReport else {
            return [
                "locks": .array([]), "max_lock": "unknown",
                "lock_report_notes": .array([
                    "the file manages its own transaction: its locks ended at its own COMMIT, before migrator could read them"
                ]),
            ]
        }
        maxExclusiveLockMs = max(maxExclusiveLockMs, report.maxExclusiveLockMs)
        tablesRewritten += report.rewrittenTables.count
        return report.metadata
    }
}
