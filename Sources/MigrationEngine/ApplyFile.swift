import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

/// How one attempt at a file ended, when it did not throw.
enum Outcome {
    case applied
    /// Another runner recorded it while we waited for the lock.
    case alreadyApplied
}

/// Why one attempt at a file did not complete: either worth another try (a lock timeout before
/// anything took effect) or final.
enum FileFailure: Error {
    case lockTimeout(PostgresError, [Blocker])
    case failed(MigrationError)
}

extension Migrator {
    /// One attempt at a pending file, in the mode its content asks for.
    func apply(_ migration: Migration) throws -> Outcome {
        switch migration.mode {
        case .transactional: try applyInTransaction(migration)
        case .selfManaged, .noTransaction: try applySelfManaged(migration)
        }
    }

    /// BEGIN, SET LOCAL timeouts, advisory xact lock and the re-check go in one round trip; then the
    /// pieces, all in one round trip when that changes nothing (`Migration.runsAsOneQuery`), else each
    /// as Drizzle sends it; then the row, COMMIT and the session reset in one more.
    private func applyInTransaction(_ migration: Migration) throws -> Outcome {
        var phase = FilePhase.lock
        do throws(any Error) {
            let results = try lockedTransaction(migration.tag, then: recheckSQL(migration))
            if try alreadyRecorded(migration, recheck: results.last) {
                try connection.simpleQuery("COMMIT")
                return .alreadyApplied
            }
            followLocks(migration)
            // Before PostgreSQL 13, statement_timeout covered a whole multi-statement string.
            if migration.runsAsOneQuery
                && (settings.statementTimeout == .zero || connection.serverVersion >= 130_000)
            {
                try runAsOneQuery(migration, phase: &phase)
            } else {
                try runPieceByPiece(migration, phase: &phase)
            }
            try reportLocks(of: migration)
            try recordAndCommit(migration, phase: &phase)
            return .applied
        } catch let error as PostgresError {
            rollbackQuietly()
            throw failure(error, migration: migration, phase: phase, retryable: true, partial: nil)
        } catch {
            rollbackQuietly()
            throw error
        }
    }

    /// The row and COMMIT, then `RESET ALL`: a file's own `SET search_path` or `SET work_mem` (not
    /// `SET LOCAL`) would otherwise outlive its transaction and change the next file, so that where a
    /// table lands would depend on which files share a run. `RESET ROLE` first, so the row is written
    /// as the connection's own role even after the file's `SET ROLE` (RESET ALL leaves the role alone).
    private func recordAndCommit(_ migration: Migration, phase: inout FilePhase) throws {
        phase = .trackingInsert
        do {
            try connection.simpleQuery(
                "RESET ROLE;" + table.insertSQL(for: migration) + ";COMMIT;RESET ALL")
        } catch {
            // RESET ROLE, INSERT, COMMIT, RESET ALL: which one failed is how many completed before it.
            switch connection.completedResults {
            case 0, 1: phase = .trackingInsert
            case 2: phase = .commit
            default:
                // Committed; only the reset failed. The next file's BEGIN starts from a session that
                // may carry the file's settings, which the warning says.
                logger.event(
                    .warning, "session.reset_failed",
                    "\(migration.tag) committed, but resetting the session afterwards failed: \(error.message)",
                    ["migration": "\(migration.tag)"])
                return
            }
            throw error
        }
    }

    private func runPieceByPiece(_ migration: Migration, phase: inout FilePhase) throws {
        for piece in migration.pieces {
            phase = .statement(piece)
            let started = ContinuousClock.now
            try connection.simpleQuery(
                piece.text, tick: tick, observer: observer(migration.tag, piece: piece.number))
            guard connection.transactionStatus == .inTransaction else {
                throw FileFailure.failed(
                    MigrationError(
                        .migrationFailed,
                        "\(migration.tag): statement \(piece.number) ended the migration's transaction (a COMMIT "
                            + "or ROLLBACK migrator did not detect); statements 1-\(piece.number) may have taken "
                            + "effect and no tracking row was written; start the file with "
                            + "-- migrator:no-transaction or remove the transaction control"))
            }
            try pieceRan(piece, started: started)
        }
    }

