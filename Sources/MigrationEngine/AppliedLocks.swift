import Logging
import PostgresClient
import StructuredLogging

/// The lock report of `up`: what each transactional file held just before its COMMIT, for the
/// `migration.applied` line and the run's metrics. Three calls from the applier: `followLocks` once
/// the file's transaction holds the advisory lock, `pieceRan` around each piece when the file runs
/// piece by piece, `reportLocks` just before the tracking insert and COMMIT.
extension Migrator {
    func followLocks() {
        lastLockReport = nil
        fileLocks = settings.lockReport ? LockTracker(table: table) : nil
    }

    /// After a piece of a file that runs piece by piece: which locks that statement took.
    func pieceRan(_ piece: Piece, started: ContinuousClock.Instant) throws(PostgresError) {
        guard let tracker = fileLocks else { return }
        tracker.pieceStarting(piece.number, at: started)
        try tracker.snapshot(on: connection)
    }

    /// Reads the file's locks while it still holds them, and the committed catalog beside them.
    /// Where the pieces were not seen one by one, every hold time is the transaction's: an upper bound.
    func reportLocks(of migration: Migration) throws(PostgresError) {
        guard let tracker = fileLocks else { return }
        fileLocks = nil
        let pieceByPiece = tracker.hasSnapshots
        if !pieceByPiece { try tracker.snapshot(on: connection) }
        lastLockReport = tracker.report(
            committed: committedCatalog(for: tracker), migration: migration, heldIsUpperBound: !pieceByPiece)
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
