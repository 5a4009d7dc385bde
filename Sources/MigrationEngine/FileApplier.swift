import Logging
import PostgresClient
import StructuredLogging

/// How one attempt at a file ended, when it did not throw.
enum Outcome {
    case applied
    /// Another runner recorded it while we waited for the lock.
    case alreadyApplied
}

/// Why one attempt at a file did not complete: either worth another try (a lock timeout before
/// anything took effect) or final.
enum FileFailure: Error {
    case lockTimeout(PostgresError, [BlockerProbe.Blocker])
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

    // MARK: transactional files (the common case)

    /// BEGIN, SET LOCAL timeouts, advisory xact lock and the re-check go in one round trip; then the
    /// pieces, all in one round trip when that changes nothing (`Migration.runsAsOneQuery`), else each
    /// as Drizzle sends it; then the row and COMMIT in one more.
    private func applyInTransaction(_ migration: Migration) throws -> Outcome {
        var current: Piece?
        do throws(any Error) {
            let results = try lockedTransaction(migration.tag, then: recheckSQL(migration))
            if try alreadyRecorded(migration, recheck: results.last) {
                try connection.simpleQuery("COMMIT")
                return .alreadyApplied
            }
            // Before PostgreSQL 13, statement_timeout covered a whole multi-statement string.
            if migration.runsAsOneQuery
                && (settings.statementTimeout == .zero || connection.serverVersion >= 130_000)
            {
                try runAsOneQuery(migration, current: &current)
            } else {
                try runPieceByPiece(migration, current: &current)
            }
            current = nil
            try connection.simpleQuery(table.insertSQL(for: migration) + ";COMMIT")
            return .applied
        } catch let error as PostgresError {
            rollbackQuietly()
            throw failure(error, migration: migration, piece: current, retryable: true, partial: nil)
        } catch {
            rollbackQuietly()
            throw error
        }
    }

    private func runPieceByPiece(_ migration: Migration, current: inout Piece?) throws {
        for piece in migration.pieces {
            current = piece
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
        }
    }

    /// The file text as one query: the same statements as piece by piece, in one round trip. A
    /// failure names the piece, and the position within it, that one query per piece would have named.
    /// While it runs, the server keeps finished statements' results until the end, so the heartbeat
    /// cannot name the running statement and leaves `statement` out.
    private func runAsOneQuery(_ migration: Migration, current: inout Piece?) throws {
        // Piece by piece, each piece's observer looks for blockers once; here the file gets a fresh
        // look every `reprobe` (as long as `observer` waits before its look) until one is found.
        let reprobe = min(Duration.seconds(1), settings.lockTimeout / 2)
        var watchedSince = Duration.zero
        var watch = observer(migration.tag, piece: nil)
        let results: [QueryResult]
        do {
            results = try connection.simpleQuery(migration.sql, tick: tick) { [self] elapsed in
                if lastBlockers.isEmpty && elapsed - watchedSince >= reprobe {
                    watchedSince = elapsed
                    watch = observer(migration.tag, piece: nil)
                }
                watch(elapsed)
            }
        } catch {
            var error = error
            if let position = error.position, let (piece, inPiece) = migration.piece(atCharacter: position) {
                current = piece
                error.position = inPiece
            } else {
                current = migration.piece(runningAfter: connection.completedResults)
            }
            throw error
        }
        // Only what the lexer missed can get here (it sends files with transaction control elsewhere).
        let ending = results.firstIndex { ["COMMIT", "ROLLBACK", "PREPARE TRANSACTION"].contains($0.commandTag) }
        guard ending == nil && connection.transactionStatus == .inTransaction else {
            // The statement count only names the piece if the server split the file as the lexer did.
            let counted = migration.pieces.reduce(0) { $0 + $1.statements.count }
            let piece = results.count == counted ? migration.piece(runningAfter: ending ?? results.count - 1) : nil
            let last = migration.pieces.count
            throw FileFailure.failed(
                MigrationError(
                    .migrationFailed,
                    "\(migration.tag): "
                        + (piece.map {
                            "statement \($0.number) ended the migration's transaction (a COMMIT or ROLLBACK migrator "
                                + "did not detect); statements 1-\($0.number) may have taken effect"
                                + ($0.number < last
                                    ? ", statements \($0.number + 1)-\(last) ran after it outside migrator's transaction"
                                    : "")
                        }
                            ?? "a statement ended the migration's transaction (a COMMIT or ROLLBACK migrator did not "
                            + "detect); every statement of the file may have taken effect")
                        + ", and no tracking row was written; start the file with "
                        + "-- migrator:no-transaction or remove the transaction control"))
        }
    }