    /// The file text as one query: the same statements as piece by piece, in one round trip. A
    /// failure names the piece, and the position within it, that one query per piece would have named.
    /// While it runs, the server keeps finished statements' results until the end, so the heartbeat
    /// cannot name the running statement and leaves `statement` out.
    private func runAsOneQuery(_ migration: Migration, phase: inout FilePhase) throws {
        // Piece by piece, each piece's observer looks for blockers once; here the file gets a fresh
        // look every `reprobe` (as long as `observer` waits before its look) until one is found.
        let reprobe = min(Duration.seconds(1), settings.lockTimeout / 2)
        var watchedSince = Duration.zero
        var watch = observer(migration.tag, piece: nil)
        let results: [QueryResult]
        do {
            results = try connection.simpleQuery(migration.sql, tick: tick) { [self] elapsed in
                if locks.lastBlockers.isEmpty && elapsed - watchedSince >= reprobe {
                    watchedSince = elapsed
                    watch = observer(migration.tag, piece: nil)
                }
                watch(elapsed)
            }
        } catch {
            var error = error
            if let position = error.position, let (piece, inPiece) = migration.piece(atCharacter: position) {
                phase = .statement(piece)
                error.position = inPiece
            } else {
                phase = .statement(migration.piece(runningAfter: connection.completedResults))
            }
            throw error
        }
        // Only what the lexer missed can get here (it sends files with transaction control elsewhere).
        let ending = results.firstIndex { ["COMMIT", "ROLLBACK", "PREPARE TRANSACTION"].contains($0.commandTag) }
        guard ending == nil && connection.transactionStatus == .inTransaction else {
            // The statement count only names the piece if the server split the file as the lexer did.
            let counted = migration.pieces.reduce(0) { $0 + $1.statements.count }
            let piece = results.count == counted ? migration.piece(runningAfter: ending ?? results.count - 1) : nil
            throw FileFailure.failed(endedTransaction(migration, piece: piece))
        }
    }

    private func endedTransaction(_ migration: Migration, piece: Piece?) -> MigrationError {
        let last = migration.pieces.count
        let what =
            piece.map {
                "statement \($0.number) ended the migration's transaction (a COMMIT or ROLLBACK migrator "
                    + "did not detect); statements 1-\($0.number) may have taken effect"
                    + ($0.number < last
                        ? ", statements \($0.number + 1)-\(last) ran after it outside migrator's transaction" : "")
            }
            ?? "a statement ended the migration's transaction (a COMMIT or ROLLBACK migrator did not detect); "
            + "every statement of the file may have taken effect"
        return MigrationError(
            .migrationFailed,
            "\(migration.tag): \(what), and no tracking row was written; start the file with "
                + "-- migrator:no-transaction or remove the transaction control")
    }

    /// A pending file without SQL is almost always a mistake (a custom migration never filled in, a
    /// truncated checkout), and recording it would make the filled-in file "changed" later. An empty
    /// file that is already recorded is history and stays valid, so this looks at pending files only.
    func refuseEmptyFiles(in pending: [Migration]) throws(MigrationError) {
        guard let empty = pending.first(where: { $0.sql.allSatisfy(\.isWhitespace) }) else { return }
        throw MigrationError(
            .configuration,
            "\(folder.path)/\(empty.fileName) is pending but empty (\(empty.byteCount) bytes, no SQL): write its "
                + "SQL, or remove it together with its meta/_journal.json entry; nothing was applied")
    }

    /// Under the lock: is this entry recorded now, and what is the newest row? One cheap query.
    func recheckSQL(_ migration: Migration) -> String {
        table.recheckSQL(for: migration)
    }

    func alreadyRecorded(_ migration: Migration, recheck: QueryResult?) throws -> Bool {
        let row = recheck?.rows.first ?? []
        let hashes = (row.first ?? nil)?.split(separator: ",").map(String.init) ?? []
        if hashes.contains(migration.hash) { return true }
        let siblings = folder.migrations.filter {
            migration.name == nil && $0.when == migration.when && $0.index != migration.index
        }.map(\.hash)
        if let foreign = hashes.first(where: { !siblings.contains($0) }) {
            throw FileFailure.failed(
                MigrationError(
                    .drift,
                    "\(migration.tag) was recorded meanwhile by another runner with hash \(foreign), but this "
                        + "folder's file hashes to \(migration.hash); two different versions of the folder are deploying"
                ))
        }
        if row.count > 1, let newest = row[1].flatMap({ Int64($0) }), migration.isOlder(thanRecorded: newest),
            !settings.allowOutOfOrder
        {
            throw FileFailure.failed(
                MigrationError(
                    .drift,
                    "\(migration.tag) became out of order while waiting for the lock: a newer migration "
                        + "(created_at \(newest)) was recorded meanwhile; rerun, or use --allow-out-of-order"))
        }
        return false
    }

    /// Used by bootstrap, baseline and forget: prelude, body, then COMMIT (body returns true) or ROLLBACK.
    func transaction(label: String, _ body: () throws(PostgresError) -> Bool) throws {
        do {
            try lockedTransaction(label)
            try connection.simpleQuery(try body() ? "COMMIT" : "ROLLBACK")
        } catch {
            rollbackQuietly()
            throw failure(error, label: label)
        }
    }

    func rollbackQuietly() {
        if connection.transactionStatus == .inTransaction || connection.transactionStatus == .inFailedTransaction {
            _ = try? connection.simpleQuery("ROLLBACK", evenIfInterrupted: true)
        }
    }
}
