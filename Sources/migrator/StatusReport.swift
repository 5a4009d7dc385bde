import MigrationEngine
import StructuredLogging

/// `migrator status`: a table for people, or one JSON document for scripts (its shape is documented
/// in the README and parsed by a test, so keep the two in step).
struct StatusReport {
    var plan: Plan
    var database: String
    var table: String

    func json() -> String {
        func quote(_ text: String) -> String { JSONLogHandler.jsonString(text) }
        func optional(_ text: String?) -> String { text.map(quote) ?? "null" }
        func optional(_ number: Int64?) -> String { number.map { String($0) } ?? "null" }
        let entries = plan.entries.map { entry in
            let migration = entry.migration
            return "{\"index\":\(migration.index),\"tag\":\(quote(migration.tag)),\"created_at\":\(migration.when),"
                + "\"hash\":\(quote(migration.hash)),\"state\":\(quote(entry.state.rawValue)),"
                + "\"mode\":\(quote(migration.mode.rawValue)),"
                + "\"row_id\":\(optional(entry.row?.id)),\"recorded_hash\":\(optional(entry.row?.hash))}"
        }
        let newest = plan.entries.map(\.migration.when).max() ?? Int64.min
        let unknown = plan.unknownRows.map { row in
            let position = (row.createdAt ?? 0) > newest ? "newer" : "unmatched"
            return "{\"id\":\(row.id),\"hash\":\(quote(row.hash)),\"created_at\":\(optional(row.createdAt)),"
                + "\"position\":\(quote(position))}"
        }
        let findings = plan.findings.map { finding in
            "{\"kind\":\(quote(finding.kind.rawValue)),\"fatal\":\(finding.isFatal),\"tag\":\(optional(finding.tag)),"
                + "\"message\":\(quote(finding.message))}"
        }
        func count(_ state: Plan.State) -> Int { plan.entries.count { $0.state == state } }
        return "{\"database\":\(quote(database)),\"table\":\(quote(table)),"
            + "\"summary\":{\"total\":\(plan.entries.count),\"applied\":\(count(.applied)),\"pending\":\(count(.pending)),"
            + "\"changed\":\(count(.changed)),\"out_of_order\":\(count(.outOfOrder)),\"unknown_rows\":\(plan.unknownRows.count),"
            + "\"drift\":\(!plan.fatalFindings.isEmpty)},"
            + "\"entries\":[\(entries.joined(separator: ","))],"
            + "\"unknown_rows\":[\(unknown.joined(separator: ","))],"
            + "\"findings\":[\(findings.joined(separator: ","))]}\n"
    }

    func text() -> String {
        var lines = ["\(database) \(table)", ""]
        let tagWidth = max(3, plan.entries.map(\.migration.tag.count).max() ?? 0)
        lines.append("  #  " + "tag".padded(tagWidth) + "  state         created_at")
        for entry in plan.entries {
            let index = String(entry.migration.index).leftPadded(3)
            lines.append(
                "\(index)  \(entry.migration.tag.padded(tagWidth))  \(entry.state.rawValue.padded(12))  \(entry.migration.when)")
        }
        for row in plan.unknownRows {
            lines.append("  ?  " + "(row id \(row.id), not in the folder)".padded(tagWidth) + "  unknown       \(row.createdAt.map(String.init) ?? "NULL")")
        }
        let pending = plan.pending.count
        lines.append("")
        lines.append(
            "\(plan.appliedCount) applied, \(pending) pending, \(plan.unknownRows.count) unknown row(s)"
                + (plan.fatalFindings.isEmpty ? "" : "; DRIFT: \(plan.fatalFindings.count) finding(s), `migrator verify` explains"))
        return lines.joined(separator: "\n") + "\n"
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