    // MARK: files that manage their own transaction

    /// Session advisory lock (a transaction lock would vanish at the file's own COMMIT), our BEGIN
    /// unless the file is `-- migrator:no-transaction`, the pieces, the row, then RESET ALL and unlock.
    private func applySelfManaged(_ migration: Migration) throws -> Outcome {
        var current: Piece?
        var committedThrough = 0
        var locked = false
        defer {
            if locked { releaseSessionLock(migration) }
        }
        do throws(any Error) {
            var lockPID: String?
            try waitForAdvisoryLock(migration.tag) { () throws(PostgresError) in
                let row = try connection.simpleQuery(
                    "SELECT pg_try_advisory_lock(\(table.advisoryLockKey)), pg_backend_pid()"
                ).last?.rows.first
                lockPID = row.flatMap { $0.count > 1 ? $0[1] : nil }
                return row?.first == "t"
            }
            locked = true
            let recheck = try connection.simpleQuery(recheckSQL(migration) + ";SELECT pg_backend_pid()")
            if let lockPID, recheck.last?.scalar != lockPID {
                // Only a transaction-mode pooler runs consecutive statements of one client on different
                // backends. The session lock stays with the backend that took it, out of our reach.
                locked = false
                throw FileFailure.failed(
                    MigrationError(
                        .migrationFailed,
                        "\(migration.tag) manages its own transaction and needs a session advisory lock, but the "
                            + "connection goes through a transaction-mode pooler (server backend \(lockPID) took the "
                            + "lock, the next statement ran on backend \(recheck.last?.scalar ?? "?")); nothing of the "
                            + "file ran. Apply it over a direct connection or a session-mode pool. The lock is "
                            + "released when that server connection closes (SELECT pg_terminate_backend(\(lockPID)), "
                            + "or RECONNECT in the PgBouncer console)"))
            }
            if try alreadyRecorded(migration, recheck: recheck.dropLast().last) {
                return .alreadyApplied
            }
            try connection.simpleQuery(
                "SET lock_timeout = '\(settings.lockTimeout.milliseconds)ms';"
                    + "SET statement_timeout = '\(settings.statementTimeout.milliseconds)ms'")
            if migration.mode == .selfManaged { try connection.simpleQuery("BEGIN") }
            for piece in migration.pieces {
                current = piece
                try connection.simpleQuery(
                    piece.text, tick: tick, observer: observer(migration.tag, piece: piece.number))
                if connection.transactionStatus == .idle { committedThrough = piece.number }
            }
            current = nil
            let insert = table.insertSQL(for: migration)
            try connection.simpleQuery(connection.transactionStatus == .inTransaction ? insert + ";COMMIT" : insert)
            return .applied
        } catch let error as PostgresError {
            rollbackQuietly()
            throw failure(
                error, migration: migration, piece: current, retryable: committedThrough == 0,
                partial: current.map { partialEffect(migration, failedPiece: $0, committedThrough: committedThrough) })
        }
    }

    /// RESET ALL drops the file's own session settings (real files `SET lock_timeout = 0`); then the
    /// session lock goes. Both run even after a stop request: leaving the lock would block every runner.
    private func releaseSessionLock(_ migration: Migration) {
        rollbackQuietly()
        let unlocked = try? connection.simpleQuery(
            "RESET ALL;SELECT pg_advisory_unlock(\(table.advisoryLockKey))", evenIfInterrupted: true)
        if unlocked?.last?.scalar != "t" {
            logger.event(
                .warning, "lock.release_failed",
                "could not release the session advisory lock after \(migration.tag); it goes when the "
                    + "connection closes, at the end of this run",
                ["migration": "\(migration.tag)", "lock_key": .int(table.advisoryLockKey)])
        }
    }

    private func partialEffect(_ migration: Migration, failedPiece: Piece, committedThrough: Int) -> String {
        var text =
            committedThrough == 0
            ? "nothing of the file had taken effect"
            : "statements 1-\(committedThrough) had already taken effect and stay"
        if failedPiece.number > committedThrough + 1 {
            text += "; statements \(committedThrough + 1)-\(failedPiece.number - 1) were rolled back"
        }
        text += "; no tracking row was written"
        if failedPiece.text.uppercased().contains("CONCURRENTLY") {
            text +=
                "; a failed CREATE INDEX CONCURRENTLY leaves an INVALID index: find it with "
                + "SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid, drop it with DROP INDEX CONCURRENTLY"
        }
        if committedThrough > 0 {
            text += "; make the file idempotent (IF NOT EXISTS) or undo statements 1-\(committedThrough), then rerun"
        }
        return text
    }

