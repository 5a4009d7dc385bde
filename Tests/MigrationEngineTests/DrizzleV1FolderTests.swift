import Foundation
import MigrationEngine
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Drizzle 1.0's folder-per-migration layout, read from files; and what the readers refuse.
@Suite("drizzle-kit 1.0 folder reader")
struct DrizzleV1FolderTests {
    static let basic = TestEnvironment.sharedTestdata.appendingPathComponent("drizzle-v1/basic").path

    @Test("hash, created_at and name equal the rows Drizzle 1.0 writes (expected_tracking.tsv)")
    func matchesDrizzle() throws {
        let folder = try MigrationFolder(path: Self.basic + "/migrations")
        #expect(folder.layout == .folders)
        let expected = try String(contentsOfFile: Self.basic + "/expected_tracking.tsv", encoding: .utf8)
            .split(separator: "\n").dropFirst().map(String.init)
        #expect(folder.migrations.map { "\($0.hash)\t\($0.when)\t\($0.tag)" } == expected)
        #expect(folder.migrations.map(\.fileName).first == "20250101100000_initial_schema/migration.sql")
        #expect(folder.migrations.map(\.index) == Array(0..<6))
        #expect(folder.strayFiles.isEmpty)
        #expect(try MigrationFolder(path: TestEnvironment.sharedTestdata.path + "/drizzle/basic").layout == .journal)
    }

    @Test("the journal folder converted as drizzle-kit up converts it reads as the shared 1.0 folder")
    func converted() throws {
        let journal = try DrizzleFolder.copy(ofShared: "basic")
        defer { journal.remove() }
        let converted = try journal.convertedToFolders()
        defer { converted.remove() }
        let mine = try MigrationFolder(path: converted.path).migrations
        let shared = try MigrationFolder(path: Self.basic + "/migrations").migrations
        #expect(mine.map(\.tag) == shared.map(\.tag) && mine.map(\.hash) == shared.map(\.hash))
    }

    @Test(
        "created_at is Date.UTC of the first 14 digits, with JavaScript's roll-over",
        arguments: [
            ("20250101100000_x", 1_735_725_600_000), ("19700101000000", 0),
            ("20241301000000_month13", 1_735_689_600_000), ("20250230000000_feb30", 1_740_873_600_000),
            ("20250100000000_day0", 1_735_603_200_000),
        ] as [(String, Int64)])
    func folderMillis(name: String, millis: Int64) throws {
        let folder = try DrizzleFolder.folders([(name, "SELECT 1;")])
        defer { folder.remove() }
        #expect(try MigrationFolder(path: folder.path).migrations.first?.when == millis)
    }

    @Test("folders of one second are ordered as localeCompare orders them; others by time")
    func order() throws {
        let names = [
            "20250101100000_b", "20250101100000_A", "20250101100000_a-x", "20250101100000_a_x", "20240101000000_z",
        ]
        let folder = try DrizzleFolder.folders(names.map { ($0, "SELECT 1;") })
        defer { folder.remove() }
        #expect(
            try MigrationFolder(path: folder.path).migrations.map(\.tag) == [
                "20240101000000_z", "20250101100000_A", "20250101100000_a_x", "20250101100000_a-x", "20250101100000_b",
            ])
    }

    @Test("sub-folders without migration.sql are strays; a name without 14 digits and journal plus folders refuse")
    func refusals() throws {
        let folder = try DrizzleFolder.folders([("20250101100000_a", "SELECT 1;")])
        defer { folder.remove() }
        try FileManager.default.createDirectory(atPath: folder.path + "/notes", withIntermediateDirectories: false)
        #expect(try MigrationFolder(path: folder.path).strayFiles == ["notes/"])

        try folder.writeMigration("2025_short", "SELECT 1;")
        let short = #expect(throws: MigrationError.self) { try MigrationFolder(path: folder.path) }
        #expect(short?.code == .configuration && short?.message.contains("2025_short") == true)
        try FileManager.default.removeItem(atPath: folder.path + "/2025_short")

        try FileManager.default.createDirectory(atPath: folder.path + "/meta", withIntermediateDirectories: false)
        try Data("{\"entries\":[]}".utf8).write(to: URL(fileURLWithPath: folder.path + "/meta/_journal.json"))
        let both = #expect(throws: MigrationError.self) { try MigrationFolder(path: folder.path) }
        #expect(both?.code == .configuration && both?.message.contains("drizzle-kit up") == true)
    }

    @Test("a FIFO named by the journal or as migration.sql is refused at once, naming it (it used to hang)")
    func fifo() throws {
        let journal = try DrizzleFolder([.init(tag: "0000_a", sql: "SELECT 1;", when: 1)])
        defer { journal.remove() }
        try FileManager.default.removeItem(atPath: journal.path + "/0000_a.sql")
        #expect(mkfifo(journal.path + "/0000_a.sql", 0o600) == 0)
        let started = ContinuousClock.now
        let error = #expect(throws: MigrationError.self) { try MigrationFolder(path: journal.path) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("0000_a.sql: not a regular file") == true, "\(error?.message ?? "")")

        let folders = try DrizzleFolder.folders([])
        defer { folders.remove() }
        try FileManager.default.createDirectory(
            atPath: folders.path + "/20250101100000_a", withIntermediateDirectories: false)
        #expect(mkfifo(folders.path + "/20250101100000_a/migration.sql", 0o600) == 0)
        let second = #expect(throws: MigrationError.self) { try MigrationFolder(path: folders.path) }
        #expect(second?.message.contains("20250101100000_a/migration.sql: not a regular file") == true)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("a file above the size limit is refused with the limit in the message")
    func tooLarge() throws {
        let folder = try DrizzleFolder([.init(tag: "0000_a", sql: "", when: 1)])
        defer { folder.remove() }
        let path = folder.path + "/0000_a.sql"
        #expect(truncate(path, off_t(MigrationFolder.maximumFileSize + 1)) == 0)
        let error = #expect(throws: MigrationError.self) { try MigrationFolder(path: folder.path) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("0000_a.sql") == true && error?.message.contains("MiB") == true)
    }

    @Test(
        "only the exact marker line makes a no-transaction file",
        arguments: [
            ("-- migrator:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);", Migration.Mode.noTransaction),
            ("-- migrator:no-transaction\r\nSELECT 1;", .noTransaction),
            ("-- migrator:no-transaction", .noTransaction),
            ("-- migrator:no-transactional-note\nSELECT 1;", .transactional),
            ("-- migrator:no-transactions\nSELECT 1;", .transactional),
            ("-- migrator:no-transaction_x\nSELECT 1;", .transactional),
        ])
    func marker(sql: String, mode: Migration.Mode) {
        #expect(Migration(index: 0, tag: "a", when: 1, sql: sql).mode == mode)
    }
}
