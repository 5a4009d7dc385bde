import Foundation
import PostgresClient
import TestSupport
import Testing

/// The task may start before the database accepts connections (a fresh instance, a failover): wait
/// for it. But stop at once on what waiting cannot fix, and give up after --connect-timeout.
@Suite("faults: waiting for the database", .tags(.faults), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct ConnectWaitTests {
    static let base: Int64 = 1_762_000_000_000

    static func smallFolder() throws -> DrizzleFolder {
        try DrizzleFolder([
            .init(tag: "0000_a", sql: "CREATE TABLE a (id int);", when: base),
            .init(
                tag: "0001_b", sql: "CREATE TABLE b (id int);--> statement-breakpoint\nINSERT INTO b VALUES (1);",
                when: base + 1),
        ])
    }

    @Test("the database starts 5 s after migrator: it logs database.waiting, then connects and applies", .tags(.slow))
    func databaseStartsLater() throws {
        let cluster = try ScratchCluster()
        defer { cluster.destroy() }
        try cluster.stop()
        #expect(!isListening(cluster.port))
        let folder = try Self.smallFolder()
        defer { folder.remove() }

        let run = try Spawned.migrator(
            ["up", "--connect-timeout", "40s"],
            environment: ["DATABASE_URL": cluster.url, "MIGRATIONS_DIR": folder.path])
        Thread.sleep(forTimeInterval: 5)
        try cluster.start()
        let result = try run.wait(timeout: .seconds(60))

        #expect(result.exitCode == 0, "\(result.output)")
        expectNoPassword(result, cluster.password)
        let waiting = try result.events("database.waiting")
        #expect(waiting.count >= 3, "\(result.stdout)")
        #expect(waiting.allSatisfy { ($0["database"] as? String)?.hasSuffix(":\(cluster.port)/postgres") == true })
        #expect(result.duration >= .seconds(5))
        let connected = try #require(try result.events("database.connected").first)
        #expect((connected["attempts"] as? Int ?? 0) >= 2)
        #expect(result.count("migration.applied") == 2)
    }

    @Test("wrong password: exit 3 at once, one attempt, says so, and neither password is printed")
    func wrongPassword() throws {
        try withFaultDatabase { database in
            let folder = try Self.smallFolder()
            defer { folder.remove() }
            let wrong = "not-the-password-\(UInt32.random(in: 1000...9999))"
            let result = try Spawned.runMigrator(
                ["up", "--connect-timeout", "30s"],
                environment: ["DATABASE_URL": database.url(withPassword: wrong), "MIGRATIONS_DIR": folder.path])
            #expect(result.exitCode == 3, "\(result.output)")
            #expect(result.duration < .seconds(1), "\(result.duration)")
            #expect(result.count("database.waiting") == 0, "retried a wrong password: \(result.stdout)")
            #expect(result.finalError.contains("wrong password"), "\(result.finalError)")
            #expect(result.finalError.contains("not retrying"), "\(result.finalError)")
            expectNoPassword(result, database.password)
            expectNoPassword(result, wrong)
            #expect(try database.query("SELECT to_regclass('drizzle.__drizzle_migrations') IS NULL") == [["t"]])
        }
    }

    @Test("unknown database: exit 3 at once, says it does not exist")
    func unknownDatabase() throws {
        let adminURL = try #require(TestEnvironment.adminURL)
        var components = try #require(URLComponents(string: adminURL))
        components.path = "/no_such_database_\(UInt32.random(in: 1000...9999))"
        let folder = try Self.smallFolder()
        defer { folder.remove() }
        let result = try Spawned.runMigrator(
            ["up", "--connect-timeout", "30s"],
            environment: ["DATABASE_URL": components.string!, "MIGRATIONS_DIR": folder.path])
        #expect(result.exitCode == 3, "\(result.output)")
        #expect(result.duration < .seconds(1), "\(result.duration)")
        #expect(result.count("database.waiting") == 0)
        #expect(result.finalError.contains("does not exist"), "\(result.finalError)")
        expectNoPassword(result, components.password ?? "")
    }

    @Test("nothing listens: retries with backoff, exit 3 after about --connect-timeout")
    func connectTimeout() throws {
        let port = try freePort()
        let folder = try Self.smallFolder()
        defer { folder.remove() }
        let password = "pw-\(UInt32.random(in: 100_000...999_999))"
        let result = try Spawned.runMigrator(
            ["up", "--connect-timeout", "2s"],
            environment: [
                "DATABASE_URL": "postgres://app:\(password)@127.0.0.1:\(port)/app", "MIGRATIONS_DIR": folder.path,
            ])
        #expect(result.exitCode == 3, "\(result.output)")
        #expect(result.duration >= .milliseconds(1900) && result.duration < .seconds(5), "\(result.duration)")
        #expect(result.count("database.waiting") >= 3, "\(result.stdout)")
        #expect(result.finalError.contains("connect timeout of 2000 ms"), "\(result.finalError)")
        #expect(result.finalError.contains("app@127.0.0.1:\(port)/app"), "\(result.finalError)")
        #expect(result.finalError.contains("Connection refused"), "the cause is named: \(result.finalError)")
        expectNoPassword(result, password)
    }

    @Test("SIGTERM while waiting for the database: exit 143 at once")
    func sigtermWhileWaiting() throws {
        let port = try freePort()
        let folder = try Self.smallFolder()
        defer { folder.remove() }
        let run = try Spawned.migrator(
            ["up", "--connect-timeout", "60s"],
            environment: [
                "DATABASE_URL": "postgres://app:secret-pw@127.0.0.1:\(port)/app", "MIGRATIONS_DIR": folder.path,
            ])
        Thread.sleep(forTimeInterval: 0.8)
        let sent = ContinuousClock.now
        run.signal(SIGTERM)
        let result = try run.wait(timeout: .seconds(10))
        #expect(result.exitCode == 143, "\(result.output)")
        #expect(ContinuousClock.now - sent < .seconds(1))
        #expect(result.count("run.interrupted") == 1)
        #expect(result.finalError.contains("while connecting"), "\(result.finalError)")
    }
}
