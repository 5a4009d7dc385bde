import MigrationEngine
import Testing

@Suite("SQL lexer")
struct SQLLexerTests {
    @Test(
        "finds statement boundaries outside quotes, comments and dollar bodies",
        arguments: [
            ("SELECT 1; SELECT 2;", 2),
            ("SELECT ';'; SELECT \"a;b\" FROM t;", 2),
            ("-- a comment; with a semicolon\nSELECT 1;", 1),
            ("/* outer /* nested; */ still comment; */ SELECT 1", 1),
            ("DO $$ BEGIN PERFORM 1; PERFORM 2; END $$;", 1),
            ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $fn$ SELECT 1; $fn$; SELECT 2;", 2),
            ("SELECT E'it\\'s; fine'; SELECT 2", 2),
            ("SELECT $1::int; SELECT 2", 2),
            (
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END; SELECT 3;",
                2
            ),
            ("   \n-- only a comment\n", 0),
            ("", 0),
        ])
    func statementCount(sql: String, expected: Int) {
        #expect(SQLLexer.statements(in: sql).count == expected)
    }

    @Test(
        "recognises top-level transaction control",
        arguments: [
            ("COMMIT;", true), ("commit;", true), ("END;", true), ("ROLLBACK;", true), ("ABORT;", true),
            ("BEGIN;", true), ("START TRANSACTION;", true), ("ROLLBACK TO SAVEPOINT a;", false),
            ("SAVEPOINT a;", false), ("DO $$ BEGIN COMMIT; END $$;", false), ("SELECT 'COMMIT';", false),
            ("-- COMMIT;\nSELECT 1;", false), ("/* COMMIT; */ SELECT 1;", false), ("START something;", false),
            ("ALTER TABLE t ADD c int;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (c);", true),
        ])
    func transactionControl(sql: String, expected: Bool) {
        #expect(SQLLexer.statements(in: sql).contains(where: \.isTransactionControl) == expected)
    }

    @Test("statement ranges exclude surrounding whitespace and comments")
    func ranges() {
        let sql = "\n  -- lead\n  SELECT 1 ;\n  UPDATE t SET a = 'x;y'\n"
        let statements = SQLLexer.statements(in: sql)
        let bytes = Array(sql.utf8)
        #expect(
            statements.map { String(decoding: bytes[$0.range], as: UTF8.self) } == [
                "SELECT 1", "UPDATE t SET a = 'x;y'",
            ])
        #expect(statements.map(\.firstWord) == ["SELECT", "UPDATE"])
    }
}
