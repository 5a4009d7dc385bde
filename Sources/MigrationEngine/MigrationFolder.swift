#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A drizzle-kit migrations folder, in either of its layouts (see docs/drizzle-1.0.md):
///
/// - `.journal` (drizzle-kit 0.x): `meta/_journal.json` plus one `<tag>.sql` per entry;
/// - `.folders` (drizzle-kit 1.0): one `<YYYYMMDDHHmmss>_<name>/migration.sql` per migration.
///
/// Everything is read, validated and hashed here, before a single query is sent, so a broken
/// folder fails with exit 2 and the database is never touched (Drizzle does the same for
/// missing files).
public struct MigrationFolder: Sendable {
    public enum Layout: String, Sendable, Codable {
        case journal
        case folders
    }

    public var path: String
    public var layout: Layout
    public var migrations: [Migration]
    /// Files (0.x: `.sql` files the journal does not name) or sub-folders (1.0: without
    /// `migration.sql`) that Drizzle ignores; we warn.
    public var strayFiles: [String]
    /// Files above this size are refused (exit 2): see `DirectoryListing.maximumSize`.
    public static var maximumFileSize: Int { DirectoryListing.maximumSize }

    public init(path: String) throws(MigrationError) {
        self.path = path
        switch DirectoryListing.kind(of: path) {
        case .directory: break
        case .missing:
            throw MigrationError(.configuration, "migrations folder \(path): \(DirectoryListing.errnoText())")
        case .regularFile, .other: throw MigrationError(.configuration, "migrations folder \(path): not a directory")
        }
        let names = DirectoryListing.names(in: path)
        let subFolders = names.filter { DirectoryListing.kind(of: "\(path)/\($0)") == .directory && $0 != "meta" }
        let migrationFolders = subFolders.filter {
            DirectoryListing.kind(of: "\(path)/\($0)/migration.sql") != .missing
        }
        let hasJournal = DirectoryListing.kind(of: path + "/meta/_journal.json") != .missing
        if hasJournal && !migrationFolders.isEmpty {
            throw MigrationError(
                .configuration,
                "migrations folder \(path) holds both meta/_journal.json (drizzle-kit 0.x) and migration sub-folders "
                    + "(drizzle-kit 1.0, e.g. \(migrationFolders.sorted()[0])/): finish `drizzle-kit up` (it removes "
                    + "meta/) or remove the sub-folders")
        }
        if !hasJournal && !migrationFolders.isEmpty {
            layout = .folders
            migrations = try Self.readFolders(migrationFolders, in: path)
            strayFiles = subFolders.filter { !migrationFolders.contains($0) }.map { $0 + "/" }.sorted()
        } else {
            layout = .journal
            let entries = try Self.readJournal(in: path)
            migrations = try Self.readJournalFiles(entries, in: path)
            let tags = Set(entries.map(\.tag))
            strayFiles = names.filter { $0.hasSuffix(".sql") && !tags.contains(String($0.dropLast(4))) }.sorted()
        }
    }

    /// Reads, validates and hashes one migration file; `origin` says who named it.
    static func load(_ file: String, in path: String, origin: String) throws(MigrationError) -> (String, String) {
        let bytes: [UInt8]
        do {
            bytes = try DirectoryListing.contents(of: path + "/" + file)
        } catch {
            throw MigrationError(.configuration, "\(path)/\(file): \(error.reason) (\(origin))")
        }
        guard let sql = String(validating: bytes, as: UTF8.self) else {
            throw MigrationError(
                .configuration,
                "\(path)/\(file): not valid UTF-8 (first bad byte at offset \(firstInvalidUTF8Offset(bytes))); "
                    + "save the file as UTF-8")
        }
        return (sql, Migration.hash(of: sql))
    }

    /// Where decoding first goes wrong, so the operator can find the byte; only runs on failure.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        var index = 0
        while index < bytes.count {
            let length: Int
            switch bytes[index] {
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
