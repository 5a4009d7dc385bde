import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

/// What waiting for locks has seen and spent: who blocked the last statement that waited (for the
/// lock-timeout report), when the current file's retries give up, when the last line about the file
/// was written (the heartbeat's clock, shared by every attempt and backoff of that file), and the
/// run's total wait.
struct LockWaitState {
    var lastBlockers: [Blocker] = []
    /// When the current `withLockRetry` gives up; advisory-lock polling shares it.
    var deadline: ContinuousClock.Instant?
    var lastReport = ContinuousClock.now
    /// Time spent waiting for locks (advisory and table locks, including backoff).
    var waited: Duration = .zero
}

extension Migrator {
    /// At most this long without a line while a file runs or waits for locks, so a stuck deploy shows.
    static let heartbeatInterval = Duration.seconds(10)

    /// How often a running statement is looked at (heartbeat, blockers, stop requests).
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
        defer { if contended { locks.waited += ContinuousClock.now - started } }
        let deadline = locks.deadline ?? started + settings.lockWait
        var pause = Duration.milliseconds(5)
        var lastReport: ContinuousClock.Instant?
        while try !attempt() {
            contended = true
            let now = ContinuousClock.now
            if now >= deadline {
                throw PostgresError(
                    code: .server,
                    message: "the migration lock (advisory lock \(table.advisoryLockKey)) is held by "
                        + "\(advisoryLockHolders().summary); another migrator is running",
                    sqlState: "55P03")
            }
            if lastReport.map({ now - $0 >= .seconds(10) }) ?? (now - started >= .milliseconds(500)) {
                lastReport = now
                let holders = advisoryLockHolders()
                logger.event(
                    .info, "lock.waiting", "\(label) is waiting for the migration lock held by \(holders.summary)",
                    [
                        "migration": "\(label)", "lock_key": .int(table.advisoryLockKey),
                        "waited_ms": .int((now - started).milliseconds), "blockers": .array(holders.map(\.metadata)),
                    ])
            }
            let jittered = Duration.milliseconds(Int64.random(in: pause.milliseconds / 2...pause.milliseconds))
            if interruption.sleep(for: min(jittered, now.duration(to: deadline))) {
                throw PostgresError(code: .cancelled, message: "interrupted while waiting for the migration lock")
            }
            pause = min(pause * 2, .milliseconds(200))
        }
    }

    func advisoryLockHolders() -> [Blocker] {
        BlockerProbe.advisoryLockHolders(key: table.advisoryLockKey, on: connection)
    }

    /// Heartbeat every 10 s while a statement runs, and a look at who blocks us once it has waited a
    /// while (before the lock timeout fires, so the log names the blocker while it still blocks).
    func observer(_ label: String, piece: Int?) -> Connection.Observer {
        var probed = false
        let probeAfter = min(Duration.seconds(1), settings.lockTimeout / 2)
        locks.lastBlockers = []
        return { [self] elapsed in
            var blockersChecked = false
            if !probed && elapsed >= probeAfter {
                probed = true
                blockersChecked = true
                locks.lastBlockers = probe.blockers(of: connection.backendPID)
                if !locks.lastBlockers.isEmpty {
                    locks.lastReport = .now
                    logger.event(
                        .warning, "lock.waiting",
                        "\(label) is waiting for a lock held by pid "
                            + locks.lastBlockers.map { String($0.pid) }.joined(separator: ", "),
                        ["migration": "\(label)", "blockers": .array(locks.lastBlockers.map(\.metadata))])
                }
            }
            if ContinuousClock.now - locks.lastReport >= Self.heartbeatInterval {
                locks.lastReport = .now
                if !blockersChecked { locks.lastBlockers = probe.blockers(of: connection.backendPID) }
                var fields: Logger.Metadata = [
                    "migration": "\(label)", "elapsed_ms": .int(elapsed.milliseconds),
                    "blockers": .array(locks.lastBlockers.map(\.metadata)),
                ]
                if let piece { fields["statement"] = .int(piece) }
                logger.event(.info, "migration.running", "\(label) still running", fields)
            }
        }
    }

    /// The backoff can be up to 10 s; the heartbeat keeps its cadence through it.
    private func sleepWithHeartbeat(
        _ label: String, _ backoff: Duration, waitingSince: ContinuousClock.Instant
    ) throws(MigrationError) {
        let end = ContinuousClock.now + backoff
        while true {
            let now = ContinuousClock.now
            let untilEnd = now.duration(to: end)
            if untilEnd <= .zero { return }
            let untilHeartbeat = now.duration(to: locks.lastReport + Self.heartbeatInterval)
            if untilHeartbeat <= .zero {
                locks.lastReport = now
                logger.event(
                    .info, "migration.running", "\(label) still waiting for its locks",
                    [
                        "migration": "\(label)", "elapsed_ms": .int((now - waitingSince).milliseconds),
                        "waiting": "backoff", "blockers": .array(locks.lastBlockers.map(\.metadata)),
                    ])
                continue
            }
            if interruption.sleep(for: min(untilEnd, untilHeartbeat)) {
                try stopIfInterrupted()
            }
        }
    }

    /// Retries `body` on lock timeouts with exponential backoff and jitter until `--lock-wait` is spent.
    func withLockRetry(_ label: String, _ body: () throws -> Outcome) throws(MigrationError) -> Outcome {
        let firstAttempt = ContinuousClock.now
        locks.lastReport = firstAttempt
        let deadline = ContinuousClock.now + settings.lockWait
        locks.deadline = deadline
        defer { locks.deadline = nil }
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
                locks.waited += ContinuousClock.now - started
                let remaining = ContinuousClock.now.duration(to: deadline)
                let blockedBy = blockers.isEmpty ? "" : "; blocked by " + blockers.summary
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
                logger.event(
                    .warning, "lock.timeout", "\(label) hit the lock timeout, retrying\(blockedBy)",
                    [
                        "migration": "\(label)", "attempt": .int(attempt), "retry_in_ms": .int(backoff.milliseconds),
                        "sqlstate": "55P03", "error": "\(error.message)", "remaining_ms": .int(remaining.milliseconds),
                        "blockers": .array(blockers.map(\.metadata)),
                    ])
                locks.lastReport = .now
                locks.waited += backoff
                try sleepWithHeartbeat(label, backoff, waitingSince: firstAttempt)
            } catch let error as MigrationError {
                throw error
            } catch {
                throw MigrationError(.migrationFailed, "\(label): \(error)")
            }
        }
    }
}
