import Foundation
import TestSupport
import Testing

/// Generated passwords (`SecretGenerator`) thrown through every database failure path the real
/// binary can reach, each run at one of the six log levels and in one of the two formats: a URL with
/// the password unencoded (refused as a bad URL, or a refused login when it happens to be valid), a
/// wrong password, and a login as a role that has the password followed by migration files that
/// echo it (a NOTICE and an SQL error quoting it). No run may print the password, its encoded form or
/// a 4-character window of it, on stdout or stderr; a password that is a common word must leave the
/// keys and event names alone. The Secrets Manager paths are in AWSTests (`SecretEchoTests`), in-process.
@Suite(
    "secrets: no password or fragment in any output (generated passwords, real binary)", .tags(.faults),
    .enabled(if: TestEnvironment.postgresTestsEnabled))
struct SecretLeakPropertyTests {
    static let levels = ["trace", "debug", "info", "notice", "warning", "error"]
    static let passwords = Array(SecretGenerator(seed: 14).prefix(240))
    /// 12 chunks, so Swift Testing can run them side by side.
    static let chunks = stride(from: 0, to: passwords.count, by: 20).map { Array($0..<min($0 + 20, passwords.count)) }

    /// The level and format of run `index`, whose password is `password` (default: the index's own).
    static func settings(_ index: Int, _ password: String? = nil) -> [String: String] {
        let word = SecretGenerator.words.contains(password ?? passwords[index])
        return [
            "LOG_LEVEL": levels[index % levels.count],
            // A bare word is looked for in JSON values only (it is the user's business if the event
            // names hold it), so those runs are JSON.
            "MIGRATOR_LOG_FORMAT": word || index % 3 != 0 ? "json" : "text",
            "MIGRATOR_CONNECT_TIMEOUT": "5s",
        ]
    }

