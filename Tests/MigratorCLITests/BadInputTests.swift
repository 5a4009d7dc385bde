import Foundation
import PostgresClient
import TestSupport
import Testing

/// Every kind of bad input ends with its exit code, one line that names the file, flag or variable,
/// and nothing applied: the database is not changed at all.
@Suite("faults: bad input", .tags(.faults), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct BadInputTests {
    static let base: Int64 = 1_765_000_000_000

    static func goodFiles() -> [DrizzleFolder.File] {
        [
            .init(tag: "0000_a", sql: "CREATE TABLE a (id int);", when: base),
            .init(tag: "0001_b", sql: "CREATE TABLE b (id int);", when: base + 1),
        ]
    }

    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var code: Int32
        /// Each must appear in run.finished's error (or, for argument errors, on stderr).
        var mentions: [String]
        var description: String { name }
    }

    /// Runs migrator on a folder prepared by `prepare` and checks the exit code, the message and that
    /// the database is untouched.
    static func expectRejected(
        _ testCase: Case, arguments: [String] = ["up"], environment extra: [String: String] = [:],
        forbidden: [String] = [], prepare: (DrizzleFolder) throws -> Void = { _ in },
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try withFaultDatabase { database in
            let folder = try DrizzleFolder(goodFiles())
            defer { folder.remove() }
            try prepare(folder)
            let result = try Spawned.runMigrator(
                arguments, environment: migratorEnvironment(database: database, folder: folder, extra: extra),
                timeout: .seconds(60))
            #expect(
                result.exitCode == testCase.code, "\(testCase.name): \(result.output)", sourceLocation: sourceLocation)
            let finished = try #require(
                result.lastLine, "\(testCase.name): no log line", sourceLocation: sourceLocation)
            #expect(finished["event"] as? String == "run.finished", sourceLocation: sourceLocation)
            #expect((finished["exit_code"] as? Int).map(Int32.init) == testCase.code, sourceLocation: sourceLocation)
            let line = result.finalError + "\n" + result.stderr
            for mention in testCase.mentions {
                #expect(
                    line.contains(mention), "\(testCase.name): \"\(mention)\" missing from: \(line)",
                    sourceLocation: sourceLocation)
            }
            #expect(result.count("migration.applied") == 0, sourceLocation: sourceLocation)
            expectNoPassword(result, database.password, sourceLocation: sourceLocation)
            for secret in forbidden { expectNoPassword(result, secret, sourceLocation: sourceLocation) }
            #expect(
                try database.query(
                    "SELECT to_regnamespace('drizzle') IS NULL, (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace)"
                ) == [["t", "0"]], "\(testCase.name): the database was changed", sourceLocation: sourceLocation)
        }
    }

    @Test("missing migrations folder: exit 2 naming the path")
    func missingFolder() throws {
        try Self.expectRejected(
            Case(name: "missing folder", code: 2, mentions: ["/nonexistent/migrations", "no such file or directory"]),
            environment: ["MIGRATIONS_DIR": "/nonexistent/migrations"])
    }

    @Test("broken folder while the database never answers the login: exit 2 at once, not at the connect timeout")
    func brokenFolderSilentDatabase() throws {
        // The login starts while the folder is read; the folder's error must not wait for it.
        let listener = try SilentListener()
        defer { listener.close() }
        let started = ContinuousClock.now
        let result = try Spawned.runMigrator(
            ["up"],
            environment: [
                "DATABASE_URL": "postgres://u:pw-never-shown@127.0.0.1:\(listener.port)/db",
                "MIGRATIONS_DIR": "/nonexistent/migrations", "MIGRATOR_CONNECT_TIMEOUT": "60s",
            ], timeout: .seconds(30))
        #expect(result.exitCode == 2, "\(result.output)")
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(result.finalError.contains("/nonexistent/migrations"))
        #expect(result.count("database.connected") == 0)
        expectNoPassword(result, "pw-never-shown")
    }

    @Test("journal that is not JSON: exit 2 naming meta/_journal.json")
    func journalNotJSON() throws {
        try Self.expectRejected(
            Case(name: "journal not JSON", code: 2, mentions: ["meta/_journal.json", "not valid JSON"])
        ) {
            try Data("{\"version\":\"7\",\"entries\":[{".utf8).write(to: $0.journalURL)
        }
    }

    @Test("journal with merge-conflict markers: exit 2 naming the line")
    func journalWithConflictMarkers() throws {
        try Self.expectRejected(
            Case(name: "conflict markers", code: 2, mentions: ["meta/_journal.json", "line 3", "merge conflict"])
        ) { folder in
            let text = """
                {"version":"7","dialect":"postgresql","entries":[
                {"idx":0,"version":"7","when":\(Self.base),"tag":"0000_a","breakpoints":true},
                <<<<<<< HEAD
                {"idx":1,"version":"7","when":\(Self.base + 1),"tag":"0001_b","breakpoints":true}
                =======
                {"idx":1,"version":"7","when":\(Self.base + 2),"tag":"0001_c","breakpoints":true}
                >>>>>>> feature
                ]}
                """
            try Data(text.utf8).write(to: folder.journalURL)
        }
    }

    @Test("journal entry without its file: exit 2 naming the file and the entry")
    func entryWithoutFile() throws {
        try Self.expectRejected(Case(name: "missing file", code: 2, mentions: ["0001_b.sql", "entry 1"])) { folder in
            try FileManager.default.removeItem(atPath: folder.path + "/0001_b.sql")
        }
    }

    @Test("file that is not UTF-8: exit 2 naming the file and the byte")
    func fileNotUTF8() throws {
        try Self.expectRejected(
            Case(name: "not UTF-8", code: 2, mentions: ["0001_b.sql", "not valid UTF-8", "offset 21"])
        ) {
            try $0.writeBytes("0001_b", Array("CREATE TABLE b (note ".utf8) + [0xE9] + Array(" text);".utf8))
        }
    }

    @Test("empty pending file: exit 2 naming it, nothing applied")
    func emptyPendingFile() throws {
        try Self.expectRejected(Case(name: "empty file", code: 2, mentions: ["0001_b.sql", "empty"])) {
            try $0.write("0001_b", "")
        }
        try Self.expectRejected(Case(name: "whitespace-only file", code: 2, mentions: ["0001_b.sql", "empty"])) {
            try $0.write("0001_b", "\n  \n")
        }
    }

    @Test("an empty file that is already recorded does not block later files")
    func appliedEmptyFileIsHistory() throws {
        try withFaultDatabase { database in
            let folder = try DrizzleFolder([
                .init(tag: "0000_empty", sql: "", when: Self.base),
                .init(tag: "0001_b", sql: "CREATE TABLE b (id int);", when: Self.base + 1),
            ])
            defer { folder.remove() }
            let environment = migratorEnvironment(database: database, folder: folder)
            // Recorded as Drizzle would have recorded it: the SHA-256 of zero bytes.
            let baseline = try Spawned.runMigrator(["baseline", "--through", "0000_empty"], environment: environment)
            #expect(baseline.exitCode == 0, "\(baseline.output)")
            #expect(
                try database.trackingRows()
                    == ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t\(Self.base)"])
            let result = try Spawned.runMigrator(["up"], environment: environment)
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try result.events("migration.applied").map { $0["migration"] as? String } == ["0001_b"])
        }
    }

    @Test("duplicate tags: exit 2 naming the tag")
    func duplicateTags() throws {
        try Self.expectRejected(Case(name: "duplicate tags", code: 2, mentions: ["0000_a", "same tag"])) { folder in
            let entry = { (index: Int, when: Int64) in
                "{\"idx\":\(index),\"version\":\"7\",\"when\":\(when),\"tag\":\"0000_a\",\"breakpoints\":true}"
            }
            try Data(
                "{\"version\":\"7\",\"dialect\":\"postgresql\",\"entries\":[\(entry(0, Self.base)),\(entry(1, Self.base + 1))]}"
                    .utf8
            ).write(to: folder.journalURL)
        }
    }

    @Test("unknown flag: exit 2 naming it")
    func unknownFlag() throws {
        try Self.expectRejected(
            Case(name: "unknown flag", code: 2, mentions: ["--no-such-flag"]), arguments: ["up", "--no-such-flag"])
    }

    @Test("bad duration in a flag and in a variable: exit 2 naming each")
    func badDurations() throws {
        try Self.expectRejected(
            Case(name: "bad flag duration", code: 2, mentions: ["--lock-timeout", "\"5 seconds\"", "not a duration"]),
            arguments: ["up", "--lock-timeout", "5 seconds"])
        try Self.expectRejected(
            Case(name: "bad variable duration", code: 2, mentions: ["MIGRATOR_LOCK_WAIT", "\"-3s\""]),
            environment: ["MIGRATOR_LOCK_WAIT": "-3s"])
        try Self.expectRejected(
            Case(name: "bad connect timeout", code: 2, mentions: ["MIGRATOR_CONNECT_TIMEOUT", "\"1.5s\""]),
            environment: ["MIGRATOR_CONNECT_TIMEOUT": "1.5s"])
    }

    @Test("negative or garbage MIGRATOR_ALLOW_OUT_OF_ORDER: exit 2 naming the variable")
    func badOutOfOrderVariable() throws {
        for value in ["-1", "sometimes"] {
            try Self.expectRejected(
                Case(
                    name: "MIGRATOR_ALLOW_OUT_OF_ORDER=\(value)", code: 2,
                    mentions: ["MIGRATOR_ALLOW_OUT_OF_ORDER", "\"\(value)\""]),
                environment: ["MIGRATOR_ALLOW_OUT_OF_ORDER": value])
        }
    }

    @Test("bad database URL: exit 2 at once, the password not printed")
    func badURL() throws {
        let port = URLComponents(string: TestEnvironment.adminURL ?? "")?.port ?? 5432
        for url in [
            "postgres://postgres:hunter2-secret@127.0.0.1:notaport/db",
            "postgres://postgres:hunter2-secret@127.0.0.1:\(port)/db?sslmode=sometimes",
            "mysql//postgres:hunter2-secret@127.0.0.1/db",
        ] {
            try Self.expectRejected(
                Case(name: "bad URL \(url)", code: 2, mentions: ["invalid database URL"]),
                environment: ["DATABASE_URL": url],
                forbidden: ["hunter2-secret"])
        }
    }

    @Test("unreachable host: exit 3 after the connect timeout")
    func unreachableHost() throws {
        let port = try freePort()
        try Self.expectRejected(
            Case(name: "unreachable", code: 3, mentions: ["127.0.0.1:\(port)", "connect timeout of 1000 ms"]),
            arguments: ["up", "--connect-timeout", "1s"],
            environment: ["DATABASE_URL": "postgres://postgres:hunter2-secret@127.0.0.1:\(port)/db"],
            forbidden: ["hunter2-secret"])
    }
}
