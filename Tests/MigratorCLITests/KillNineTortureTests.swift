import Foundation
import PostgresClient
import TestSupport
import Testing

/// SIGKILL (ECS after the stop timeout, the OOM killer, a lost host) can land at any instant. Because
/// every file is one transaction with its row, the database must always show whole files with their
/// rows, and a later run must finish the rest, each file exactly once.
@Suite("faults: kill -9 torture", .tags(.faults, .slow), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct KillNineTortureTests {
    static let base: Int64 = 1_763_000_000_000
    static let fileCount = 100
    static let databases = 8
    static let killsPerDatabase = 3

    /// Each file creates `kN` and leaves exactly one row `(1, 'row N')` in it. Every fourth file does
    /// so in four pieces, the last one completing the row, so a half-applied file would show.
    static func folder() throws -> DrizzleFolder {
        try DrizzleFolder(
            (0..<fileCount).map { index in
                let sql =
                    index % 4 == 0
                    ? "CREATE TABLE k\(index) (id int PRIMARY KEY, v text);\n--> statement-breakpoint\n"
                        + "INSERT INTO k\(index) VALUES (1, 'partial');\n--> statement-breakpoint\n"
                        + "CREATE INDEX k\(index)_v ON k\(index) (v);\n--> statement-breakpoint\n"
                        + "UPDATE k\(index) SET v = 'row \(index)';"
                    : "CREATE TABLE k\(index) (id int PRIMARY KEY, v text); INSERT INTO k\(index) VALUES (1, 'row \(index)');"
                return DrizzleFolder.File(
                    tag: String(format: "%04d_k", index), sql: sql, when: base + Int64(index) * 10)
            })
    }

    /// Every recorded file's table holds its complete row, every table is recorded, rows are unique
    /// and form a prefix of the journal. Returns how many files are recorded; records any violation.
    static func checkConsistency(_ database: TestDatabase, context: String) throws -> (
        recorded: Int, problems: [String]
    ) {
        let connection = try database.connect()
        defer { connection.close() }
        var problems: [String] = []
        let trackingExists =
            try connection.simpleQuery("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL")
            .last?.scalar == "t"
        let createdAts: [Int64] =
            trackingExists
            ? try connection.simpleQuery("SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY id").last?.rows
                .compactMap { $0[0].flatMap { Int64($0) } } ?? []
            : []
        let recorded = createdAts.map { Int(($0 - base) / 10) }
        if recorded != Array(0..<recorded.count) {
            problems.append("\(context): recorded files are not a unique prefix of the journal: \(recorded)")
        }
        let tables = Set(
            try connection.simpleQuery(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                    + "AND relname ~ '^k[0-9]+$'"
            ).last?.rows.compactMap { $0[0].flatMap { Int($0.dropFirst()) } } ?? [])
        for index in Set(recorded).subtracting(tables).sorted() {
            problems.append("\(context): file \(index) is recorded but its table is missing")
        }
        for index in tables.subtracting(recorded).sorted() {
            problems.append("\(context): table k\(index) exists but its file is not recorded")
        }
        for index in tables.intersection(recorded).sorted() {
            let rows = try connection.simpleQuery("SELECT count(*)::text || ':' || coalesce(min(v), '') FROM k\(index)")
                .last?.scalar
            if rows != "1:row \(index)" {
                problems.append("\(context): k\(index) holds \(rows ?? "nothing") instead of its one complete row")
            }
        }
        return (recorded.count, problems)
    }

    /// Files recorded so far, 0 before the tracking table exists; cheap enough to poll every millisecond.
    static func recordedCount(_ connection: Connection) throws -> Int {
        // Two statements: a CASE around the count would still fail to plan while the table is missing.
        guard
            try connection.simpleQuery("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL").last?.scalar
                == "t"
        else { return 0 }
        return Int(try connection.simpleQuery("SELECT count(*) FROM drizzle.__drizzle_migrations").last?.scalar ?? "0")
            ?? 0
    }

    @Test("SIGKILL at random moments while applying 100 files: never a half-applied file or a row without its changes")
    func killNine() throws {
        let folder = try Self.folder()
        defer { folder.remove() }
        var kills = 0
        var killedMidRun = 0
        var inconsistencies: [String] = []
        for trial in 0..<Self.databases {
            try withFaultDatabase { database in
                let environment = migratorEnvironment(database: database, folder: folder)
                let watcher = try database.connect(applicationName: "torture-watch")
                defer { watcher.close() }
                var recorded = 0
                for kill in 0..<Self.killsPerDatabase where recorded < Self.fileCount {
                    // A random point in the work left: wait until the run has recorded some files, then a
                    // random few milliseconds more, so the kill falls anywhere within a file (its BEGIN,
                    // a piece, the row, the COMMIT) or, for target 0, before or while connecting.
                    let target = kill == 0 && trial % 4 == 0 ? recorded : Int.random(in: recorded...Self.fileCount - 1)
                    let jitter = Double.random(in: 0...0.012)
                    let run = try Spawned.migrator(["up"], environment: environment)
                    let deadline = ContinuousClock.now + .seconds(30)
                    while try Self.recordedCount(watcher) < target && !run.hasExited && ContinuousClock.now < deadline {
                        usleep(500)
                    }
                    Thread.sleep(forTimeInterval: target == recorded ? Double.random(in: 0...0.1) : jitter)
                    run.signal(SIGKILL)
                    let result = try run.wait(timeout: .seconds(60))
                    kills += 1
                    let context = "database \(trial) kill \(kill) (target \(target))"
                    let (now, problems) = try Self.checkConsistency(database, context: context)
                    inconsistencies += problems
                    if result.signalled && result.exitCode == SIGKILL && now < Self.fileCount { killedMidRun += 1 }
                    recorded = now
                }
                let final = try Spawned.runMigrator(["up"], environment: environment, timeout: .seconds(120))
                #expect(final.exitCode == 0, "\(final.output)")
                expectNoPassword(final, database.password)
                let (total, problems) = try Self.checkConsistency(database, context: "database \(trial) final")
                inconsistencies += problems
                #expect(total == Self.fileCount)
                #expect(final.count("migration.applied") == Self.fileCount - recorded, "\(final.stdout)")
                #expect(try advisoryLocks(in: database) == 0)
            }
        }
        FileHandle.standardError.write(
            Data(
                "kill -9 torture: \(kills) kills, \(killedMidRun) mid-run, \(inconsistencies.count) inconsistencies\n"
                    .utf8))
        #expect(kills >= 20)
        #expect(inconsistencies.isEmpty, "\(inconsistencies)")
        // Kills must land while files were being applied, or the torture proved little.
        #expect(killedMidRun >= kills * 3 / 4, "only \(killedMidRun) of \(kills) kills interrupted a run")
    }
}
