import Foundation
import PostgresClient
import TestSupport
import Testing

/// An application holds locks on a table that the next migration alters. The migrator must never
/// make the application wait longer than one lock timeout, must say who blocks it, must retry, and
/// must give up with exit 4 (and nothing of the file applied) when the lock wait is spent.
@Suite(
    "faults: lock contention with a live application", .serialized, .tags(.faults),
    .enabled(if: TestEnvironment.postgresTestsEnabled))
struct LockContentionTests {
    static let base: Int64 = 1_760_000_000_000

    /// `accounts` exists and is recorded; the returned folder gets the ALTER as its second file.
    static func accountsApplied(_ database: TestDatabase) throws -> DrizzleFolder {
        let folder = try DrizzleFolder([
            .init(
                tag: "0000_accounts",
                sql: "CREATE TABLE accounts (id serial PRIMARY KEY, name text);--> statement-breakpoint\n"
                    + "INSERT INTO accounts (name) VALUES ('alice'), ('bob');",
                when: base)
        ])
        let first = try Spawned.runMigrator(
            ["up"], environment: migratorEnvironment(database: database, folder: folder))
        guard first.exitCode == 0 else { throw TestSetupError("setup run failed: \(first.output)") }
        try folder.append(
            .init(
                tag: "0001_accounts_note",
                sql: "ALTER TABLE accounts ADD COLUMN note text;--> statement-breakpoint\n"
                    + "UPDATE accounts SET note = 'migrated';",
                when: base + 1))
        return folder
    }

    /// `up` with `arguments` on the accounts folder while the application ("bcos-app") holds ACCESS
    /// EXCLUSIVE on accounts for the whole run.
    static func upBehindHeldLock(
        _ database: TestDatabase, _ arguments: [String], timeout: Duration
    ) throws -> Spawned.Result {
        let folder = try accountsApplied(database)
        defer { folder.remove() }
        let app = try appSession(database, name: "bcos-app")
        defer { app.close() }
        try app.simpleQuery("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        let result = try Spawned.runMigrator(
            ["up"] + arguments, environment: migratorEnvironment(database: database, folder: folder), timeout: timeout)
        try app.simpleQuery("ROLLBACK")
        return result
    }

    static func noteColumnExists(_ database: TestDatabase) throws -> Bool {
        try database.query(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'note'"
        ) == [["1"]]
    }

