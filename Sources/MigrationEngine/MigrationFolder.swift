#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A drizzle-kit migrations folder (journal layout): `meta/_journal.json` plus one `<tag>.sql` per entry.
///
/// Everything is read, validated and hashed here, before any connection is made, so a broken folder
/// fails with exit 2 and the database is never touched (Drizzle does the same for missing files).
public struct MigrationFolder: Sendable {
    public var path: String
    public var migrations: [Migration]
    /// `.sql` files the journal does not name (Drizzle ignores them; we warn).
    public var strayFiles: [String]

    public init(path: String) throws(MigrationError) {
        self.path = path
        var isDirectory = stat()
        guard stat(path, &isDirectory) == 0 else {
            throw MigrationError(.configuration, "migrations folder \(path): \(Self.errnoText())")
        }
        guard (isDirectory.st_mode & S_IFMT) == S_IFDIR else {
            throw MigrationError(.configuration, "migrations folder \(path): not a directory")
        }
        let journalPath = path + "/meta/_journal.json"
        let journalBytes: [UInt8]
        do {
            journalBytes = try Self.readFile(journalPath)
        } catch {
            throw MigrationError(
                .configuration,
                "\(journalPath): \(error.reason) (is \(path) a drizzle-kit migrations folder? set --migrations-dir)")
        }
        let entries = try Self.parseJournal(journalBytes, path: journalPath)

        var migrations: [Migration] = []
        migrations.reserveCapacity(entries.count)
        var seenTags: [String: Int] = [:]
        for (index, entry) in entries.enumerated() {
            if let first = seenTags[entry.tag] {
                throw MigrationError(
                    .configuration,
                    "\(journalPath): entries \(first) and \(index) have the same tag \"\(entry.tag)\" (merge conflict?)")
            }
            seenTags[entry.tag] = index
            let filePath = path + "/" + entry.tag + ".sql"
            let bytes: [UInt8]
            do {
                bytes = try Self.readFile(filePath)
            } catch {
                throw MigrationError(
                    .configuration, "\(filePath): \(error.reason) (named by meta/_journal.json entry \(index))")
            }
            guard let sql = String(validating: bytes, as: UTF8.self) else {
                let offset = Self.firstInvalidUTF8Offset(bytes)
                throw MigrationError(
                    .configuration,
                    "\(filePath): not valid UTF-8 (first bad byte at offset \(offset)); save the file as UTF-8")
            }
            migrations.append(Migration(index: index, tag: entry.tag, when: entry.when, sql: sql))
        }
        self.migrations = migrations
        self.strayFiles = Self.sqlFiles(in: path).filter { seenTags[String($0.dropLast(4))] == nil }.sorted()
    }

    // MARK: journal

    private struct Journal: Decodable {
        var entries: [Entry]
    }

    struct Entry: Decodable {
        var tag: String
        var when: Int64
    }

    static func parseJournal(_ bytes: [UInt8], path: String) throws(MigrationError) -> [Entry] {
        if bytes.isEmpty { throw MigrationError(.configuration, "\(path): the file is empty") }
        if let marker = conflictMarkerLine(bytes) {
            throw MigrationError(
                .configuration, "\(path): line \(marker) holds a merge conflict marker; resolve the conflict first")
        }
        let journal: Journal
        do {
            journal = try JSONDecoder().decode(Journal.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw MigrationError(.configuration, "\(path): \(describe(error))")
        } catch {
            throw MigrationError(.configuration, "\(path): not valid JSON")
        }
        for (index, entry) in journal.entries.enumerated() {
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
        return journal.entries
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            var parts: [String] = []
            for key in context.codingPath {
                if let index = key.intValue { parts.append("entry \(index)") } else { parts.append(key.stringValue) }
            }
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
        var line = 1
        var atLineStart = true
        var index = 0
        while index < bytes.count {
            if atLineStart && index + 7 <= bytes.count {
                let prefix = bytes[index..<index + 7]
                if prefix.elementsEqual("<<<<<<<".utf8) || prefix.elementsEqual(">>>>>>>".utf8) { return line }
            }
            atLineStart = bytes[index] == UInt8(ascii: "\n")
            if atLineStart { line += 1 }
            index += 1
        }
        return nil
    }

    // MARK: files

    struct ReadError: Error {
        var reason: String
    }

    static func readFile(_ path: String) throws(ReadError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ReadError(reason: errnoText()) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ReadError(reason: errnoText()) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw ReadError(reason: "is a directory") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: max(4096, Int(info.st_size) + 1))
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: errnoText())
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    static func sqlFiles(in path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasSuffix(".sql") { names.append(name) }
        }
        return names
    }

    static func errnoText() -> String {
        String(cString: strerror(errno)).lowercased()
    }

    /// Where decoding first goes wrong, so the operator can find the byte; only runs on failure.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length: Int
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return index
            }
            guard index + length <= bytes.count,
                String(validating: bytes[index..<index + length], as: UTF8.self) != nil
            else { return index }
            index += length
        }
        return bytes.count
    }
}
