import Logging
import PostgresClient
import StructuredLogging

/// One pending file as `analyze` ran it.
public struct FileAnalysis: Sendable {
    public var tag: String
    public var index: Int
    public var hash: String
    public var durationMs: Int64
    public var statements: [StatementResult]
    public var report: LockReport
    public var findings: [Finding]

    public var verdict: Verdict { findings.map(\.verdict).max() ?? .ok }
    /// Rows the file's statements changed, where PostgreSQL said.
    public var rows: Int64? {
        let counted = statements.compactMap(\.rows)
        return counted.isEmpty ? nil : counted.reduce(0, +)
    }
}

/// Where `analyze` stopped early, and why: the files from there on were not measured.
public struct Stop: Sendable {
    public var tag: String
    /// Why the file cannot be measured inside analyze's one transaction.
    public var reason: String
    public var unmeasured: Int
}

/// Everything `analyze` measured, for the log lines, the table, the JSON document and markdown.
public struct AnalyzeResult: Sendable {
    public var policy: AnalyzePolicy
    public var files: [FileAnalysis] = []
    /// Pending files, analyzed or not.
    public var pending: Int = 0
    /// The self-managed file analyze stopped before, and how many files it left unmeasured.
    public var stoppedAt: Stop?
    public var durationMs: Int64 = 0

    /// Files whose findings the `--fail-on` policy forbids.
    public var violations: [FileAnalysis] {
        files.filter { file in file.findings.contains { policy.failOn.contains($0.verdict) } }
    }

    /// Exit 7 when the policy was broken; nil otherwise.
    public var policyError: MigrationError? {
        let broken = violations
        guard let first = broken.first else { return nil }
        let kinds = Set(broken.flatMap(\.findings).map(\.verdict)).intersection(policy.failOn)
        return MigrationError(
            .policyViolation,
            "\(broken.count) file(s) break the --fail-on \(policy.failOn.map(\.rawValue).sorted().joined(separator: ",")) "
                + "policy (\(kinds.map(\.rawValue).sorted().joined(separator: ", "))), first \(first.tag): "
                + (first.findings.first?.reason ?? "") + "; nothing was changed")
    }
}

extension Migrator {
    /// Runs every pending transactional file, in order, inside one transaction that holds the
    /// advisory lock and is always rolled back, and measures what each file did to the tables.
    /// Stops before the first file that manages its own transaction: its COMMIT would make the files
    /// before it, and itself, permanent.
    public func analyze(policy: AnalyzePolicy) throws(MigrationError) -> AnalyzeResult {
        let started = ContinuousClock.now
        let (plan, _) = try self.plan()
        try check(plan, action: "nothing was analyzed")
        try refuseEmptyFiles(in: plan.pending)
        pending = plan.pending.count
        var result = AnalyzeResult(policy: policy, pending: pending)
        logger.event(
            .info, "analyze.started",
            plan.pending.isEmpty
                ? "nothing to analyze: the database is up to date"
                : "analyzing \(pending) pending migration(s) in one transaction that will be rolled back",
            ["pending": .int(pending), "applied": .int(plan.appliedCount)])
        if !plan.pending.isEmpty {
            _ = try withLockRetry("analyze") { () throws in
                result = try analyzeOnce(policy: policy)
                return .applied
            }
        }
        result.durationMs = (ContinuousClock.now - started).milliseconds
        log(result)
        return result
    }

    /// One attempt: a lock timeout throws `FileFailure.lockTimeout`, and `withLockRetry` starts over.
    private func analyzeOnce(policy: AnalyzePolicy) throws -> AnalyzeResult {
        var current: (migration: Migration, piece: Piece?)?
        defer { rollbackQuietly() }
        do throws(any Error) {
            try lockedTransaction("analyze")
            // Under the lock: what is pending now, not what was pending before we waited.
            let rows = try table.state(on: connection).rows ?? []
            let pendingNow = Plan(migrations: folder.migrations, rows: rows, allowOutOfOrder: true).pending
            var result = AnalyzeResult(policy: policy, pending: pendingNow.count)
            var previous: LockTracker?
            for (position, migration) in pendingNow.enumerated() {
                guard migration.mode == .transactional else {
                    result.stoppedAt = Stop(
                        tag: migration.tag,
                        reason: "it manages its own transaction (\(migration.mode.rawValue)): its COMMIT cannot be "
                            + "rolled back", unmeasured: pendingNow.count - position)
                    break
                }
                current = (migration, nil)
                do throws(any Error) {
                    let (file, tracker) = try analyzeFile(migration, after: previous, policy: policy) {
                        current?.piece = $0
                    }
                    result.files.append(file)
                    previous = tracker
                } catch let error as PostgresError where error.sqlState == "55P04" && interruption.reason == nil {
                    // `up` commits each file before the next; one transaction cannot use an enum value
                    // an earlier statement of it added (ALTER TYPE ... ADD VALUE).
                    result.stoppedAt = Stop(
                        tag: migration.tag,
                        reason: "it uses an enum value that an earlier pending file adds, which PostgreSQL allows only "
                            + "once that file has committed (`up` commits each file before the next)",
                        unmeasured: pendingNow.count - position)
                    break
                }
            }
            rollbackQuietly()
            return result
        } catch let error as PostgresError {
            throw analyzeFailure(error, migration: current?.migration, piece: current?.piece)
        }
    }

