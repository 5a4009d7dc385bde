import Foundation
import TestSupport
import Testing

@Suite(
    "Drizzle compatibility", .tags(.postgres, .drizzleCompatibility), .enabled(if: TestEnvironment.postgresTestsEnabled)
)
struct DrizzleCompatibilityTests {
    static var sharedFolders: [String] {
        let root = TestEnvironment.sharedTestdata.appendingPathComponent("drizzle").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted()
    }

    @Test("tracking rows equal Drizzle's byte for byte, and a second run is a no-op", arguments: sharedFolders)
    func trackingRowsMatch(folderName: String) throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: folderName)
            defer { folder.remove() }
            let environment = migratorEnvironment(database: database, folder: folder)
            let first = try MigratorProcess.run(["up"], environment: environment)
            #expect(first.exitCode == 0, "\(first.output)")
            try expectWellFormedRun(first, password: database.password)
            let expected = try String(contentsOfFile: folder.path + "/expected_tracking.tsv", encoding: .utf8)
                .split(separator: "\n").dropFirst().map(String.init)
            #expect(try database.trackingRows() == expected)

            let second = try MigratorProcess.run(["up"], environment: environment)
            #expect(second.exitCode == 0)
            #expect(try second.events("migration.applied").isEmpty)
            #expect(
                try second.events("plan.ready").first?["message"] as? String
                    == "nothing to apply: the database is up to date")
            #expect(try database.trackingRows() == expected)
        }
    }

    @Test("the basic folder leaves the data its README describes")
    func basicData() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(
                try database.query("SELECT string_agg(display_name, ',' ORDER BY id) FROM customers") == [
                    ["Ana,Zoë,山田"]
                ])
            #expect(
                try database.query(
                    "SELECT count(*) FILTER (WHERE status = 'paid'), count(*) FILTER (WHERE status = 'pending') FROM orders"
                ) == [["1", "2"]])
            #expect(try database.query("SELECT cents_to_text(1250)") == [["12.50 EUR; net"]])
            #expect(
                try database.query("SELECT enum_range(NULL::order_status)::text") == [
                    ["{pending,paid,shipped,cancelled}"]
                ])
        }
    }

    @Test("the tracking table is created exactly as Drizzle creates it")
    func trackingTableShape() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            _ = try MigratorProcess.run(["up"], environment: migratorEnvironment(database: database, folder: folder))
            let columns = try database.query(
                """
                SELECT column_name, data_type, is_nullable, coalesce(column_default, '') FROM information_schema.columns
                WHERE table_schema = 'drizzle' AND table_name = '__drizzle_migrations' ORDER BY ordinal_position
                """)
            #expect(
                columns == [
                    ["id", "integer", "NO", "nextval('drizzle.__drizzle_migrations_id_seq'::regclass)"],
                    ["hash", "text", "NO", ""],
                    ["created_at", "bigint", "YES", ""],
                ])
            #expect(
                try database.query(
                    "SELECT conname, contype FROM pg_constraint WHERE conrelid = 'drizzle.__drizzle_migrations'::regclass"
                        // PostgreSQL 18 records NOT NULL as constraints too; Drizzle's table gets the same ones.
                        + " AND contype <> 'n'") == [["__drizzle_migrations_pkey", "p"]])
            #expect(
                try database.query("SELECT count(*) FROM pg_class WHERE relnamespace = 'drizzle'::regnamespace") == [
                    ["3"]
                ])
        }
    }

    @Test(
        "rows inserted the way Drizzle inserts them for the first k entries: up applies only the rest",
        arguments: [1, 3, 5])
    func interopFromDrizzle(k: Int) throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            let expected = try String(contentsOfFile: folder.path + "/expected_tracking.tsv", encoding: .utf8)
                .split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
            let journal = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.journalURL)) as! [String: Any]
            let tags = (journal["entries"] as! [[String: Any]]).map { $0["tag"] as! String }
            // What drizzle-orm 0.x does: bootstrap outside a transaction, run the files, insert rows.
            var script = """
                CREATE SCHEMA IF NOT EXISTS "drizzle";
                CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint);
                BEGIN;
                """
            for index in 0..<k {
                let sql = try String(contentsOfFile: folder.path + "/\(tags[index]).sql", encoding: .utf8)
                script += sql.replacingOccurrences(of: "--> statement-breakpoint", with: "\n") + ";\n"
                script +=
                    "insert into \"drizzle\".\"__drizzle_migrations\" (\"hash\", \"created_at\") values('\(expected[index][0])', \(expected[index][1]));\n"
            }
            script += "COMMIT;"
            try database.query(script)

            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 0, "\(result.output)")
            let applied = try result.events("migration.applied").map { $0["migration"] as! String }
            #expect(applied == Array(tags[k...]))
            #expect(try database.trackingRows() == expected.map { $0.joined(separator: "\t") })
        }
    }

    @Test("a seventh file using the enum value added by the sixth succeeds (Drizzle's one transaction fails)")
    func enumValueUsedByNextFile() throws {
        try withDatabase { database in
            let folder = try DrizzleFolder.copy(ofShared: "basic")
            defer { folder.remove() }
            try folder.append(
                .init(
                    tag: "0006_ship_first_order",
                    sql:
                        "UPDATE \"orders\" SET \"status\" = 'shipped', \"shipped_at\" = now() WHERE \"status\" = 'paid';",
                    when: 1_736_330_400_444))
            let result = try MigratorProcess.run(
                ["up"], environment: migratorEnvironment(database: database, folder: folder))
            #expect(result.exitCode == 0, "\(result.output)")
            #expect(try database.query("SELECT count(*) FROM orders WHERE status = 'shipped'") == [["1"]])
            #expect(try database.trackingRows().count == 7)
        }
    }
}
