import MigrationEngine
import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `migrator status`: a table for people, or one JSON document for scripts. The JSON shape is
/// documented in the README ("Runbook") and parsed by StatusTests; a change to it bumps `format`
/// (added keys do not).
struct StatusReport {
    static let format = 1

    var plan: Plan
    var tableExists: Bool
    var database: String
    var table: String

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        // The document's keys are the properties' names in snake case (`row_id`, `table_exists`).
        encoder.keyEncodingStrategy = .convertToSnakeCase
        // Sorted keys: JSONEncoder's own order changes from run to run (a dictionary), and the
        // document should diff cleanly. Every value is a string, number, bool or null, which
        // JSONEncoder always encodes.
        let data = try! encoder.encode(StatusDocument(self))
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    func text() -> String {
        var lines = ["\(database) \(table)" + (tableExists ? "" : " (does not exist yet: nothing recorded)")]
        if plan.layout == .folders {
            lines[0] +=
                " [Drizzle 1.0 folder layout, " + (plan.upgrade != nil ? "0.x table: `up` upgrades it]" : "1.0 table]")
        }
        lines.append("")
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
                "  ?  " + (row.name ?? "(not in the folder)").padded(tagWidth) + "  " + "unknown".padded(12)
                    + "  \(when)  \(row.id)  \(position(of: row)), hash \(row.hash.prefix(12))")
        }
        lines.append("")
        lines.append(
            "\(plan.appliedCount) applied, \(plan.entries.count { $0.state == .pending || $0.state == .outOfOrder }) pending, \(plan.unknownRows.count) unknown row(s)"
                + (plan.fatalFindings.isEmpty
                    ? "; no drift"
                    : "; DRIFT: \(plan.fatalFindings.count) finding(s), `migrator verify` and `up` exit 5"))
        for finding in plan.findings {
            lines.append("  \(finding.isFatal ? "drift" : "warning"): \(finding.message)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Newer than every migration (the app-rollback case, harmless) or somewhere among them (drift).
    func position(of row: TrackingRow) -> String {
        plan.findings.contains { $0.kind == .newerRows && $0.rowID == row.id } ? "newer" : "unmatched"
    }
}

/// `2025-01-01 10:00:00` for a journal `when`, on the calendar the log timestamps use.
func utcDate(milliseconds: Int64) -> String {
    let time = UTCTime.fields(epochSeconds: UTCTime.floorDivide(milliseconds, 1000))
    let pad = UTCTime.pad
    return "\(pad(time.year, 4))-\(pad(time.month, 2))-\(pad(time.day, 2)) "
        + "\(pad(time.hour, 2)):\(pad(time.minute, 2)):\(pad(time.second, 2))"
}

extension String {
    fileprivate func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
    fileprivate func leftPadded(_ width: Int, with filler: Character = " ") -> String {
        count >= width ? self : String(repeating: filler, count: width - count) + self
    }
}
