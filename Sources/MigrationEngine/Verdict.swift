import Logging
import StructuredLogging

/// `analyze`'s judgement of one file, worst last.
public enum Verdict: String, Sendable, Comparable, CaseIterable {
    case ok
    /// A lock that makes the application wait: SHARE or stronger on a relation above the size
    /// threshold, or held longer than the lock threshold (row locks of a long backfill included).
    case blocking
    /// A relation above the size threshold was copied row by row.
    case rewrite

    public static func < (lhs: Verdict, rhs: Verdict) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// What `analyze` counts as a risk, and which verdicts fail the run (exit 7).
public struct AnalyzePolicy: Sendable {
    public var sizeThresholdBytes: Int64 = 10 * 1024 * 1024
    public var lockThreshold: Duration = .seconds(1)
    public var failOn: Set<Verdict> = []

    public init() {}
}

/// One risky thing a file did, with the safer way to do it.
public struct Finding: Sendable {
    public var verdict: Verdict
    public var relation: String
    /// Why, in one sentence: the lock or rewrite, its size or duration, and what the application feels.
    public var reason: String
    /// The safer pattern, in a sentence or two.
    public var hint: String
    public var statement: Int?
    public var line: Int?

    public var metadata: Logger.MetadataValue {
        var fields: Logger.Metadata = [
            "verdict": .string(verdict.rawValue), "relation": .string(relation), "reason": .string(reason),
            "hint": .string(hint),
        ]
        if let statement { fields["statement"] = .int(statement) }
        if let line { fields["line"] = .int(line) }
        return .dictionary(fields)
    }
}

/// One statement of a file as `analyze` ran it.
public struct StatementResult: Sendable {
    public var number: Int
    public var line: Int
    public var durationMs: Int64
    /// The command tags PostgreSQL returned (`ALTER TABLE`, `UPDATE 1200` …).
    public var commands: [String]
    /// Rows inserted, updated, deleted, merged or copied, where the command tag says.
    public var rows: Int64?
}

enum Judge {
    /// The findings of one file's report under `policy`, riskiest first.
    static func findings(
        _ report: LockReport, statements: [StatementResult], migration: Migration, policy: AnalyzePolicy
    ) -> [Finding] {
        var found: [Finding] = []
        for lock in report.ordered where lock.isRisk {
            let size = lock.sizeBytes ?? 0
            let bigger = size > policy.sizeThresholdBytes
            let longer = lock.heldMs > policy.lockThreshold.milliseconds
            let text = statementText(lock.rewrittenByStatement ?? lock.statement, in: migration)
            let sizeText = "\(megabytes(size)) MB"
            let taken = lock.statement.map { " (statement \($0))" } ?? ""
            if lock.rewritten == true && bigger {
                found.append(
                    Finding(
                        verdict: .rewrite, relation: lock.relation,
                        reason:
                            "rewrote \(lock.relation) (\(sizeText), above \(megabytes(policy.sizeThresholdBytes)) MB)"
                            + ": every row was copied while \(lock.mode.name) held it; \(lock.mode.effect)",
                        hint: rewriteHint(text), statement: lock.rewrittenByStatement ?? lock.statement,
                        line: lock.line))
            }
            if lock.mode.blocksWrites && (bigger || longer) {
                let why =
                    bigger
                    ? "on \(lock.relation) (\(sizeText), above \(megabytes(policy.sizeThresholdBytes)) MB)"
                    : "on \(lock.relation) held \(lock.heldMs) ms (above \(policy.lockThreshold.milliseconds) ms)"
                found.append(
                    Finding(
                        verdict: .blocking, relation: lock.relation,
                        reason: "\(lock.mode.name)\(taken) \(why): \(lock.mode.effect)",
                        hint: lockHints(lock, migration: migration),
                        statement: lock.statement, line: lock.line))
            } else if lock.mode == .rowExclusive && longer, let statement = lock.statement,
                let rows = statements.first(where: { $0.number == statement })?.rows, rows > 0,
                isRowChange(text)
            {
                found.append(
                    Finding(
                        verdict: .blocking, relation: lock.relation,
                        reason: "statement \(statement) changed \(rows) row(s) of \(lock.relation) and held their row "
                            + "locks \(lock.heldMs) ms (above \(policy.lockThreshold.milliseconds) ms): the "
                            + "application's updates of those rows wait",
                        hint: "backfill in batches of a few thousand rows, each batch its own short transaction (a "
                            + "`-- migrator:no-transaction` file, or a job after the deploy)",
                        statement: statement, line: lock.line))
            }
        }
        // A table's rewrite or lock drags its indexes along; name the table, not each index too.
        let onTables = Set(found.filter { !isIndex($0.relation, report) }.map(\.verdict))
        found.removeAll { isIndex($0.relation, report) && onTables.contains($0.verdict) }
        return found.sorted { $0.verdict > $1.verdict }
    }

