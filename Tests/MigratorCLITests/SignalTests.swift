import Foundation
import PostgresClient
import SystemSupport
import TestSupport
import Testing

/// ECS stops a task with SIGTERM, then SIGKILL after the stop timeout. The running statement must be
/// cancelled and rolled back, and the process gone within 2 s, leaving no row and no lock behind.
@Suite(
    "faults: SIGTERM and SIGINT", .serialized, .tags(.faults), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct SignalTests {
    static let base: Int64 = 1_761_000_000_000
    /// Generous for a loaded CI machine, yet well under the contract's 2 s.
    static let budget = Duration.seconds(2)

    static func folder(secondFile sql: String) throws -> DrizzleFolder {
        try DrizzleFolder([
            .init(tag: "0000_first", sql: "CREATE TABLE first (id int);", when: base),
            .init(tag: "0001_slow", sql: sql, when: base + 1),
        ])
    }

    /// Starts `up`, waits until its session runs the sleep, signals it, and times signal-to-exit.
    static func interrupt(
        _ database: TestDatabase, _ folder: DrizzleFolder, signal: Int32, arguments: [String] = []
    ) throws -> (Spawned.Result, Duration) {
        let run = try Spawned.migrator(
            ["up"] + arguments, environment: migratorEnvironment(database: database, folder: folder))
        try waitForMigratorSession(in: database, where: "state = 'active' AND query LIKE '%pg_sleep(30)%'")
        let sent = ContinuousClock.now
        run.signal(signal)
        let result = try run.wait(timeout: .seconds(30))
        let elapsed = ContinuousClock.now - sent
        FileHandle.standardError.write(Data("signal \(signal) to exit: \(elapsed)\n".utf8))
        return (result, elapsed)
    }

    static func expectCleanStop(
        _ result: Spawned.Result, _ elapsed: Duration, code: Int32, database: TestDatabase,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(result.exitCode == code, "\(result.output)", sourceLocation: sourceLocation)
        #expect(elapsed < budget, "took \(elapsed) from the signal to the exit", sourceLocation: sourceLocation)
        expectNoPassword(result, database.password, sourceLocation: sourceLocation)
        #expect(result.count("run.interrupted") == 1, "\(result.stdout)", sourceLocation: sourceLocation)
        let finished = try #require(result.lastLine, sourceLocation: sourceLocation)
        #expect(finished["event"] as? String == "run.finished", sourceLocation: sourceLocation)
        #expect((finished["exit_code"] as? Int).map(Int32.init) == code, sourceLocation: sourceLocation)
        // The normal path (cancel, rollback, exit), not the watchdog's forced exit.
        #expect(finished["forced"] == nil, "\(finished)", sourceLocation: sourceLocation)
        #expect(
            try result.events("migration.applied").map { $0["migration"] as? String } == ["0000_first"],
            sourceLocation: sourceLocation)
        #expect(try database.trackingRows().count == 1, sourceLocation: sourceLocation)
        #expect(try advisoryLocks(in: database) == 0, sourceLocation: sourceLocation)
        let sleeping = try database.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(30)%' "
                + "AND state = 'active' AND pid <> pg_backend_pid()")
        #expect(sleeping == [["0"]], "the cancelled statement is still running", sourceLocation: sourceLocation)
    }

    @Test("SIGTERM during a long statement: exit 143 within 2 s, file rolled back, no lock left; a later up completes")
    func sigtermDuringStatement() throws {
        try withFaultDatabase { database in
            let folder = try Self.folder(
                secondFile: "CREATE TABLE slow_side (id int);--> statement-breakpoint\nSELECT pg_sleep(30);")
            defer { folder.remove() }
            let (result, elapsed) = try Self.interrupt(database, folder, signal: SIGTERM)
            try Self.expectCleanStop(result, elapsed, code: 143, database: database)
            let cancelled = try #require(try result.events("migration.cancelled").first, "\(result.stdout)")
            #expect(cancelled["migration"] as? String == "0001_slow")
            #expect(cancelled["statement"] as? Int == 2)
            #expect(try database.query("SELECT to_regclass('slow_side') IS NULL") == [["t"]])

            try folder.write("0001_slow", "CREATE TABLE slow_side (id int);--> statement-breakpoint\nSELECT 1;")
            let again = try Spawned.runMigrator(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(again.exitCode == 0, "\(again.output)")
            #expect(try again.events("migration.applied").map { $0["migration"] as? String } == ["0001_slow"])
            #expect(try database.trackingRows().count == 2)
        }
    }

    @Test("SIGINT during a long statement: exit 130, same clean stop")
    func sigintDuringStatement() throws {
        try withFaultDatabase { database in
            let folder = try Self.folder(
                secondFile: "CREATE TABLE slow_side (id int);--> statement-breakpoint\nSELECT pg_sleep(30);")
            defer { folder.remove() }
            let (result, elapsed) = try Self.interrupt(database, folder, signal: SIGINT)
            try Self.expectCleanStop(result, elapsed, code: 130, database: database)
            #expect(try database.query("SELECT to_regclass('slow_side') IS NULL") == [["t"]])
            #expect(result.finalError.contains("SIGINT"), "\(result.finalError)")
        }
    }

    @Test("SIGTERM in a self-managed file after its own COMMIT: 143, no row, session lock released, says what stays")
    func sigtermDuringSelfManagedFile() throws {
        try withFaultDatabase { database in
            let folder = try Self.folder(
                secondFile: "CREATE TABLE IF NOT EXISTS sm_side (id int);\n--> statement-breakpoint\nCOMMIT;\n"
                    + "--> statement-breakpoint\nSELECT pg_sleep(30);")
            defer { folder.remove() }
            let (result, elapsed) = try Self.interrupt(database, folder, signal: SIGTERM)
            try Self.expectCleanStop(result, elapsed, code: 143, database: database)
            let cancelled = try #require(try result.events("migration.cancelled").first, "\(result.stdout)")
            let message = cancelled["message"] as? String ?? ""
            #expect(message.contains("statements 1-2 had already taken effect"), "\(message)")
            #expect(message.contains("no tracking row was written"), "\(message)")
            // What ran before the file's own COMMIT stays, as the message says.
            #expect(try database.query("SELECT to_regclass('sm_side') IS NOT NULL") == [["t"]])

            try folder.write(
                "0001_slow", "CREATE TABLE IF NOT EXISTS sm_side (id int);\n--> statement-breakpoint\nCOMMIT;\n")
            let again = try Spawned.runMigrator(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(again.exitCode == 0, "\(again.output)")
            #expect(try database.trackingRows().count == 2)
            #expect(try advisoryLocks(in: database) == 0)
        }
    }

    @Test("SIGTERM during the lock-retry backoff: 143 within 2 s, nothing applied, no lock left")
    func sigtermDuringBackoff() throws {
        try withFaultDatabase { database in
            let folder = try Self.folder(secondFile: "ALTER TABLE first ADD COLUMN note text;")
            defer { folder.remove() }
            let setup = try Spawned.runMigrator(
                ["up"],
                environment: migratorEnvironment(
                    database: database,
                    folder: try DrizzleFolder(
                        [.init(tag: "0000_first", sql: "CREATE TABLE first (id int);", when: Self.base)])))
            try #require(setup.exitCode == 0, "\(setup.output)")
            let app = try appSession(database, name: "bcos-app")
            defer { app.close() }
            try app.simpleQuery("BEGIN; LOCK TABLE first IN ACCESS EXCLUSIVE MODE")

            let run = try Spawned.migrator(
                ["up", "--lock-timeout", "100ms", "--lock-wait", "60s"],
                environment: migratorEnvironment(database: database, folder: folder))
            try waitForMigratorSession(in: database, where: "wait_event_type = 'Lock'")
            // After a few attempts the backoff (hundreds of ms) dwarfs an attempt (100 ms); an idle
            // session (not even in a transaction) is one that sleeps between attempts.
            Thread.sleep(forTimeInterval: 2.0)
            try waitForMigratorSession(in: database, where: "state = 'idle'")
            let sent = ContinuousClock.now
            run.signal(SIGTERM)
            let result = try run.wait(timeout: .seconds(30))
            let elapsed = ContinuousClock.now - sent
            FileHandle.standardError.write(Data("SIGTERM in backoff to exit: \(elapsed)\n".utf8))
            try app.simpleQuery("ROLLBACK")

            #expect(result.exitCode == 143, "\(result.output)")
            #expect(elapsed < Self.budget, "\(elapsed)")
            #expect(result.count("lock.timeout") >= 3, "\(result.stdout)")
            #expect(result.count("run.interrupted") == 1)
            // Stopped while sleeping: no statement was running to cancel.
            #expect(result.count("migration.cancelled") == 0, "\(result.stdout)")
            #expect(try database.trackingRows().count == 1)
            #expect(
                try database.query(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'first' AND column_name = 'note'"
                )
                    == [["0"]])
            #expect(try advisoryLocks(in: database) == 0)
        }
    }
}

