import Foundation
import TestSupport
import Testing

/// Each transactional file starts from the connection's own session state, and a failure names the
/// phase it happened in (issue 14, findings 3 and 4).
@Suite("session reset and failure phases", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct SessionAndPhaseTests {
    @Test("a file's SET search_path does not move the next file's tables, in one run or two")
    func searchPathDoesNotLeak() throws {
        try withDatabase { database in
            try database.query("CREATE SCHEMA other")
            let folder = try DrizzleFolder([
                .init(tag: "0000_path", sql: "SET search_path TO other;\nCREATE TABLE a (id int);", when: 1_000),
                .init(tag: "0001_next", sql: "CREATE TABLE b (id int);", when: 2_000),
            ])
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 0, "\(result.output)")
            let placed = try database.query(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                    + "WHERE table_name IN ('a', 'b') ORDER BY table_name")
            #expect(placed == [["other.a"], ["public.b"]])
        }
    }

    @Test("SET ROLE in a file does not make its own tracking insert fail, nor leak into the next file")
    func roleIsReset() throws {
        try withDatabase { database in
            let role = "mig_reader_\(database.name)"
            try database.query("CREATE ROLE \(role) NOLOGIN; GRANT \(role) TO CURRENT_USER")
            defer { _ = try? database.query("DROP OWNED BY \(role); DROP ROLE IF EXISTS \(role)") }
            let folder = try DrizzleFolder([
                .init(tag: "0000_role", sql: "CREATE TABLE owned (id int);\nSET ROLE \(role);\nSELECT 1;", when: 1_000),
                .init(tag: "0001_next", sql: "CREATE TABLE who AS SELECT current_user::text AS name;", when: 2_000),
            ])
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try database.trackingRows().count == 2)
            #expect(try database.query("SELECT name FROM who") != [[role]])
        }
    }

    @Test("a deferred foreign key failing at COMMIT is reported as the COMMIT, and nothing stays")
    func deferredConstraintAtCommit() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([
                .init(
                    tag: "0000_deferred",
                    sql: """
                        CREATE TABLE parent (id int PRIMARY KEY);
                        CREATE TABLE child (parent_id int REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
                        INSERT INTO child VALUES (42);
                        """, when: 1_000)
            ])
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 1)
            let failed = try result.events("migration.failed").first
            #expect(failed?["phase"] as? String == "commit")
            #expect(failed?["sqlstate"] as? String == "23503")
            #expect(result.finalError.contains("at COMMIT"), "\(result.finalError)")
            #expect(!result.finalError.contains("while taking the migration lock"))
            #expect(try database.query("SELECT to_regclass('parent')::text") == [[nil]])
        }
    }

    @Test("a failing tracking insert is reported as the tracking insert, and the file is rolled back")
    func trackingInsertFailure() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([
                .init(tag: "0000_first", sql: "CREATE TABLE first (id int);", when: 1_000),
                .init(
                    tag: "0001_trap",
                    sql: """
                        CREATE TABLE trapped (id int);
                        --> statement-breakpoint
                        CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN RAISE EXCEPTION 'no more rows'; END $$;
                        --> statement-breakpoint
                        CREATE TRIGGER refuse BEFORE INSERT ON drizzle.__drizzle_migrations
                          FOR EACH ROW EXECUTE FUNCTION refuse_row();
                        """, when: 2_000),
            ])
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 1)
            #expect(try result.events("migration.failed").first?["phase"] as? String == "tracking_insert")
            #expect(result.finalError.contains("at the tracking insert"), "\(result.finalError)")
            #expect(try database.trackingRows().count == 1)
            #expect(try database.query("SELECT to_regclass('trapped')::text") == [[nil]])
        }
    }

    @Test("a failing statement still names its statement and phase")
    func statementPhase() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder([
                .init(tag: "0000_bad", sql: "CREATE TABLE ok (id int);\n--> statement-breakpoint\nSELECT 1/0;", when: 1)
            ])
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 1)
            let failed = try result.events("migration.failed").first
            #expect(failed?["phase"] as? String == "statement")
            #expect(failed?["statement"] as? Int == 2)
        }
    }
}
