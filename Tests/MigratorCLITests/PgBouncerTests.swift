import Foundation
import PostgresClient
import TestSupport
import Testing

/// A PgBouncer in transaction pooling mode, started by the test in front of the shared test server.
final class PgBouncer: @unchecked Sendable {
    let port: Int
    let directory: URL
    private var process: Spawned?

    /// `roundRobin` makes PgBouncer hand consecutive transactions to different server connections,
    /// which is what a busy pool does anyway.
    init(adminURL: String, roundRobin: Bool = false) throws {
        guard
            let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].first(
                where: FileManager.default.isExecutableFile)
        else { throw TestSetupError("pgbouncer is not installed (scripts/test.sh installs the Debian package)") }
        guard let server = URLComponents(string: adminURL), let user = server.user, let password = server.password,
            let serverPort = server.port
        else { throw TestSetupError("MIGRATOR_TEST_DATABASE_URL lacks user, password or port") }
        let port = try freePort()
        self.port = port
        var url = server
        url.port = port
        self.url = url
        directory = URL(fileURLWithPath: "/tmp/migrator-pgbouncer-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try """
        [databases]
        * = host=127.0.0.1 port=\(serverPort)

        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = \(port)
        unix_socket_dir =
        auth_type = scram-sha-256
        auth_file = \(directory.path)/userlist.txt
        pool_mode = transaction
        server_round_robin = \(roundRobin ? 1 : 0)
        max_client_conn = 200
        default_pool_size = 20
        ignore_startup_parameters = extra_float_digits
        logfile = \(directory.path)/pgbouncer.log
        """.write(to: directory.appendingPathComponent("pgbouncer.ini"), atomically: true, encoding: .utf8)
        try "\"\(user)\" \"\(password)\"\n".write(
            to: directory.appendingPathComponent("userlist.txt"), atomically: true, encoding: .utf8)
        if getuid() == 0 {
            // PgBouncer refuses to run as root; it runs as the postgres user, which must read its files.
            for path in [directory.path, directory.path + "/pgbouncer.ini", directory.path + "/userlist.txt"] {
                try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: path)
            }
            process = try Spawned(
                "/usr/bin/setpriv",
                ["--reuid=postgres", "--regid=postgres", "--init-groups", binary, directory.path + "/pgbouncer.ini"],
                environment: [:])
        } else {
            process = try Spawned(binary, [directory.path + "/pgbouncer.ini"], environment: [:])
        }
        let (process, directory) = (self.process!, self.directory)
        try MigratorProcess.waitUntil(timeout: .seconds(15)) {
            guard !process.hasExited else {
                let log =
                    (try? String(contentsOf: directory.appendingPathComponent("pgbouncer.log"), encoding: .utf8)) ?? ""
                throw TestSetupError("pgbouncer exited: \(log.replacingOccurrences(of: password, with: "***"))")
            }
            return isListening(port)
        }
    }

    private let url: URLComponents

    /// The URL of `database` through the pooler.
    func url(for database: TestDatabase) -> String {
        var components = url
        components.path = "/" + database.name
        return components.string!
    }

    /// SIGTERM is PgBouncer's immediate shutdown; `wait` kills it if that does not work.
    func stop() {
        if let process {
            process.signal(SIGTERM)
            _ = try? process.wait(timeout: .seconds(10))
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Behind a transaction-mode pooler a client's consecutive transactions may run on different server
/// connections, so only transaction-scoped state is safe: `SET LOCAL`, `pg_advisory_xact_lock`.
@Suite(
    "faults: through PgBouncer in transaction pooling mode", .serialized, .tags(.faults),
    .enabled(if: TestEnvironment.postgresTestsEnabled))
struct PgBouncerTests {
    static let base: Int64 = 1_764_000_000_000

    @Test("4 concurrent migrator runs through PgBouncer apply every file exactly once")
    func concurrentRunsThroughThePooler() throws {
        let bouncer = try PgBouncer(adminURL: try #require(TestEnvironment.adminURL))
        defer { bouncer.stop() }
        try withFaultDatabase { database in
            let count = 40
            let folder = try DrizzleFolder(
                (0..<count).map { index in
                    DrizzleFolder.File(
                        tag: String(format: "%04d_pooled", index),
                        sql: "CREATE TABLE p\(index) (id int PRIMARY KEY);--> statement-breakpoint\n"
                            + "INSERT INTO p\(index) VALUES (\(index));",
                        when: Self.base + Int64(index))
                })
            defer { folder.remove() }
            let environment = ["DATABASE_URL": bouncer.url(for: database), "MIGRATIONS_DIR": folder.path]
            let runs = try (0..<4).map { _ in
                try Spawned.migrator(["up", "--lock-timeout", "2s"], environment: environment)
            }
            let results = try runs.map { try $0.wait(timeout: .seconds(120)) }

            for result in results {
                #expect(result.exitCode == 0, "\(result.output)")
                expectNoPassword(result, database.password)
            }
            let applied = results.map { $0.count("migration.applied") }
            #expect(applied.reduce(0, +) == count, "applied per run: \(applied)")
            let rows = try database.query(
                "SELECT count(*), count(DISTINCT created_at), count(DISTINCT hash) FROM drizzle.__drizzle_migrations")
            #expect(rows == [["\(count)", "\(count)", "\(count)"]])
            let sum = try database.query(
                (0..<count).map { "SELECT count(*) FROM p\($0)" }.joined(separator: " UNION ALL "))
            #expect(sum.count == count && sum.allSatisfy { $0 == ["1"] }, "\(sum)")
            #expect(try advisoryLocks(in: database) == 0)
        }
    }

    @Test("a self-managed file through a transaction pooler: refused before any of it runs, with the reason")
    func selfManagedFileThroughThePooler() throws {
        let bouncer = try PgBouncer(adminURL: try #require(TestEnvironment.adminURL), roundRobin: true)
        defer { bouncer.stop() }
        try withFaultDatabase { database in
            let url = bouncer.url(for: database)
            // Two server connections in the pool, so round robin moves consecutive transactions between them.
            let first = try Connection.connect(to: url, applicationName: "warm-1", deadline: .now + .seconds(10))
            let second = try Connection.connect(to: url, applicationName: "warm-2", deadline: .now + .seconds(10))
            try first.simpleQuery("BEGIN; SELECT 1")
            try second.simpleQuery("BEGIN; SELECT 1")
            try first.simpleQuery("COMMIT")
            try second.simpleQuery("COMMIT")
            first.close()
            second.close()

            let folder = try DrizzleFolder([
                .init(tag: "0000_t", sql: "CREATE TABLE t (id int, v int);", when: Self.base),
                .init(
                    tag: "0001_concurrently",
                    sql: "COMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY t_v ON t (v);",
                    when: Self.base + 1),
            ])
            defer { folder.remove() }
            let result = try Spawned.runMigrator(
                ["up", "--lock-wait", "3s"], environment: ["DATABASE_URL": url, "MIGRATIONS_DIR": folder.path])
            expectNoPassword(result, database.password)
            #expect(result.exitCode == 1, "\(result.output)")
            #expect(result.finalError.contains("transaction-mode pooler"), "\(result.finalError)")
            #expect(result.finalError.contains("0001_concurrently"), "\(result.finalError)")
            #expect(try database.query("SELECT to_regclass('t_v') IS NULL") == [["t"]])
            #expect(try database.trackingRows().count == 1)
        }
    }
}