    private static func isIndex(_ relation: String, _ report: LockReport) -> Bool {
        report.locks.first { $0.relation == relation }?.kind.hasSuffix("index") == true
    }

    private static func rewriteHint(_ text: String) -> String {
        if text.contains("ALTER COLUMN") && (text.contains(" TYPE ") || text.contains("SET DATA TYPE")) {
            return "split the type change: add a column of the new type, backfill it in batches, move reads and "
                + "writes to it, then drop the old column (each step its own short file)"
        }
        if text.contains("ADD COLUMN") && text.contains("DEFAULT") {
            return "a default PostgreSQL must compute per row (random(), clock_timestamp(), gen_random_uuid(), a "
                + "stored generated column) copies the table; add the column without it, SET DEFAULT in a second "
                + "statement, and fill existing rows in batches"
        }
        return "build the new shape beside the old one (a new table or column), copy in batches, and switch over "
            + "in a short transaction"
    }

    /// One hint per distinct cause: each statement that took a blocking lock on the relation may
    /// need a different safer pattern (an ALTER, then a CREATE INDEX on the same table).
    private static func lockHints(_ lock: RelationLock, migration: Migration) -> String {
        let statements: [Int?] = lock.blockingStatements.isEmpty ? [lock.statement] : lock.blockingStatements
        var hints: [String] = []
        for statement in statements {
            let hint = lockHint(
                statementText(statement, in: migration), lock: lock, lastStatement: migration.pieces.count)
            if !hints.contains(hint) { hints.append(hint) }
        }
        return hints.joined(separator: "; also: ")
    }

    private static func lockHint(_ text: String, lock: RelationLock, lastStatement: Int) -> String {
        if text.contains("CREATE") && text.contains("INDEX") && !text.contains("CONCURRENTLY") {
            return "build it with CREATE INDEX CONCURRENTLY, alone in a file whose first line is "
                + "`-- migrator:no-transaction`: reads and writes continue while it builds"
        }
        if text.contains("UNIQUE") && text.contains("ADD CONSTRAINT") {
            return "CREATE UNIQUE INDEX CONCURRENTLY in a `-- migrator:no-transaction` file, then ADD CONSTRAINT "
                + "... UNIQUE USING INDEX, which only takes a brief lock"
        }
        if text.contains("SET NOT NULL") {
            return "ADD CONSTRAINT ... CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later file, "
                + "then SET NOT NULL (PostgreSQL 12+ trusts the validated check and skips the scan) and drop the check"
        }
        if (text.contains("FOREIGN KEY") || text.contains("REFERENCES") || text.contains("CHECK"))
            && text.contains("ADD") && !text.contains("NOT VALID")
        {
            return "ADD CONSTRAINT ... NOT VALID (a brief lock, no scan), then VALIDATE CONSTRAINT in a later file: "
                + "it takes SHARE UPDATE EXCLUSIVE, so reads and writes continue while it checks the rows"
        }
        if let statement = lock.statement, statement < lastStatement, lock.mode == .accessExclusive {
            return "statements after \(statement) ran while it held \(lock.mode.name): give the ALTER its own file "
                + "so the lock lasts only as long as the ALTER itself"
        }
        return "keep the lock short: one schema change per file and nothing slow after it; migrator's "
            + "--lock-timeout and retries keep the application from queueing behind a lock it cannot get"
    }

    private static func isRowChange(_ text: String) -> Bool {
        text.contains("UPDATE") || text.contains("DELETE") || text.contains("MERGE")
    }

    /// The statement's (or, unattributed, the file's) text upper-cased, line comments dropped, so the
    /// hint fits what the SQL says.
    static func statementText(_ statement: Int?, in migration: Migration) -> String {
        let pieces = migration.pieces
        let text =
            statement.flatMap { $0 >= 1 && $0 <= pieces.count ? pieces[$0 - 1].text : nil } ?? migration.sql
        var words: [String] = []
        for line in text.split(separator: "\n") {
            let code: Substring = line.firstRange(of: "--").map { line[..<$0.lowerBound] } ?? line
            words += code.uppercased().split(whereSeparator: \.isWhitespace).map(String.init)
        }
        return " " + words.joined(separator: " ") + " "
    }

    static func megabytes(_ bytes: Int64) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// Rows from a command tag: the last number of INSERT/UPDATE/DELETE/MERGE/COPY tags.
    static func rows(fromTag tag: String) -> Int64? {
        let words = tag.split(separator: " ")
        guard let first = words.first, ["INSERT", "UPDATE", "DELETE", "MERGE", "COPY"].contains(first),
            let count = words.last.flatMap({ Int64($0) })
        else { return nil }
        return count
    }
}
