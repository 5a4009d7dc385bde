import Testing

@testable import MigrationEngine

/// When a file's pieces may go to the server as one query, and how a server position or a count of
/// finished statements leads back to the piece that one query per piece would have named.
@Suite("pieces sent as one query")
struct OneQueryTests {
    static func migration(_ sql: String) -> Migration { Migration(index: 0, tag: "a", when: 1, sql: sql) }

    @Test(
        "drizzle-kit files qualify; anything the server could split differently does not",
        arguments: [
            ("CREATE TABLE a (id int);\n--> statement-breakpoint\nCREATE INDEX i ON a (id);", true),
            (
                "CREATE TABLE a (id int);--> statement-breakpoint\r\nINSERT INTO a VALUES (1); INSERT INTO a VALUES (2);",
                true
            ),
            ("SELECT 1; -- note\n--> statement-breakpoint\n-- only a comment\n--> statement-breakpoint\n", true),
            (
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n--> statement-breakpoint\nSELECT f();",
                true
            ),
            ("SELECT 1;", false),  // one piece: one round trip already
            ("SELECT 1\n--> statement-breakpoint\nSELECT 2;", false),  // a statement without its `;`
            ("SELECT 1;--> statement-breakpoint SELECT 2;", false),  // text after the marker on its line
            ("SELECT 1; /* open\n--> statement-breakpoint\nSELECT 2;", false),
            ("SELECT 'open\n--> statement-breakpoint\nSELECT 2;", false),
            ("SELECT $x$ open\n--> statement-breakpoint\nSELECT 2;", false),
            (
                "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);\n--> statement-breakpoint\nSELECT 2;",
                false
            ),
            (
                "SELECT begin atomic FROM (SELECT 1 AS begin) s; COMMIT; SELECT 1 AS end;\n--> statement-breakpoint\nSELECT 2;",
                false
            ),
            ("SELECT 'C:\\temp';\n--> statement-breakpoint\nSELECT 2;", false),
            ("SELECT 1; -- a\rCOMMIT;\n--> statement-breakpoint\nSELECT 2;", false),
            ("SELECT 1;\u{0B};\n--> statement-breakpoint\nSELECT 2;", false),
            ("PREPARE TRANSACTION 'x';\n--> statement-breakpoint\nSELECT 2;", false),
            // self-managed
            ("SELECT 1;\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nSELECT 2;", false),
        ])
    func qualifies(sql: String, expected: Bool) {
        #expect(Self.migration(sql).runsAsOneQuery == expected)
    }

    @Test("splitting is unchanged: the new checks only decide whether pieces travel together")
    func statementsUnchanged() {
        #expect(SQLLexer.statements(in: "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);").count == 2)
        #expect(SQLLexer.statements(in: "SELECT 'a\\'; SELECT 2;").count == 2)
    }

    @Test("a server position in the file maps to the piece and the position within it")
    func positions() throws {
        let sql =
            "-- Zoë\nCREATE TABLE a (id int);\n--> statement-breakpoint\nSELECT 'ü', nope FROM a;\n--> statement-breakpoint\nSELECT 1;"
        let migration = Self.migration(sql)
        let nope = Self.position(of: "nope", in: sql)  // 1-based, in characters, as the server counts
        let (piece, position) = try #require(migration.piece(atCharacter: nope))
        #expect(piece.number == 2)
        #expect(position == Self.position(of: "nope", in: piece.text))  // what the server says of the piece alone
        #expect(migration.piece(atCharacter: 1)?.piece.number == 1)
        #expect(migration.piece(atCharacter: sql.unicodeScalars.count + 1)?.piece.number == 3)  // "at end of input"
    }

    static func position(of needle: String, in text: String) -> Int {
        let scalars = Array(text.unicodeScalars)
        let wanted = Array(needle.unicodeScalars)
        for start in 0...(scalars.count - wanted.count) where Array(scalars[start..<start + wanted.count]) == wanted {
            return start + 1
        }
        return 0
    }

    @Test("finished statements map to the piece running next; blank pieces hold none")
    func counts() {
        let migration = Self.migration(
            "SELECT 1;\n--> statement-breakpoint\n-- blank\n--> statement-breakpoint\nSELECT 2; SELECT 3;\n--> statement-breakpoint\nSELECT 4;"
        )
        #expect([0, 1, 2, 3, 4].map { migration.piece(runningAfter: $0).number } == [1, 3, 3, 4, 4])
    }
}
