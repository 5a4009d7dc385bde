import Foundation
import PostgresClient
import TestSupport
import Testing

/// A connection lost mid-run (an RDS Multi-AZ failover, a proxy restart) is re-established within the
/// connect timeout and the run carries on from the tracking table: exit 0, every file exactly once,
/// rows in order (issue 14).
@Suite("faults: failover", .tags(.faults, .slow), .enabled(if: TestEnvironment.postgresTestsEnabled), .serialized)
struct FailoverTests {
    static let base: Int64 = 1_766_000_000_000

    /// `count` files that each take a little while, so that a run lasts long enough to be cut.
    static func slowFolder(count: Int, sleep: String = "0.05") throws -> DrizzleFolder {
        try DrizzleFolder(
            (0..<count).map { index in
                .init(
                    tag: String(format: "%04d_slow", index),
                    sql: "CREATE TABLE t\(index) (id int);\n--> statement-breakpoint\nSELECT pg_sleep(\(sleep));",
                    when: base + Int64(index))
            })
    }

    /// Every file applied once, rows in folder order, nothing else.
    static func expectEachOnce(_ rows: [String], count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let createdAt = rows.compactMap { $0.split(separator: "\t").last.flatMap { Int64($0) } }
        #expect(createdAt == (0..<Int64(count)).map { base + $0 }, sourceLocation: sourceLocation)
    }

    @Test("PostgreSQL restarted (pg_ctl restart -m fast) in the middle of a 100-file run")
    func serverRestart() throws {
        let cluster = try ScratchCluster()
        defer { cluster.destroy() }
        let folder = try Self.slowFolder(count: 100)
        defer { folder.remove() }
        let process = try MigratorProcess(
            ["up"],
            environment: [
                "DATABASE_URL": cluster.url, "MIGRATIONS_DIR": folder.path, "MIGRATOR_CONNECT_TIMEOUT": "60s",
            ])
        // Restart once a good part of the folder is in.
        try MigratorProcess.waitUntil(timeout: .seconds(60)) {
            (try? Self.rowCount(cluster.url)) ?? 0 >= 20
        }
        let (status, _) = try runTool(
            asPostgres + [
                "\(cluster.binDirectory)/pg_ctl", "-D", "\(cluster.directory)/data", "-l",
                "\(cluster.directory)/server.log", "-m", "fast", "-w", "restart",
            ])
        try #require(status == 0)
        let result = try process.wait(timeout: .seconds(120))
        #expect(result.exitCode == 0, "\(result.output)")
        #expect(result.count("database.reconnecting") >= 1, "the restart was not noticed: \(result.output)")
        Self.expectEachOnce(try Self.rows(cluster.url), count: 100)
        try expectWellFormedRun(result, password: cluster.password)
    }

    enum Moment: String, CaseIterable, CustomStringConvertible, Sendable {
        case duringStatement, duringCommit, betweenFiles
        var description: String { rawValue }
    }