    private func analyzeFile(
        _ migration: Migration, after previous: LockTracker?, policy: AnalyzePolicy, running: (Piece) -> Void
    ) throws -> (FileAnalysis, LockTracker) {
        let tracker = LockTracker(table: table, excluded: nil, after: previous)
        var statements: [StatementResult] = []
        var ended = tracker.started
        for piece in migration.pieces where !piece.isBlank {
            running(piece)
            tracker.pieceStarting(piece.number)
            let started = ContinuousClock.now
            let results = try connection.simpleQuery(
                piece.text, tick: tick, observer: observer(migration.tag, piece: piece.number))
            ended = .now
            guard connection.transactionStatus == .inTransaction else {
                throw FileFailure.failed(
                    MigrationError(
                        .migrationFailed,
                        "\(migration.tag): statement \(piece.number) ended analyze's transaction (a COMMIT or "
                            + "ROLLBACK migrator did not detect): what ran before it may have been COMMITTED on this "
                            + "database; check it, and start the file with -- migrator:no-transaction"))
            }
            try tracker.snapshot(on: connection)
            let rows = results.compactMap { Judge.rows(fromTag: $0.commandTag) }
            statements.append(
                StatementResult(
                    number: piece.number, line: LockTracker.line(of: piece.number, in: migration) ?? 1,
                    durationMs: (ended - started).milliseconds, commands: results.map(\.commandTag),
                    rows: rows.isEmpty ? nil : rows.reduce(0, +)))
        }
        let report = tracker.report(
            committed: committedCatalog(tracker), migration: migration, heldIsUpperBound: false, endedAt: ended)
        let file = FileAnalysis(
            tag: migration.tag, index: migration.index, hash: migration.hash,
            durationMs: (ended - tracker.started).milliseconds, statements: statements, report: report,
            findings: Judge.findings(report, statements: statements, migration: migration, policy: policy))
        return (file, tracker)
    }

    /// One `migration.analyzed` line per file, `analyze.stopped` where it stopped, `analyze.summary`.
    private func log(_ result: AnalyzeResult) {
        for (position, file) in result.files.enumerated() {
            var fields = file.report.metadata
            fields.merge([
                "migration": "\(file.tag)", "index": .int(file.index), "position": .int(position + 1),
                "total": .int(result.pending), "hash": "\(file.hash)", "duration_ms": .int(file.durationMs),
                "statements": .int(file.statements.count), "verdict": "\(file.verdict.rawValue)",
                "findings": .array(file.findings.map(\.metadata)),
            ]) { _, new in new }
            if let rows = file.rows { fields["rows"] = .int(rows) }
            let worst = file.findings.first.map { ": " + $0.reason } ?? ""
            logger.event(
                file.verdict == .ok ? .info : .warning, "migration.analyzed",
                "\(file.tag): \(file.verdict.rawValue)\(worst)", fields)
        }
        if let stop = result.stoppedAt {
            logger.event(
                .warning, "analyze.stopped",
                "analyze stopped at \(stop.tag): \(stop.reason); \(stop.unmeasured) file(s) from it on were not measured",
                ["migration": "\(stop.tag)", "reason": "\(stop.reason)", "unmeasured": .int(stop.unmeasured)])
        }
        var counts: Logger.Metadata = [:]
        for verdict in Verdict.allCases {
            counts[verdict.rawValue] = .int(result.files.count { $0.verdict == verdict })
        }
        logger.event(
            result.violations.isEmpty ? .info : .error, "analyze.summary",
            "\(result.files.count) of \(result.pending) pending file(s) measured, rolled back; "
                + Verdict.allCases.map { v in "\(result.files.count { $0.verdict == v }) \(v.rawValue)" }
                .joined(separator: ", "),
            [
                "measured": .int(result.files.count), "pending": .int(result.pending), "verdicts": .dictionary(counts),
                "violations": .int(result.violations.count),
                "fail_on": .array(result.policy.failOn.map(\.rawValue).sorted().map { .string($0) }),
                "duration_ms": .int(result.durationMs),
            ])
    }

    /// The committed catalog of every relation analyze's transaction has locked, on the monitor
    /// connection; nil without one.
    func committedCatalog(_ tracker: LockTracker) -> [UInt32: LockTracker.Committed]? {
        guard let monitor = probe.connection() else { return nil }
        do {
            return try LockQueries.committed(oids: tracker.oids, on: monitor)
        } catch {
            probe.giveUp()
            return nil
        }
    }

    private func analyzeFailure(_ error: PostgresError, migration: Migration?, piece: Piece?) -> any Error {
        if let reason = interruption.reason {
            return MigrationError(
                .interrupted, "stopped by \(reason.signalName) during analyze; nothing was changed",
                interruption: reason)
        }
        if error.sqlState == "55P03" || error.sqlState == "40P01" {
            return FileFailure.lockTimeout(error, locks.lastBlockers)
        }
        if error.code == .connectionLost {
            return MigrationError(.database, "lost the database connection during analyze: \(error.message)")
        }
        guard let migration else { return MigrationError(.migrationFailed, "analyze failed: \(error)") }
        var fields: Logger.Metadata = [
            "migration": "\(migration.tag)", "index": .int(migration.index), "file": "\(migration.fileName)",
            "sqlstate": "\(error.sqlState ?? "")", "error": "\(error.message)",
        ]
        var place = ""
        if let piece {
            let line = LockTracker.line(of: piece.number, in: migration) ?? 1
            fields["statement"] = .int(piece.number)
            fields["line"] = .int(line)
            place = " at statement \(piece.number) (\(migration.fileName) line \(line))"
        }
        let message =
            "\(migration.tag) would fail\(place): \(error.message)"
            + (error.sqlState.map { " (SQLSTATE \($0))" } ?? "")
            + "; analyze rolled everything back, nothing was changed"
        logger.event(.error, "migration.failed", message, fields)
        return MigrationError(.migrationFailed, message)
    }
}
