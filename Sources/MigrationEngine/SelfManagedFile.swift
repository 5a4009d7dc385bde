import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

extension Migrator {
    /// Session advisory lock (a transaction lock would vanish at the file's own COMMIT), our BEGIN
    /// unless the file is `-- migrator:no-transaction`, the pieces, the row, then RESET ALL and unlock.
    func applySelfManaged(_ migration: Migration) throws -> Outcome {
        var phase = FilePhase.lock
        var committedThrough = 0
        var locked = false
        defer {
            if locked { releaseSessionLock(migration) }
        }
        do throws(any Error) {
            let lockPID = try takeSessionLock(migration)
            locked = true
            let recheck = try connection.simpleQuery(recheckSQL(migration) + ";SELECT pg_backend_pid()")
            if let lockPID, recheck.last?.scalar != lockPID {
                // Only a transaction-mode pooler runs consecutive statements of one client on different
                // backends. The session lock stays with the backend that took it, out of our reach.
                locked = false
                throw FileFailure.failed(pooled(migration, lockPID: lockPID, nextPID: recheck.last?.scalar))
            }
            if try alreadyRecorded(migration, recheck: recheck.dropLast().last) {
                return .alreadyApplied
            }
            try connection.simpleQuery(
                "SET lock_timeout = '\(settings.lockTimeout.milliseconds)ms';"
                    + "SET statement_timeout = '\(settings.statementTimeout.milliseconds)ms'")
            if migration.mode == .selfManaged { try connection.simpleQuery("BEGIN") }
            for piece in migration.pieces {
                phase = .statement(piece)
                try connection.simpleQuery(
                    piece.text, tick: tick, observer: observer(migration.tag, piece: piece.number))
                if connection.transactionStatus == .idle { committedThrough = piece.number }
            }
            phase = .trackingInsert
            // As the connection's own role, whatever the file's SET ROLE said.
            let insert = "RESET ROLE;" + table.insertSQL(for: migration)
            if connection.transactionStatus == .inTransaction {
                try connection.simpleQuery(insert)
                phase = .commit
                try connection.simpleQuery("COMMIT")
            } else {
                try connection.simpleQuery(insert)
            }
            return .applied
        } catch let error as PostgresError {
            rollbackQuietly()
            throw failure(
                error, migration: migration, phase: phase, retryable: committedThrough == 0,
                partial: phase == .lock
                    ? nil : partialEffect(migration, failedPiece: phase.piece, committedThrough: committedThrough),
                selfManaged: true)
        }
    }

    /// Takes the session lock and returns the server backend that took it, as the server says: behind
    /// a pooler, libpq's own backend pid is the pooler's invention.
    private func takeSessionLock(_ migration: Migration) throws(PostgresError) -> String? {
        var lockPID: String?
        try waitForAdvisoryLock(migration.tag) { () throws(PostgresError) in
            let row = try connection.simpleQuery(
                "SELECT pg_try_advisory_lock(\(table.advisoryLockKey)), pg_backend_pid()"
            ).last?.rows.first
            lockPID = row.flatMap { $0.count > 1 ? $0[1] : nil }
            return row?.first == "t"
        }
        return lockPID
    }

    private func pooled(_ migration: Migration, lockPID: String, nextPID: String?) -> MigrationError {
        MigrationError(
            .migrationFailed,
            "\(migration.tag) manages its own transaction and needs a session advisory lock, but the "
                + "connection goes through a transaction-mode pooler (server backend \(lockPID) took the "
                + "lock, the next statement ran on backend \(nextPID ?? "?")); nothing of the "
                + "file ran. Apply it over a direct connection or a session-mode pool. The lock is "
                + "released when that server connection closes (SELECT pg_terminate_backend(\(lockPID)), "
                + "or RECONNECT in the PgBouncer console)")
    }

    /// RESET ALL drops the file's own session settings (real files `SET lock_timeout = 0`); then the
    /// session lock goes. Both run even after a stop request: leaving the lock would block every runner.
    private func releaseSessionLock(_ migration: Migration) {
        rollbackQuietly()
        let unlocked = try? connection.simpleQuery(
            "RESET ROLE;RESET ALL;SELECT pg_advisory_unlock(\(table.advisoryLockKey))", evenIfInterrupted: true)
        if unlocked?.last?.scalar != "t" {
            logger.event(
                .warning, "lock.release_failed",
                "could not release the session advisory lock after \(migration.tag); it goes when the "
                    + "connection closes, at the end of this run",
                ["migration": "\(migration.tag)", "lock_key": .int(table.advisoryLockKey)])
        }
    }
}
