import MigrationEngine
import StructuredLogging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `migrator status`: a table for people, or one JSON document for scripts. The JSON shape is
/// documented in the README ("Runbook") and parsed by StatusTests; a change to it bumps `format`.
struct StatusReport {
    static let format = 1

    var plan: Plan
    var tableExists: Bool
    var database: String
    var table: String

    func json() -> String {
        func quote(_ text: String) -> String { JSONLogHandler.jsonString(text) }
        func optional(_ text: String?) -> String { text.map(quote) ?? "null" }
        func optional(_ number: Int64?) -> String { number.map { String($0) } ?? "null" }
        func optional(_ number: Int?) -> String { number.map { String($0) } ?? "null" }
        let entries = plan.entries.map { entry in
            let migration = entry.migration
            return "{\"index\":\(migration.index),\"tag\":\(quote(migration.tag)),\"created_at\":\(migration.when),"
                + "\"hash\":\(quote(migration.hash)),\"state\":\(quote(entry.state.rawValue)),"
                + "\"mode\":\(quote(migration.mode.rawValue)),"
                + "\"row_id\":\(optional(entry.row?.id)),\"recorded_hash\":\(optional(entry.row?.hash))}"
        }
        let unknown = plan.unknownRows.map { row in
            "{\"id\":\(row.id),\"hash\":\(quote(row.hash)),\"created_at\":\(optional(row.createdAt)),"
                + "\"position\":\(quote(position(of: row)))}"
        }
        let findings = plan.findings.map { finding in
            "{\"kind\":\(quote(finding.kind.rawValue)),\"fatal\":\(finding.isFatal),\"tag\":\(optional(finding.tag)),"
                + "\"index\":\(optional(finding.index)),\"row_id\":\(optional(finding.rowID)),"
                + "\"recorded_hash\":\(optional(finding.recordedHash)),\"expected_hash\":\(optional(finding.expectedHash)),"
                + "\"created_at\":\(optional(finding.createdAt)),\"message\":\(quote(finding.message))}"
        }
        func count(_ state: Plan.State) -> Int { plan.entries.count { $0.state == state } }
        return "{\"format\":\(Self.format),\"database\":\(quote(database)),\"table\":\(quote(table)),"
            + "\"table_exists\":\(tableExists),"
            + "\"summary\":{\"total\":\(plan.entries.count),\"applied\":\(count(.applied)),\"pending\":\(count(.pending)),"
            + "\"changed\":\(count(.changed)),\"out_of_order\":\(count(.outOfOrder)),"
            + "\"unknown_rows\":\(plan.unknownRows.count),\"drift\":\(!plan.fatalFindings.isEmpty),"
            + "\"warnings\":\(plan.findings.count - plan.fatalFindings.count)},"
            + "\"entries\":[\(entries.joined(separator: ","))],"
            + "\"unknown_rows\":[\(unknown.joined(separator: ","))],"
            + "\"findings\":[\(findings.joined(separator: ","))]}\n"
    }

    func text() -> String {
        var lines = ["\(database) \(table)" + (tableExists ? "" : " (does not exist yet: nothing recorded)"), ""]
        let tagWidth = max(3, plan.entries.map(\.migration.tag.count).max() ?? 0, 16)
        lines.append("  #  " + "tag".padded(tagWidth) + "  state         when (UTC)           row")
        for entry in plan.entries {
            let index = String(entry.migration.index).leftPadded(3)
            var line =
                "\(index)  \(entry.migration.tag.padded(tagWidth))  \(entry.state.rawValue.padded(12))  "
                + "\(utcDate(milliseconds: entry.migration.when))  \(entry.row.map { String($0.id) } ?? "-")"
            if entry.state == .changed, let row = entry.row {
                line += "  recorded \(row.hash.prefix(12)), file \(entry.migration.hash.prefix(12))"
            }
            lines.append(line)
        }
        for row in plan.unknownRows {
            let when = row.createdAt.map { utcDate(milliseconds: $0) } ?? "created_at NULL".padded(19)
            lines.append(
                "  ?  " + "(not in the folder)".padded(tagWidth) + "  " + "unknown".padded(12) + "  \(when)  \(row.id)"
                    + "  \(position(of: row)), hash \(row.hash.prefix(12))")
        }
        lines.append("")
        lines.append(
            "\(plan.appliedCount) applied, \(plan.pending.count) pending, \(plan.unknownRows.count) unknown row(s)"
                + (plan.fatalFindings.isEmpty
                    ? "; no drift"
                    : "; DRIFT: \(plan.fatalFindings.count) finding(s), `migrator verify` and `up` exit 5"))
        for finding in plan.findings {
            lines.append("  \(finding.isFatal ? "drift" : "warning"): \(finding.message)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Newer than every entry (the app-rollback case, harmless) or somewhere among them (drift).
    private func position(of row: TrackingRow) -> String {
        guard let createdAt = row.createdAt else { return "unmatched" }
        let newest = plan.entries.map(\.migration.when).max() ?? Int64.min
        return createdAt > newest ? "newer" : "unmatched"
    }
}

/// `2025-01-01 10:00:00` for a journal `when`, through libc's `gmtime_r` as the log timestamps are,
/// to stay off Foundation's formatters.
func utcDate(milliseconds: Int64) -> String {
    var seconds = time_t(milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
    var parts = tm()
    guard gmtime_r(&seconds, &parts) != nil else { return String(milliseconds) }
    func pad(_ value: Int32, _ width: Int) -> String { String(value).leftPadded(width, with: "0") }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2)) "
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
}

extension String {
    fileprivate func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
    fileprivate func leftPadded(_ width: Int, with filler: Character = " ") -> String {
        count >= width ? self : String(repeating: filler, count: width - count) + self
    }
}
