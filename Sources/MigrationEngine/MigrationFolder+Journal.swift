#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The 0.x layout: `meta/_journal.json` names the files, in application order.
extension MigrationFolder {
    struct Journal: Decodable {
        var entries: [Entry]
    }

    struct Entry: Decodable {
        var tag: String
        var when: Int64
    }

    static func readJournal(in path: String) throws(MigrationError) -> [Entry] {
        let journalPath = path + "/meta/_journal.json"
        let bytes: [UInt8]
        do {
            bytes = try DirectoryListing.contents(of: journalPath)
        } catch {
            throw MigrationError(
                .configuration,
                "\(journalPath): \(error.reason) (is \(path) a drizzle-kit migrations folder? set --migrations-dir)")
        }
        return try parseJournal(bytes, path: journalPath)
    }

    static func readJournalFiles(_ entries: [Entry], in path: String) throws(MigrationError) -> [Migration] {
        var migrations: [Migration] = []
        migrations.reserveCapacity(entries.count)
        var seenTags: [String: Int] = [:]
        // In journal order, so the first problem reported is the first one a reader meets.
        for (index, entry) in entries.enumerated() {
            if let first = seenTags[entry.tag] {
                throw MigrationError(
                    .configuration,
                    "\(path)/meta/_journal.json: entries \(first) and \(index) have the same tag \"\(entry.tag)\" "
                        + "(merge conflict?)")
            }
            seenTags[entry.tag] = index
            let (sql, hash) = try load(
                entry.tag + ".sql", in: path, origin: "named by meta/_journal.json entry \(index)")
            migrations.append(Migration(index: index, tag: entry.tag, when: entry.when, sql: sql, hash: hash))
        }
        return migrations
    }

    static func parseJournal(_ bytes: [UInt8], path: String) throws(MigrationError) -> [Entry] {
        if bytes.isEmpty { throw MigrationError(.configuration, "\(path): the file is empty") }
        if let marker = conflictMarkerLine(bytes) {
            throw MigrationError(
                .configuration, "\(path): line \(marker) holds a merge conflict marker; resolve the conflict first")
        }
        let entries: [Entry]
        do {
            entries = try JSONDecoder().decode(Journal.self, from: Data(bytes)).entries
        } catch let error as DecodingError {
            throw MigrationError(.configuration, "\(path): \(describe(error))")
        } catch {
            throw MigrationError(.configuration, "\(path): not valid JSON")
        }
        for (index, entry) in entries.enumerated() {
            if entry.tag.isEmpty || entry.tag.contains("/") || entry.tag.contains("\0") || entry.tag == ".."
                || entry.tag == "."
            {
                throw MigrationError(
                    .configuration, "\(path): entry \(index) has tag \"\(entry.tag)\", which is not a file name")
            }
            if entry.when < 0 {
                throw MigrationError(.configuration, "\(path): entry \(index) (\(entry.tag)) has a negative \"when\"")
            }
        }
        return entries
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let parts = context.codingPath.map { key in key.intValue.map { "entry \($0)" } ?? key.stringValue }
            return parts.isEmpty ? "" : parts.joined(separator: " ") + ": "
        }
        switch error {
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context))invalid value"
        case .keyNotFound(let key, let context):
            return "\(path(context))missing \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context))wrong type (\"when\" must be an integer of milliseconds, \"tag\" a string)"
        @unknown default:
            return "not a drizzle-kit journal"
        }
    }

    private static func conflictMarkerLine(_ bytes: [UInt8]) -> Int? {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let markers = [Array("<<<<<<<".utf8), Array(">>>>>>>".utf8)]
        return lines.firstIndex { line in markers.contains { line.starts(with: $0) } }.map { $0 + 1 }
    }
}