    @Test("the red team's URL (an unencoded '/' in the password): exit 2 naming the problem, no piece of it")
    func redTeamURL() throws {
        let folder = try DrizzleFolder([.init(tag: "0000_a", sql: "CREATE TABLE a (id int);", when: 1_765_000_000_000)])
        defer { folder.remove() }
        for password in ["k3J9/xQ+abcDEF", "k3J9\"/xQ+abcDEF"] {
            let result = try Spawned.runMigrator(
                ["up"],
                environment: [
                    "DATABASE_URL": "postgres://app:\(password)@127.0.0.1:5432/app", "MIGRATIONS_DIR": folder.path,
                    "LOG_LEVEL": "trace",
                ])
            #expect(result.exitCode == 2, "\(result.output)")
            #expect(
                result.finalError.contains("invalid database URL: an '@' comes after the first '/'"), "\(result.output)"
            )
            #expect(result.finalError.contains("percent-encode '/'"), "\(result.output)")
            for piece in ["k3J9", "xQ+abcDEF", "abcDEF", "app:k3J9"] {
                #expect(!result.output.contains(piece), "\(piece) in \(result.output)")
            }
        }
    }

    @Test("a URL given as a stray argument (the flag forgotten): the usage error does not echo it")
    func strayArgument() throws {
        for (index, password) in Self.passwords.prefix(24).enumerated() {
            let encoded = "postgres://app:\(SecretGenerator.urlEncoded(password))@127.0.0.1:5432/app"
            let raw = "postgres://app:\(password)@127.0.0.1:5432/app"
            for arguments in [["up", encoded], ["status", raw], ["up", "--dry-run", "host=h password=\(encoded)"]] {
                let result = try Spawned.runMigrator(
                    arguments, environment: Self.settings(index).merging(["MIGRATIONS_DIR": "/nonexistent"]) { $1 })
                #expect(result.exitCode == 2, "password #\(index): \(result.output)")
                expectNoLeak(result, password, index: index)
            }
        }
    }

    @Test("a URL with the password unencoded, and a wrong password", arguments: chunks)
    func badURLAndWrongPassword(_ chunk: [Int]) throws {
        let database = try TestDatabase.create(prefix: "leak")
        defer { database.drop() }
        let folder = try DrizzleFolder([.init(tag: "0000_a", sql: "CREATE TABLE a (id int);", when: 1_765_000_000_000)])
        defer { folder.remove() }
        let address = try #require(URLComponents(string: database.url))
        let hostPort = "127.0.0.1:\(address.port ?? 5432)"
        for index in chunk {
            let password = Self.passwords[index]
            let unencoded = "postgres://leak_nobody:\(password)@\(hostPort)/\(database.name)"
            let encoded = "postgres://leak_nobody:\(SecretGenerator.urlEncoded(password))@\(hostPort)/\(database.name)"
            for url in [unencoded, encoded] {
                var environment = migratorEnvironment(database: database, folder: folder, extra: Self.settings(index))
                environment["DATABASE_URL"] = url
                let result = try Spawned.runMigrator(["up"], environment: environment, timeout: .seconds(30))
                #expect([2, 3].contains(result.exitCode), "password #\(index): \(result.output)")
                expectNoLeak(result, password, index: index)
            }
        }
        #expect(try database.query("SELECT to_regclass('public.a') IS NULL") == [["t"]])
    }

    @Test("a role with the password, and files that echo it in a NOTICE and an SQL error", arguments: chunks)
    func echoedBySQL(_ chunk: [Int]) throws {
        let database = try TestDatabase.create(prefix: "leak")
        defer { database.drop() }
        let address = try #require(URLComponents(string: database.url))
        // Every fourth password of the chunk: a role each, since a successful login needs it.
        for index in chunk where index % 4 == 0 {
            let password = Self.passwords[index]
            let role = "leak_\(database.name)_\(index)"
            try database.query(
                "CREATE ROLE \(role) LOGIN PASSWORD \(SecretGenerator.sqlLiteral(password)); "
                    + "GRANT ALL ON DATABASE \(database.name) TO \(role); GRANT ALL ON SCHEMA public TO \(role)")
            defer { _ = try? database.query("DROP OWNED BY \(role); DROP ROLE \(role)") }
            let literal = SecretGenerator.sqlLiteral(password)
            let folder = try DrizzleFolder([
                .init(
                    tag: "0000_notice", sql: "DO $$ BEGIN RAISE NOTICE 'echo %', \(literal); END $$;",
                    when: 1_765_000_000_000),
                .init(tag: "0001_cast", sql: "SELECT \(literal)::int;", when: 1_765_000_000_001),
            ])
            defer { folder.remove() }
            var environment = migratorEnvironment(database: database, folder: folder, extra: Self.settings(index))
            environment["DATABASE_URL"] =
                "postgres://\(role):\(SecretGenerator.urlEncoded(password))@127.0.0.1:\(address.port ?? 5432)/\(database.name)"
            let result = try Spawned.runMigrator(["up"], environment: environment, timeout: .seconds(30))
            #expect(result.exitCode == 1, "password #\(index): \(result.output)")
            expectNoLeak(result, password, index: index)
            let settings = Self.settings(index)
            if settings["MIGRATOR_LOG_FORMAT"] == "json", ["trace", "debug", "info"].contains(settings["LOG_LEVEL"]) {
                // The echo was logged (masked) under its own, untouched event name.
                #expect(result.count("postgres.notice") == 1, "password #\(index): \(result.output)")
            }
        }
    }

    @Test(
        "through Secrets Manager (moto): the password in the secret's URL, and as a wrong secret key",
        .enabled(if: Moto.testsEnabled))
    func throughSecretsManager() throws {
        let moto = try Moto.require()
        let database = try TestDatabase.create(prefix: "leak")
        defer { database.drop() }
        let folder = try DrizzleFolder([.init(tag: "0000_a", sql: "CREATE TABLE a (id int);", when: 1_765_000_000_000)])
        defer { folder.remove() }
        let port = URLComponents(string: database.url)?.port ?? 5432
        // The red team's password first: through a secret, its URL was named by the pieces libpq made.
        let passwords = ["k3J9/xQ+abcDEF"] + SecretGenerator(seed: 1414).prefix(11)
        for (offset, password) in passwords.enumerated() {
            let index = 1000 + offset
            let name = "migrator/leak/\(UUID().uuidString.prefix(12).lowercased())"
            let url = "postgres://leak_nobody:\(password)@127.0.0.1:\(port)/\(database.name)"
            let document = try JSONSerialization.data(withJSONObject: ["DATABASE_URL": url])
            try moto.putSecret(name: name, value: String(decoding: document, as: UTF8.self))
            var environment = moto.environment(moto.user)
            environment["DATABASE_SECRET_ID"] = name
            environment["MIGRATIONS_DIR"] = folder.path
            environment.merge(Self.settings(offset, password)) { _, new in new }
            let fromSecret = try Spawned.runMigrator(["up"], environment: environment, timeout: .seconds(30))
            #expect([2, 3].contains(fromSecret.exitCode), "password #\(index): \(fromSecret.output)")
            expectNoLeak(fromSecret, password, index: index)

            // The password as the secret access key: moto refuses the signature (exit 6).
            environment["AWS_SECRET_ACCESS_KEY"] = password
            let wrongKey = try Spawned.runMigrator(["up"], environment: environment, timeout: .seconds(30))
            #expect(wrongKey.exitCode == 6, "password #\(index): \(wrongKey.output)")
            expectNoLeak(wrongKey, password, index: index)
            for piece in ["k3J9", "xQ+abcDEF"] where password == passwords[0] {
                #expect(!fromSecret.output.contains(piece) && !wrongKey.output.contains(piece), "\(fromSecret.output)")
            }
            for secret in moto.secrets(plus: []) where !secret.isEmpty {
                #expect(!fromSecret.output.contains(secret) && !wrongKey.output.contains(secret), "password #\(index)")
            }
        }
        #expect(try database.query("SELECT to_regclass('public.a') IS NULL") == [["t"]])
    }

    /// None of the password's forbidden fragments in the output. A bare common word is looked for in
    /// the JSON values other than the event name and level, since our own keys, event names and level
    /// names may hold it (`info`).
    func expectNoLeak(_ result: Spawned.Result, _ password: String, index: Int) {
        let isWord = SecretGenerator.words.contains(password)
        let texts: [String]
        if isWord {
            let lines = (try? result.logLines()) ?? []
            #expect(!lines.isEmpty, "password #\(index): stdout is not JSON lines: \(result.stdout)")
            texts =
                [result.stderr]
                + lines.flatMap { line in line.filter { !["event", "level"].contains($0.key) }.map { "\($0.value)" } }
        } else {
            texts = [result.stdout, result.stderr]
        }
        for fragment in SecretGenerator.forbiddenFragments(of: password) {
            for text in texts where text.contains(fragment) {
                Issue.record("password #\(index) \(password.debugDescription): \(fragment.debugDescription) in \(text)")
            }
        }
        if isWord {
            for line in (try? result.logLines()) ?? [] {
                #expect(!((line["event"] as? String) ?? "").contains("***"), "password #\(index): \(line)")
            }
        }
    }
}
