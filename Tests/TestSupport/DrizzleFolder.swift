import Foundation

/// Writes drizzle-kit folders (journal layout, or converted to the 1.0 layout) for tests into a
/// temporary directory.
public struct DrizzleFolder {
    public struct File {
        public var tag: String
        public var sql: String
        public var when: Int64
        public init(tag: String, sql: String, when: Int64) {
            self.tag = tag
            self.sql = sql
            self.when = when
        }
    }

    public let path: String

    /// `files` in journal order. Journal text can be overridden to test malformed journals.
    public init(_ files: [File], journal: String? = nil) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("migrator-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("meta"), withIntermediateDirectories: true)
        for file in files {
            try Data(file.sql.utf8).write(to: directory.appendingPathComponent(file.tag + ".sql"))
        }
        let entries = files.enumerated().map { index, file in
            "{\"idx\":\(index),\"version\":\"7\",\"when\":\(file.when),\"tag\":\"\(file.tag)\",\"breakpoints\":true}"
        }
        let text =
            journal ?? "{\"version\":\"7\",\"dialect\":\"postgresql\",\"entries\":[\(entries.joined(separator: ","))]}"
        try Data(text.utf8).write(to: directory.appendingPathComponent("meta/_journal.json"))
        path = directory.path
    }

    /// A copy of a folder from ../shared/testdata/drizzle (so a test may add or edit files).
    public static func copy(ofShared name: String) throws -> DrizzleFolder {
        let source = TestEnvironment.sharedTestdata.appendingPathComponent("drizzle/\(name)")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("migrator-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: source, to: directory)
        return DrizzleFolder(path: directory.path)
    }

    /// `count` small generated files (a table each, with an index and a row), whens 1000 ms apart.
    public static func generated(count: Int, start: Int64 = 1_700_000_000_000, extra: (Int) -> String = { _ in "" })
        throws -> DrizzleFolder
    {
        try DrizzleFolder(
            (0..<count).map { index in
                File(
                    tag: String(format: "%04d_gen", index),
                    sql: "CREATE TABLE \"t\(index)\" (\"id\" serial PRIMARY KEY, \"v\" text);--> statement-breakpoint\n"
                        + "CREATE INDEX \"t\(index)_v\" ON \"t\(index)\" (\"v\");--> statement-breakpoint\n"
                        + "INSERT INTO \"t\(index)\" (\"v\") VALUES ('row \(index)');" + extra(index),
                    when: start + Int64(index) * 1000)
            })
    }

    private init(path: String) { self.path = path }

    /// A copy of a folder from ../shared/testdata/drizzle-v1 (Drizzle 1.0's folder-per-migration
    /// layout): the `migrations/` sub-folder, so the copy is a migrations folder itself.
    public static func copy(ofSharedV1 name: String) throws -> DrizzleFolder {
        let source = TestEnvironment.sharedTestdata.appendingPathComponent("drizzle-v1/\(name)/migrations")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("migrator-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: source, to: directory)
        return DrizzleFolder(path: directory.path)
    }

    /// A copy of this journal folder converted the way drizzle-kit 1.0's `drizzle-kit up`
    /// (`migrateToFoldersV3`) converts it: per journal entry a folder `<UTC YYYYMMDDHHmmss of
    /// when>_<tag without its first "_" part>/` with the `.sql` bytes unchanged as `migration.sql`
    /// and a `snapshot.json`; the named `.sql` files and `meta/` go, other `.sql` files stay.
    /// (drizzle-kit takes the year from the local clock; this uses UTC, as on a UTC machine.)
    public func convertedToFolders() throws -> DrizzleFolder {
        let manager = FileManager.default
        let target = manager.temporaryDirectory.appendingPathComponent("migrator-test-\(UUID().uuidString.prefix(8))")
        try manager.createDirectory(at: target, withIntermediateDirectories: true)
        let journal = try JSONSerialization.jsonObject(with: Data(contentsOf: journalURL)) as! [String: Any]
        let entries = journal["entries"] as! [[String: Any]]
        var named: Set<String> = []
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMddHHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        for entry in entries {
            let tag = entry["tag"] as! String
            let when = (entry["when"] as! NSNumber).int64Value
            let stamp = formatter.string(from: Date(timeIntervalSince1970: Double(when) / 1000))
            let name =
                stamp + "_"
                + tag.split(separator: "_", omittingEmptySubsequences: false).dropFirst()
                .joined(separator: "_")
            let folder = target.appendingPathComponent(name)
            try manager.createDirectory(at: folder, withIntermediateDirectories: false)
            try Data(contentsOf: URL(fileURLWithPath: path + "/\(tag).sql"))
                .write(to: folder.appendingPathComponent("migration.sql"))
            try Data("{}\n".utf8).write(to: folder.appendingPathComponent("snapshot.json"))
            named.insert(tag + ".sql")
        }
        for file in try manager.contentsOfDirectory(atPath: path) where file.hasSuffix(".sql") && !named.contains(file)
        {
            try manager.copyItem(atPath: path + "/" + file, toPath: target.path + "/" + file)
        }
        return DrizzleFolder(path: target.path)
    }

    /// The folder names of a 1.0 folder, in order.
    public var migrationFolders: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter {
            FileManager.default.fileExists(atPath: path + "/\($0)/migration.sql")
        }.sorted()
    }

    /// A 1.0-layout folder: `(name, sql)` pairs, each written as `<name>/migration.sql`.
    public static func folders(_ migrations: [(name: String, sql: String)]) throws -> DrizzleFolder {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("migrator-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let folder = DrizzleFolder(path: directory.path)
        for migration in migrations { try folder.writeMigration(migration.name, migration.sql) }
        return folder
    }

    /// Writes `<name>/migration.sql` (1.0 layout).
    public func writeMigration(_ name: String, _ sql: String) throws {
        let folder = URL(fileURLWithPath: path).appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(sql.utf8).write(to: folder.appendingPathComponent("migration.sql"))
    }

    public var journalURL: URL { URL(fileURLWithPath: path).appendingPathComponent("meta/_journal.json") }

    public func write(_ tag: String, _ sql: String) throws {
        try Data(sql.utf8).write(to: URL(fileURLWithPath: path).appendingPathComponent(tag + ".sql"))
    }

    public func writeBytes(_ tag: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path).appendingPathComponent(tag + ".sql"))
    }

    /// Appends an entry to the journal and writes its file.
    public func append(_ file: File) throws {
        try write(file.tag, file.sql)
        var journal = try JSONSerialization.jsonObject(with: Data(contentsOf: journalURL)) as! [String: Any]
        var entries = journal["entries"] as! [[String: Any]]
        entries.append(["idx": entries.count, "version": "7", "when": file.when, "tag": file.tag, "breakpoints": true])
        journal["entries"] = entries
        try JSONSerialization.data(withJSONObject: journal).write(to: journalURL)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