    // MARK: shared pieces

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

    var tick: Duration {
        let probeAfter = min(Duration.seconds(1), settings.lockTimeout / 2)
        return max(.milliseconds(20), min(.milliseconds(250), probeAfter / 2))
    }

    /// Opens a transaction that holds the advisory xact lock, and runs `then` (one more statement) in
    /// the same round trip. Returns every result; the last is `then`'s.
    ///
    /// The lock is never *waited for* inside a transaction: a waiter's open transaction would deadlock
    /// with a holder running CREATE INDEX CONCURRENTLY, which waits for every older transaction to
    /// end. So we try the lock, and on failure roll back at once and poll from outside a transaction.
    @discardableResult
    func lockedTransaction(_ label: String, then: String? = nil) throws(PostgresError) -> [QueryResult] {
        let prelude =
            "BEGIN;SET LOCAL lock_timeout = '\(settings.lockTimeout.milliseconds)ms';"
            + "SET LOCAL statement_timeout = '\(settings.statementTimeout.milliseconds)ms';"
            + "SELECT pg_try_advisory_xact_lock(\(table.advisoryLockKey))" + (then.map { ";" + $0 } ?? "")
        var results: [QueryResult] = []
        try waitForAdvisoryLock(label) { () throws(PostgresError) in
            results = try connection.simpleQuery(prelude, tick: tick, observer: observer(label, piece: nil))
            if results.count > 3, results[3].scalar == "t" { return true }
            try connection.simpleQuery("ROLLBACK")
            return false
        }
        return results
    }

    /// Polls `attempt` (which takes the lock or reports it busy) with short, growing, jittered pauses
    /// until `--lock-wait` is spent; names the holder once, then every 10 s.
    func waitForAdvisoryLock(_ label: String, _ attempt: () throws(PostgresError) -> Bool) throws(PostgresError) {
        let started = ContinuousClock.now
        var contended = false
        // Only waiting counts: the uncontended round trip that takes the lock is not lock wait.
        defer { if contended { lockWait += ContinuousClock.now - started } }
        let deadline = lockDeadline ?? started + settings.lockWait
        var pause = Duration.milliseconds(5)
        var lastReport: ContinuousClock.Instant?
        while try !attempt() {
            contended = true
            let now = ContinuousClock.now
            if now >= deadline {
                throw PostgresError(
                    code: .server,
                    message: "the migration lock (advisory lock \(table.advisoryLockKey)) is held by "
                        + "\(describe(advisoryLockHolders())); another migrator is running",
                    sqlState: "55P03")
            }
            if lastReport.map({ now - $0 >= .seconds(10) }) ?? (now - started >= .milliseconds(500)) {
                lastReport = now
                let holders = advisoryLockHolders()
                logger.event(
                    .info, "lock.waiting", "\(label) is waiting for the migration lock held by \(describe(holders))",
                    [
                        "migration": "\(label)", "lock_key": .int(table.advisoryLockKey),
                        "waited_ms": .int((now - started).milliseconds), "blockers": .array(holders.map(\.metadata)),
                    ])
            }
            let jittered = Duration.milliseconds(Int64.random(in: pause.milliseconds / 2...pause.milliseconds))
            if interruption.sleep(milliseconds: min(jittered, now.duration(to: deadline)).milliseconds) {
                throw PostgresError(code: .cancelled, message: "interrupted while waiting for the migration lock")
            }
            pause = min(pause * 2, .milliseconds(200))
        }
    }

