import Logging
import MigrationEngine
import StructuredLogging

/// `analyze`'s report for people (a table), for scripts (one JSON document) and for a pull-request
/// comment (markdown). Relation names, lock modes, sizes, durations and row counts only: never a
/// value from a row. The JSON shape is documented in docs/analyze.md; a change to it bumps `format`.
struct AnalyzeReport {
    static let format = 1

    var result: AnalyzeResult
    var database: String

    private var policyLine: String {
        "size threshold \(Self.megabytes(result.policy.sizeThresholdBytes)) MB, lock threshold "
            + "\(result.policy.lockThreshold.milliseconds) ms, fail on: "
            + (result.policy.failOn.isEmpty
                ? "nothing" : result.policy.failOn.map(\.rawValue).sorted().joined(separator: ","))
    }

    private var headline: String {
        "\(result.files.count) of \(result.pending) pending file(s) measured in one transaction, rolled back: "
            + "nothing was changed"
    }

    // MARK: text

    func text() -> String {
        var lines = ["\(database): \(headline)", policyLine, ""]
        let tagWidth = max(4, result.files.map(\.tag.count).max() ?? 0)
        lines.append(
            "  #  " + "file".padded(tagWidth)
                + "  verdict   duration ms    rows  relation / lock / held ms / size MB / rewritten"
        )
        for file in result.files {
            let head =
                String(file.index).leftPadded(3) + "  " + file.tag.padded(tagWidth) + "  "
                + file.verdict.rawValue.padded(8)
                + "  " + String(file.durationMs).leftPadded(11) + "  "
                + (file.rows.map(String.init) ?? "-").leftPadded(6)
            let locks = file.report.ordered
            if locks.isEmpty { lines.append(head + "  (no relation locks)") }
            for (number, lock) in locks.enumerated() {
                let prefix = number == 0 ? head : String(repeating: " ", count: head.count)
                lines.append(prefix + "  " + Self.describe(lock))
            }
            for finding in file.findings {
                let place = finding.statement.map { " [statement \($0), line \(finding.line ?? 1)]" } ?? ""
                lines.append("       \(finding.verdict.rawValue)\(place): \(finding.reason)")
                lines.append("         safer: \(finding.hint)")
            }
            for note in file.report.notes { lines.append("       note: \(note)") }
        }
        if let stop = result.stoppedAt { lines.append(""); lines.append(stopSentence(stop)) }
        lines.append("")
        lines.append(summary)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func describe(_ lock: RelationLock) -> String {
        var text = "\(lock.relation) \(lock.mode.name) \(lock.heldMs)\(lock.heldIsUpperBound ? "(max)" : "") ms"
        if lock.isNew == true {
            text += ", new \(lock.kind)"
        } else {
            text += lock.sizeBytes.map { ", \(megabytes($0)) MB" } ?? ""
            if lock.rewritten == true { text += ", REWRITTEN" }
        }
        if let statement = lock.statement { text += " (statement \(statement), line \(lock.line ?? 1))" }
        return text
    }

    private func stopSentence(_ stop: Stop) -> String {
        "stopped at \(stop.tag): \(stop.reason); \(stop.unmeasured) file(s) from it on were not measured"
    }

    private var summary: String {
        let counts = Verdict.allCases.map { verdict in
            "\(result.files.count { $0.verdict == verdict }) \(verdict.rawValue)"
        }
        let violations = result.violations.count
        return counts.joined(separator: ", ")
            + (violations == 0 ? "; policy passed" : "; POLICY BROKEN by \(violations) file(s): exit 7")
    }

    // MARK: JSON

    func json() -> String {
        var document: Logger.Metadata = [
            "format": .int(Self.format), "database": .string(database), "pending": .int(result.pending),
            "measured": .int(result.files.count), "duration_ms": .int(result.durationMs),
            "violations": .int(result.violations.count), "rolled_back": .bool(true),
            "policy": .dictionary([
                "size_threshold_bytes": .int(result.policy.sizeThresholdBytes),
                "lock_threshold_ms": .int(result.policy.lockThreshold.milliseconds),
                "fail_on": .array(result.policy.failOn.map(\.rawValue).sorted().map { .string($0) }),
            ]),
            "files": .array(result.files.map(Self.json)),
        ]
        if let stop = result.stoppedAt {
            document["stopped_at"] = .dictionary([
                "migration": .string(stop.tag), "reason": .string(stop.reason), "unmeasured": .int(stop.unmeasured),
            ])
        }
        var out = ""
        Self.write(.dictionary(document), to: &out)
        return out + "\n"
    }

    private static func json(_ file: FileAnalysis) -> Logger.MetadataValue {
        var fields = file.report.metadata
        fields.merge([
            "migration": .string(file.tag), "index": .int(file.index), "hash": .string(file.hash),
            "duration_ms": .int(file.durationMs), "verdict": .string(file.verdict.rawValue),
            "findings": .array(file.findings.map(\.metadata)),
            "statements": .array(
                file.statements.map { statement in
                    var fields: Logger.Metadata = [
                        "statement": .int(statement.number), "line": .int(statement.line),
                        "duration_ms": .int(statement.durationMs),
                        "commands": .array(statement.commands.map { .string($0) }),
                    ]
                    if let rows = statement.rows { fields["rows"] = .int(rows) }
                    return .dictionary(fields)
                }),
        ]) { _, new in new }
        if let rows = file.rows { fields["rows"] = .int(rows) }
        return .dictionary(fields)
    }

    /// Keys sorted, so the document diffs well; numbers and booleans as the log handler marks them.
    private static func write(_ value: Logger.MetadataValue, to out: inout String) {
        switch value {
        case .string(let text): out += JSONLogHandler.jsonString(text)
        case .stringConvertible(let number as JSONNumber): out += number.description
        case .stringConvertible(let flag as JSONBool): out += flag.description
        case .stringConvertible(let other): out += JSONLogHandler.jsonString(other.description)
        case .array(let values):
            out += "["
            for (position, element) in values.enumerated() {
                if position > 0 { out += "," }
                write(element, to: &out)
            }
            out += "]"
        case .dictionary(let fields):
            out += "{"
            for (position, key) in fields.keys.sorted().enumerated() {
                if position > 0 { out += "," }
                out += JSONLogHandler.jsonString(key) + ":"
                write(fields[key]!, to: &out)
            }
            out += "}"
        }
    }

    // MARK: markdown

    func markdown() -> String {
        let broken = result.violations.count
        let counts = Verdict.allCases.compactMap { verdict -> String? in
            let count = result.files.count { $0.verdict == verdict }
            return count == 0 ? nil : "\(count) \(verdict.rawValue)"
        }
        let outcome: String = broken > 0 ? "policy broken" : "policy passed"
        let tally: String = counts.isEmpty ? "nothing pending" : counts.joined(separator: ", ")
        var lines: [String] = [
            "## migrator analyze: \(outcome) (\(tally))",
            "",
            "\(Self.code(database)): \(headline). Thresholds: \(policyLine).",
            "",
            "| # | file | verdict | duration | rows | strongest lock | rewritten |",
            "|---:|---|---|---:|---:|---|---|",
        ]
        for file in result.files {
            let strongest = file.report.maxLock.map {
                "\($0.mode.name) on \(Self.code($0.relation)) for \($0.heldMs) ms\($0.heldIsUpperBound ? " (at most)" : "")"
            }
            let rewritten = file.report.ordered.filter { $0.rewritten == true && $0.isRisk }.map {
                Self.code($0.relation) + ($0.sizeBytes.map { " (\(Self.megabytes($0)) MB)" } ?? "")
            }
            lines.append(
                "| \(file.index) | \(Self.code(file.tag)) | \(file.verdict == .ok ? "ok" : "**\(file.verdict.rawValue)**") "
                    + "| \(file.durationMs) ms | \(file.rows.map(String.init) ?? "") | \(strongest ?? "none") "
                    + "| \(rewritten.isEmpty ? "no" : rewritten.joined(separator: ", ")) |")
        }
        if let stop = result.stoppedAt { lines += ["", "> " + stopSentence(stop)] }
        for file in result.files where !file.report.locks.isEmpty || !file.findings.isEmpty {
            lines += ["", "### \(Self.code(file.tag)): \(file.verdict.rawValue)", ""]
            lines += [
                "| relation | kind | lock | held | size before | rewritten | statement |",
                "|---|---|---|---:|---:|---|---|",
            ]
            for lock in file.report.ordered {
                let size = lock.isNew == true ? "new" : lock.sizeBytes.map { "\(Self.megabytes($0)) MB" } ?? "?"
                let rewritten = lock.rewritten.map { $0 ? "**yes**" : "no" } ?? "?"
                let statement = lock.statement.map { "\($0) (line \(lock.line ?? 1))" } ?? "whole file"
                lines.append(
                    "| \(Self.code(lock.relation)) | \(lock.kind) | \(lock.mode.name) | \(lock.heldMs) ms"
                        + "\(lock.heldIsUpperBound ? " at most" : "") | \(size) | \(rewritten) | \(statement) |")
            }
            for finding in file.findings {
                lines.append("")
                let place = finding.statement.map { " (statement \($0), line \(finding.line ?? 1))" } ?? ""
                lines.append("- **\(finding.verdict.rawValue)**\(place): \(finding.reason)")
                lines.append("  - Safer: \(finding.hint)")
            }
            for note in file.report.notes { lines += ["", "- Note: \(note)"] }
        }
        lines += ["", summary]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A code span that survives any backtick in the name, and a `|` inside a table.
    private static func code(_ text: String) -> String {
        var longest = 0
        var run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let padded = text.hasPrefix("`") || text.hasSuffix("`") ? " \(text) " : text
        return fence + padded.split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|") + fence
    }

    static func megabytes(_ bytes: Int64) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10)"
    }
}

extension String {
    fileprivate func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