/// The library side of a stop request, on a real connection.
@Suite("faults: a stop request and the connection", .tags(.faults), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct InterruptionTests {
    @Test("after a stop request a statement is not sent at all; cleanup still goes through")
    func noStatementAfterTheStopRequest() throws {
        try withFaultDatabase { database in
            let interruption = Interruption()
            let connection = try Connection.connect(
                to: database.url, applicationName: "stop-probe", deadline: .now + .seconds(10),
                interruption: interruption)
            defer { connection.close() }
            try connection.simpleQuery("BEGIN; CREATE TABLE before_stop (id int)")
            interruption.trigger(.terminate)
            let started = ContinuousClock.now
            var refused: PostgresError?
            do {
                try connection.simpleQuery("SELECT pg_sleep(30)")
            } catch {
                refused = error as? PostgresError
            }
            #expect(refused?.code == .cancelled, "\(String(describing: refused))")
            #expect(ContinuousClock.now - started < .seconds(1))
            var refusedParameterised = false
            do { _ = try connection.query("SELECT $1::int", ["1"]) } catch {
                refusedParameterised = (error as? PostgresError)?.code == .cancelled
            }
            #expect(refusedParameterised)
            // Cleanup is still sent: the transaction is rolled back on this very connection.
            #expect(connection.transactionStatus == .inTransaction)
            try connection.simpleQuery("ROLLBACK", evenIfInterrupted: true)
            #expect(connection.transactionStatus == .idle)
            #expect(try database.query("SELECT to_regclass('before_stop') IS NULL") == [["t"]])
        }
    }
}
