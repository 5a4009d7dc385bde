import Foundation

/// Writes drizzle-kit folders (journal layout) for tests into a temporary directory.
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