    @Test(
        "a proxy that cuts the connection during a statement, during COMMIT and between files",
        arguments: Moment.allCases)
    func proxyCut(moment: Moment) throws {
        try withFaultDatabase { database in
            let proxy = try CuttingProxy(to: try #require(URLComponents(string: database.url)?.port))
            defer { proxy.stop() }
            let files = Self.files(for: moment)
            let folder = try DrizzleFolder(files)
            defer { folder.remove() }
            let admin = try database.connect(applicationName: "failover-watch")
            defer { admin.close() }
            if moment == .betweenFiles {
                // Two files in, then the migration lock held elsewhere: the run waits idle between
                // files, polling for the lock, when the connection is cut.
                let firstTwo = try DrizzleFolder(Array(files.prefix(2)))
                defer { firstTwo.remove() }
                let first = try MigratorProcess.run(
                    ["up"], environment: migratorEnvironment(database: database, folder: firstTwo))
                // The key as printed: JSONSerialization would read a 64-bit key as a rounded double.
                let key = try #require(
                    first.stdout.firstMatch(of: /"lock_key":(-?[0-9]+)/).map { String($0.output.1) })
                try admin.simpleQuery("SELECT pg_advisory_lock(\(key))")
                // The first run's backend must be gone before `reached` looks for the second's.
                try MigratorProcess.waitUntil {
                    try admin.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrator'")
                        .scalar == "0"
                }
            }
            var components = try #require(URLComponents(string: database.url))
            components.port = proxy.port
            let process = try MigratorProcess(
                ["up"],
                environment: [
                    "DATABASE_URL": try #require(components.string), "MIGRATIONS_DIR": folder.path,
                    "MIGRATOR_CONNECT_TIMEOUT": "30s",
                ])
            try MigratorProcess.waitUntil(timeout: .seconds(60)) { try Self.reached(moment, on: admin) }
            proxy.cut()
            if moment == .betweenFiles { try admin.simpleQuery("SELECT pg_advisory_unlock_all()") }
            let result = try process.wait(timeout: .seconds(120))
            #expect(result.exitCode == 0, "\(moment): \(result.output)")
            #expect(result.count("database.reconnecting") == 1, "\(moment): \(result.output)")
            Self.expectEachOnce(try database.trackingRows(), count: 6)
            #expect(
                try database.query("SELECT count(*) FROM pg_class WHERE relname LIKE 't_' AND relkind = 'r'") == [["6"]]
            )
            try expectWellFormedRun(result, password: database.password)
        }
    }

    /// Six files; for the first two moments the third is where the cut happens: it sleeps in a
    /// statement, or its COMMIT is slow (a deferred constraint trigger that sleeps).
    static func files(for moment: Moment) -> [DrizzleFolder.File] {
        (0..<6).map { index in
            var sql = "CREATE TABLE t\(index) (id int);"
            if index == 2 && moment == .duringStatement {
                sql += "\n--> statement-breakpoint\nSELECT pg_sleep(2) AS cut_here;"
            }
            if index == 2 && moment == .duringCommit {
                sql += """

                    --> statement-breakpoint
                    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
                    --> statement-breakpoint
                    CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON t2 DEFERRABLE INITIALLY DEFERRED
                      FOR EACH ROW EXECUTE FUNCTION slow_commit();
                    --> statement-breakpoint
                    INSERT INTO t2 VALUES (1);
                    """
            }
            return .init(tag: String(format: "%04d_cut", index), sql: sql, when: base + Int64(index))
        }
    }

    /// Polls the server for the moment to cut at.
    static func reached(_ moment: Moment, on admin: Connection) throws -> Bool {
        let activity =
            try admin.query(
                "SELECT coalesce(string_agg(query, ' | '), '') FROM pg_stat_activity "
                    + "WHERE application_name = 'migrator' AND state = 'active'"
            ).scalar ?? ""
        switch moment {
        case .duringStatement: return activity.contains("cut_here")
        case .duringCommit: return activity.contains("COMMIT") && activity.contains("INSERT INTO")
        case .betweenFiles:
            // Connected, and idle between its polls for the lock for a while.
            let waiting = try admin.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrator' "
                    + "AND backend_start < now() - interval '500 milliseconds'"
            ).scalar
            return waiting == "1"
        }
    }

    static func rows(_ url: String) throws -> [String] {
        let connection = try Connection.connect(to: url, deadline: .now + .seconds(10))
        defer { connection.close() }
        return try connection.query("SELECT hash || E'\\t' || created_at FROM drizzle.__drizzle_migrations ORDER BY id")
            .rows.compactMap { $0.first ?? nil }
    }

    static func rowCount(_ url: String) throws -> Int {
        let connection = try Connection.connect(to: url, deadline: .now + .seconds(5))
        defer { connection.close() }
        return Int(try connection.query("SELECT count(*) FROM drizzle.__drizzle_migrations").scalar ?? "0") ?? 0
    }
}