    /// Who holds our advisory lock (bigint keys live in classid/objid with objsubid 1).
    func advisoryLockHolders() -> [BlockerProbe.Blocker] {
        let key = UInt64(bitPattern: table.advisoryLockKey)
        let result = try? connection.query(
            """
            SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
              coalesce(to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
              left(coalesce(a.query, ''), 200)
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid AND l.objid = $2::oid
              AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, [String(key >> 32), String(key & 0xFFFF_FFFF)])
        return (result?.rows ?? []).map { row in
            BlockerProbe.Blocker(
                pid: Int32(row[0] ?? "") ?? 0, applicationName: row[1] ?? "", state: row[2] ?? "",
                queryStart: row[3] ?? "", query: row[4] ?? "")
        }
    }

    func describe(_ holders: [BlockerProbe.Blocker]) -> String {
        holders.isEmpty
            ? "another session"
            : holders.map { "pid \($0.pid) (\($0.applicationName.isEmpty ? "?" : $0.applicationName), \($0.state))" }
                .joined(separator: ", ")
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

    private func failure(_ error: PostgresError, label: String) -> FileFailure {
        if let reason = interruption.reason {
            return .failed(
                MigrationError(.interrupted, "stopped by \(reason.signalName) during \(label)", interruption: reason))
        }
        if error.sqlState == "55P03" || error.sqlState == "40P01" { return .lockTimeout(error, lastBlockers) }
        if error.code == .connectionLost {
            return .failed(MigrationError(.database, "lost the database connection during \(label): \(error.message)"))
        }
        return .failed(MigrationError(.migrationFailed, "\(label) failed: \(error)"))
    }

    private func failure(
        _ error: PostgresError, migration: Migration, piece: Piece?, retryable: Bool, partial: String?
    ) -> FileFailure {
        if let reason = interruption.reason {
            var message = "stopped by \(reason.signalName) while applying \(migration.tag)"
            message += partial.map { "; " + $0 } ?? "; the file was rolled back"
            logger.event(
                .warning, "migration.cancelled", message,
                [
                    "migration": "\(migration.tag)", "index": .int(migration.index),
                    "statement": .int(piece?.number ?? 0),
                ])
            return .failed(MigrationError(.interrupted, message, interruption: reason))
        }
        if (error.sqlState == "55P03" || error.sqlState == "40P01") && retryable {
            return .lockTimeout(error, lastBlockers)
        }

        var fields: Logger.Metadata = [
            "migration": "\(migration.tag)", "index": .int(migration.index), "file": "\(migration.fileName)",
            "sqlstate": "\(error.sqlState ?? "")", "error": "\(error.message)",
        ]
        if let detail = error.detail { fields["detail"] = .string(detail) }
        if let hint = error.hint { fields["hint"] = .string(hint) }
        var place = "while taking the migration lock"
        if let piece {
            fields["statement"] = .int(piece.number)
            let statements = piece.statements
            var offsetInPiece = statements.first?.range.lowerBound ?? 0
            if let position = error.position {
                offsetInPiece = piece.byteOffset(ofCharacterPosition: position)
                if statements.count > 1,
                    let part = statements.firstIndex(where: { $0.range.upperBound >= offsetInPiece })
                {
                    fields["statement_part"] = .int(part + 1)
                }
            } else if statements.count > 1 {
                fields["statement_parts"] = .int(statements.count)
            }
            let (line, column) = migration.location(ofByte: piece.byteOffset + offsetInPiece)
            fields["line"] = .int(line)
            fields["column"] = .int(column)
            place = "at statement \(piece.number) (\(migration.fileName) line \(line), column \(column))"
        }
        var reason = error.message
        if error.sqlState == "57014" && error.message.contains("statement timeout") {
            reason = "cancelled by the statement timeout of \(settings.statementTimeout.milliseconds) ms"
            if let piece { reason += " while running \(Self.beginning(of: piece))" }
        } else if error.sqlState == "55P03" {
            reason = "lock timeout after statements had already taken effect: \(error.message)"
        }
        if error.code == .connectionLost { reason = "the database connection was lost: \(error.message)" }
        var message = "\(migration.tag) failed \(place): \(reason)"
        if let sqlState = error.sqlState { message += " (SQLSTATE \(sqlState))" }
        message += partial.map { "; " + $0 } ?? "; the file was rolled back, earlier files stay applied"
        logger.event(.error, "migration.failed", message, fields)
        return .failed(MigrationError(.migrationFailed, message))
    }

    /// The first line of a piece's first statement, shortened, so an operator recognises it in the log.
    static func beginning(of piece: Piece) -> String {
        let bytes = Array(piece.text.utf8)
        let text = piece.statements.first.map { String(decoding: bytes[$0.range], as: UTF8.self) } ?? piece.text
        let firstLine = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return "\"" + (firstLine.count > 80 ? firstLine.prefix(80) + "…" : firstLine) + "\""
    }

    /// Heartbeat every 10 s while a statement runs, and a look at who blocks us once it has waited a
    /// while (before the lock timeout fires, so the log names the blocker while it still blocks).
    func observer(_ label: String, piece: Int?) -> Connection.Observer {
        var probed = false
        let probeAfter = min(Duration.seconds(1), settings.lockTimeout / 2)
        lastBlockers = []
        return { [self] elapsed in
            var blockersChecked = false
            if !probed && elapsed >= probeAfter {
                probed = true
                blockersChecked = true
                lastBlockers = probe.blockers(of: connection.backendPID)
                if !lastBlockers.isEmpty {
                    probe.lastReport = .now
                    logger.event(
                        .warning, "lock.waiting",
                        "\(label) is waiting for a lock held by pid \(lastBlockers.map { String($0.pid) }.joined(separator: ", "))",
                        ["migration": "\(label)", "blockers": .array(lastBlockers.map(\.metadata))])
                }
            }
            if ContinuousClock.now - probe.lastReport >= Self.heartbeatInterval {
                probe.lastReport = .now
                if !blockersChecked { lastBlockers = probe.blockers(of: connection.backendPID) }
                var fields: Logger.Metadata = [
                    "migration": "\(label)", "elapsed_ms": .int(elapsed.milliseconds),
                    "blockers": .array(lastBlockers.map(\.metadata)),
                ]
                if let piece { fields["statement"] = .int(piece) }
                logger.event(.info, "migration.running", "\(label) still running", fields)
            }
        }
    }

    /// At most this long without a line while a file runs or waits for locks, so a stuck deploy shows.
    static let heartbeatInterval = Duration.seconds(10)

    /// The backoff can be up to 10 s; the heartbeat keeps its cadence through it.
    private func sleepWithHeartbeat(
        _ label: String, _ backoff: Duration, waitingSince: ContinuousClock.Instant
    ) throws(MigrationError) {
        let end = ContinuousClock.now + backoff
        while true {
            let now = ContinuousClock.now
            let untilEnd = now.duration(to: end)
            if untilEnd <= .zero { return }
            let untilHeartbeat = now.duration(to: probe.lastReport + Self.heartbeatInterval)
            if untilHeartbeat <= .zero {
                probe.lastReport = now
                logger.event(
                    .info, "migration.running", "\(label) still waiting for its locks",
                    [
                        "migration": "\(label)", "elapsed_ms": .int((now - waitingSince).milliseconds),
                        "waiting": "backoff", "blockers": .array(lastBlockers.map(\.metadata)),
                    ])
                continue
            }
            if interruption.sleep(milliseconds: min(untilEnd, untilHeartbeat).milliseconds) {
                try stopIfInterrupted()
            }
        }
    }

    /// Retries `body` on lock timeouts with exponential backoff and jitter until `--lock-wait` is spent.
    func withLockRetry(_ label: String, _ body: () throws -> Outcome) throws(MigrationError) -> Outcome {
        let firstAttempt = ContinuousClock.now
        probe.lastReport = firstAttempt
        let deadline = ContinuousClock.now + settings.lockWait
        lockDeadline = deadline
        defer { lockDeadline = nil }
        var attempt = 0
        while true {
            try stopIfInterrupted()
            let started = ContinuousClock.now
            do {
                return try body()
            } catch FileFailure.failed(let error) {
                throw error
            } catch FileFailure.lockTimeout(let error, let blockers) {
                attempt += 1
                lockWait += ContinuousClock.now - started
                let remaining = ContinuousClock.now.duration(to: deadline)
                let blockedBy =
                    blockers.isEmpty
                    ? ""
                    : "; blocked by "
                        + blockers.map {
                            "pid \($0.pid) (\($0.applicationName.isEmpty ? "?" : $0.applicationName), \($0.state))"
                        }
                        .joined(separator: ", ")
                if remaining <= .zero {
                    throw MigrationError(
                        .lockTimeout,
                        "\(label): could not take its locks within the lock wait of \(settings.lockWait.milliseconds) ms "
                            + "(\(attempt) attempts, lock timeout \(settings.lockTimeout.milliseconds) ms each): "
                            + "\(error.message)\(blockedBy); nothing of it was applied")
                }
                let ceiling = min(Duration.milliseconds(100) * (1 << min(attempt, 7)), .seconds(10))
                let jittered = Duration.milliseconds(Int64.random(in: ceiling.milliseconds / 2...ceiling.milliseconds))
                let backoff = min(jittered, remaining)
                var fields: Logger.Metadata = [
                    "migration": "\(label)", "attempt": .int(attempt), "retry_in_ms": .int(backoff.milliseconds),
                    "sqlstate": "55P03", "error": "\(error.message)",
                    "remaining_ms": .int(remaining.milliseconds),
                ]
                fields["blockers"] = .array(blockers.map(\.metadata))
                logger.event(.warning, "lock.timeout", "\(label) hit the lock timeout, retrying\(blockedBy)", fields)
                probe.lastReport = .now
                lockWait += backoff
                try sleepWithHeartbeat(label, backoff, waitingSince: firstAttempt)
            } catch let error as MigrationError {
                throw error
            } catch {
                throw MigrationError(.migrationFailed, "\(label): \(error)")
            }
        }
    }
}
