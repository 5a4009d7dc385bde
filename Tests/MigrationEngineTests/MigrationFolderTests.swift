import Foundation
import MigrationEngine
import TestSupport
import Testing

@Suite("drizzle-kit folder reader")
struct MigrationFolderTests {
    static let basic = TestEnvironment.sharedTestdata.appendingPathComponent("drizzle/basic").path

    @Test("hashes and created_at equal the rows Drizzle writes (expected_tracking.tsv)")
    func hashesMatchDrizzle() throws {
        let folder = try MigrationFolder(path: Self.basic)
        let expected = try String(contentsOfFile: Self.basic + "/expected_tracking.tsv", encoding: .utf8)
            .split(separator: "\n").dropFirst().map(String.init)
        #expect(folder.migrations.map { "\($0.hash)\t\($0.when)" } == expected)
        #expect(folder.migrations.map(\.tag).first == "0000_initial_schema")
        #expect(folder.strayFiles.isEmpty)
    }

    @Test("splits on the exact breakpoint marker and keeps empty pieces")
    func pieces() throws {
        let folder = try MigrationFolder(path: Self.basic)
        let seed = folder.migrations[1]
        #expect(seed.pieces.count == 5)
        #expect(seed.pieces[2].isBlank)  // comment-only chunk
        #expect(seed.pieces[4].isBlank)  // after the trailing marker
        #expect(folder.migrations[5].pieces.count == 1)  // breakpoints: false, three statements in one piece
        #expect(folder.migrations[5].pieces[0].statements.count == 3)
        #expect(folder.migrations.allSatisfy { $0.mode == .transactional })
        let joined = seed.pieces.map(\.text).joined(separator: "--> statement-breakpoint")
        #expect(joined == seed.sql)
    }

    @Test("variants of the marker do not split")
    func markerVariants() {
        let migration = Migration(
            index: 0, tag: "x", when: 1, sql: "SELECT 1;-->statement-breakpoint\nSELECT 2;-- > statement-breakpoint")
        #expect(migration.pieces.count == 1)
    }

    @Test("detects files that manage their own transaction")
    func modes() {
        #expect(
            Migration(
                index: 0, tag: "a", when: 1,
                sql:
                    "ALTER TABLE t ADD c int;\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY i ON t (c);"
            ).mode == .selfManaged)
        #expect(
            Migration(
                index: 0, tag: "a", when: 1, sql: "-- migrator:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);"
            ).mode == .noTransaction)
        #expect(Migration(index: 0, tag: "a", when: 1, sql: "DO $$ BEGIN COMMIT; END $$;").mode == .transactional)
    }

    @Test("hash is SHA-256 of the raw bytes, BOM and CRLF included")
    func hashKeepsBytes() {
        let lf = Migration(index: 0, tag: "a", when: 1, sql: "SELECT 1;\n")
        let crlf = Migration(index: 0, tag: "a", when: 1, sql: "SELECT 1;\r\n")
        let bom = Migration(index: 0, tag: "a", when: 1, sql: "\u{FEFF}SELECT 1;\n")
        // sha256sum of the same bytes
        #expect(lf.hash == "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd")
        #expect(Set([lf.hash, crlf.hash, bom.hash]).count == 3)
        // Known vector: sha256("") — a file may be empty.
        #expect(
            Migration(index: 0, tag: "a", when: 1, sql: "").hash
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("line and column of an error position count characters, not bytes")
    func location() {
        let migration = Migration(index: 0, tag: "a", when: 1, sql: "-- Zoë\nSELECT 'ü' + nope;")
        let offset = Array(migration.sql.utf8).firstIndex(of: UInt8(ascii: "n"))!
        #expect(migration.location(ofByte: offset) == (2, 14))
    }

    @Test(
        "a broken folder is a configuration error naming the file",
        arguments: [
            ("not json", "{ not json", "not valid JSON"),
            ("conflict", "<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> branch\n", "merge conflict"),
            ("no entries", "{\"version\":\"7\"}", "missing \"entries\""),
            ("when as string", "{\"entries\":[{\"idx\":0,\"when\":\"soon\",\"tag\":\"0000_a\"}]}", "wrong type"),
            ("tag with slash", "{\"entries\":[{\"idx\":0,\"when\":1,\"tag\":\"../etc/passwd\"}]}", "not a file name"),
            ("empty", "", "empty"),
        ])
    func brokenJournal(name: String, journal: String, expected: String) throws {
        let folder = try DrizzleFolder([], journal: journal)
        defer { folder.remove() }
        let error = #expect(throws: MigrationError.self) { try MigrationFolder(path: folder.path) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("_journal.json") == true)
    }

    @Test("missing file, duplicate tag, invalid UTF-8, missing folder")
    func brokenFiles() throws {
        let missing = try DrizzleFolder([.init(tag: "0000_a", sql: "SELECT 1;", when: 1)])
        defer { missing.remove() }
        try FileManager.default.removeItem(atPath: missing.path + "/0000_a.sql")
        let error = #expect(throws: MigrationError.self) { try MigrationFolder(path: missing.path) }
        #expect(error?.message.contains("0000_a.sql") == true && error?.message.contains("entry 0") == true)

        let duplicate = try DrizzleFolder([
            .init(tag: "0000_a", sql: "SELECT 1;", when: 1), .init(tag: "0000_a", sql: "SELECT 1;", when: 2),
        ])
        defer { duplicate.remove() }
        #expect(throws: MigrationError.self) { try MigrationFolder(path: duplicate.path) }

        let latin1 = try DrizzleFolder([.init(tag: "0000_a", sql: "", when: 1)])
        defer { latin1.remove() }
        try latin1.writeBytes("0000_a", Array("SELECT 'caf".utf8) + [0xE9] + Array("';".utf8))
        let utf8Error = #expect(throws: MigrationError.self) { try MigrationFolder(path: latin1.path) }
        #expect(utf8Error?.message.contains("not valid UTF-8") == true)
        #expect(utf8Error?.message.contains("offset 11") == true, "\(utf8Error?.message ?? "")")

        let nowhere = #expect(throws: MigrationError.self) { try MigrationFolder(path: "/nonexistent/migrations") }
        #expect(nowhere?.code == .configuration)
    }

    @Test("files the journal does not name are reported as strays")
    func strays() throws {
        let folder = try DrizzleFolder([.init(tag: "0000_a", sql: "SELECT 1;", when: 1)])
        defer { folder.remove() }
        try folder.write("0000_b", "SELECT 2;")
        #expect(try MigrationFolder(path: folder.path).strayFiles == ["0000_b.sql"])
    }

    @Test(
        "durations",
        arguments: [("500ms", 500), ("5s", 5000), ("2m", 120_000), ("1h", 3_600_000), ("7", 7000), ("0", 0)])
    func durations(text: String, milliseconds: Int64) {
        #expect(Duration(parsing: text)?.milliseconds == milliseconds)
    }

    @Test("bad durations are rejected", arguments: ["", "5 s", "-1s", "1.5s", "ms", "5d", "99999999999999s"])
    func badDurations(text: String) {
        #expect(Duration(parsing: text) == nil)
    }
}