    @Test(
        "ACCESS EXCLUSIVE held by the app: lock.timeout names the app's pid and application_name; success once it commits"
    )
    func retriesUntilTheAppCommits() throws {
        try withFaultDatabase { database in
            let folder = try Self.accountsApplied(database)
            defer { folder.remove() }
            let app = try appSession(database, name: "bcos-app")
            defer { app.close() }
            try app.simpleQuery("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")

            let run = try Spawned.migrator(
                ["up", "--lock-timeout", "300ms", "--lock-wait", "10s"],
                environment: migratorEnvironment(database: database, folder: folder))
            // Let it hit the lock timeout a few times, then let go as an app would after its work.
            try waitForMigratorSession(in: database, where: "wait_event_type = 'Lock'")
            Thread.sleep(forTimeInterval: 1.5)
            try app.simpleQuery("COMMIT")
            let result = try run.wait(timeout: .seconds(30))

            #expect(result.exitCode == 0, "\(result.output)")
            expectNoPassword(result, database.password)
            let timeouts = try result.events("lock.timeout")
            #expect(timeouts.count >= 2, "expected several retries: \(result.stdout)")
            let blockers = timeouts.compactMap { $0["blockers"] as? [[String: Any]] }.flatMap { $0 }
            #expect(blockers.contains { $0["application_name"] as? String == "bcos-app" }, "\(result.stdout)")
            #expect(blockers.contains { ($0["pid"] as? Int).map(Int32.init) == app.backendPID }, "\(result.stdout)")
            #expect(
                timeouts.allSatisfy {
                    $0["sqlstate"] as? String == "55P03" && $0["migration"] as? String == "0001_accounts_note"
                })
            #expect(timeouts.contains { ($0["message"] as? String)?.contains("bcos-app") == true }, "\(result.stdout)")
            #expect(try result.events("migration.applied").map { $0["migration"] as? String } == ["0001_accounts_note"])
            #expect(try Self.noteColumnExists(database))
            #expect(try database.query("SELECT count(*) FROM accounts WHERE note = 'migrated'") == [["2"]])
            #expect(try database.trackingRows().count == 2)
            #expect(try advisoryLocks(in: database) == 0)
            let finished = try #require(result.lastLine)
            #expect((finished["lock_wait_ms"] as? Int ?? 0) >= 1000, "\(finished)")
        }
    }

    @Test("ACCESS EXCLUSIVE never released: exit 4 after --lock-wait, nothing of the file applied")
    func givesUpAfterTheLockWait() throws {
        try withFaultDatabase { database in
            let result = try Self.upBehindHeldLock(
                database, ["--lock-timeout", "300ms", "--lock-wait", "2s"], timeout: .seconds(30))

            #expect(result.exitCode == 4, "\(result.output)")
            expectNoPassword(result, database.password)
            #expect(result.duration >= .seconds(2) && result.duration < .seconds(8), "\(result.duration)")
            #expect(result.count("lock.timeout") >= 2)
            let error = result.finalError
            #expect(error.contains("0001_accounts_note"), "\(error)")
            #expect(error.contains("lock wait of 2000 ms"), "\(error)")
            #expect(error.contains("bcos-app"), "\(error)")
            #expect(error.contains("nothing of it was applied"), "\(error)")
            #expect(result.count("migration.applied") == 0)
            #expect(try database.trackingRows().count == 1)
            #expect(try !Self.noteColumnExists(database))
            #expect(try advisoryLocks(in: database) == 0)
        }
    }

    @Test("while the migrator waits behind an app's transaction, the app's other queries wait at most one lock timeout")
    func appQueriesAreNotQueuedBehindTheMigrator() throws {
        try withFaultDatabase { database in
            let folder = try Self.accountsApplied(database)
            defer { folder.remove() }
            // A reader that keeps its transaction open holds ACCESS SHARE: the ALTER must queue for
            // ACCESS EXCLUSIVE, and every later reader queues behind the ALTER (PostgreSQL's fair lock
            // queue). Only the migrator's lock timeout bounds how long those readers wait.
            let longReader = try appSession(database, name: "bcos-report")
            defer { longReader.close() }
            try longReader.simpleQuery("BEGIN; SELECT count(*) FROM accounts")
            let web = try appSession(database, name: "bcos-web")
            defer { web.close() }

            let lockTimeout = Duration.milliseconds(300)
            let run = try Spawned.migrator(
                ["up", "--lock-timeout", "300ms", "--lock-wait", "4s"],
                environment: migratorEnvironment(database: database, folder: folder))
            try waitForMigratorSession(in: database, where: "wait_event_type = 'Lock'")
            let probe = LatencyProbe(connection: web, sql: "SELECT count(*) FROM accounts", interval: .milliseconds(30))
            let result = try run.wait(timeout: .seconds(30))
            let (samples, errors) = probe.stop()
            try longReader.simpleQuery("COMMIT")

            #expect(result.exitCode == 4, "\(result.output)")
            #expect(errors.isEmpty, "\(errors)")
            #expect(samples.count >= 20, "too few samples: \(samples.count)")
            let worst = samples.max() ?? .zero
            FileHandle.standardError.write(
                Data("app query latency while migrator waits: worst \(worst) over \(samples.count) queries\n".utf8))
            // Some queries did queue behind the waiting ALTER (so this measured something) ...
            #expect(worst >= .milliseconds(60), "no query ever waited: \(samples)")
            // ... and none waited longer than one lock timeout, plus scheduling slack on a busy CI machine.
            #expect(worst < lockTimeout + .milliseconds(700), "an app query waited \(worst)")
            #expect(try !Self.noteColumnExists(database))
            #expect(try database.trackingRows().count == 1)
        }
    }

    @Test(
        "one long lock wait: the heartbeat names the blocker at least every 10 s",
        .tags(.slow))
    func heartbeatWhileWaiting() throws {
        try withFaultDatabase { database in
            let result = try Self.upBehindHeldLock(
                database, ["--lock-timeout", "12s", "--lock-wait", "12s"], timeout: .seconds(40))

            #expect(result.exitCode == 4, "\(result.output)")
            let waiting = try #require(try result.events("lock.waiting").first, "\(result.stdout)")
            #expect((waiting["blockers"] as? [[String: Any]])?.first?["application_name"] as? String == "bcos-app")
            let heartbeat = try #require(try result.events("migration.running").first, "\(result.stdout)")
            #expect((heartbeat["blockers"] as? [[String: Any]])?.first?["application_name"] as? String == "bcos-app")
            #expect(heartbeat["migration"] as? String == "0001_accounts_note")
            // No silence longer than the heartbeat interval (plus slack) anywhere in the run.
            let stamps = try result.logLines().compactMap { $0["timestamp"] as? String }.compactMap(Self.parse)
            let gaps = zip(stamps.dropFirst(), stamps).map { $0 - $1 }
            #expect((gaps.max() ?? 0) < 10.8, "gaps: \(gaps)")
            #expect(try !Self.noteColumnExists(database))
        }
    }

    static func parse(_ timestamp: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: timestamp)?.timeIntervalSince1970
    }
}
