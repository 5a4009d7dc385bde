import Foundation
import TestSupport
import Testing

/// The moto server scripts/test.sh starts (scripts/lib/moto.sh) with IAM request authentication on, and
/// what scripts/lib/moto_setup.py created in it. AWS-specific, so it lives with these tests rather than
/// in TestSupport.
struct Moto: Decodable {
    struct Keys: Decodable {
        var access_key_id: String
        var secret_access_key: String
        var session_token: String?
    }

    var endpoint: String
    var user: Keys
    var session: Keys

    static let statePath = ProcessInfo.processInfo.environment["MIGRATOR_TEST_MOTO_STATE"].flatMap {
        $0.isEmpty ? nil : $0
    }

    static let state: Moto? = statePath.flatMap { FileManager.default.contents(atPath: $0) }
        .flatMap { try? JSONDecoder().decode(Moto.self, from: $0) }

    /// Runs where moto and PostgreSQL are both there; in CI always, where a missing one is a failure.
    static var testsEnabled: Bool { (state != nil && TestEnvironment.adminURL != nil) || TestEnvironment.isCI }

    static func require() throws -> Moto {
        guard let state else {
            throw TestSetupError("moto is not available (MIGRATOR_TEST_MOTO_STATE): run through scripts/test.sh")
        }
        return state
    }

    /// Stores `value` as secret `name` through boto3, signed with the test user's key.
    func putSecret(name: String, value: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", TestEnvironment.packageRoot.appendingPathComponent("scripts/lib/moto_setup.py").path,
            "put-secret", "--state", Moto.statePath!, "--name", name,
        ]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(value.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestSetupError("moto_setup.py put-secret \(name) failed") }
    }

    /// What `migrator` needs to reach moto with `keys`; nothing that could lead it anywhere else (no IMDS,
    /// no ~/.aws).
    func environment(_ keys: Keys) -> [String: String] {
        var environment = [
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": keys.access_key_id, "AWS_SECRET_ACCESS_KEY": keys.secret_access_key,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials", "AWS_CONFIG_FILE": "/nonexistent/config",
        ]
        if let token = keys.session_token { environment["AWS_SESSION_TOKEN"] = token }
        return environment
    }

    /// Everything that must never show up in migrator's output.
    func secrets(plus extra: [String]) -> [String] {
        [
            user.secret_access_key, session.secret_access_key, session.session_token ?? "", "Signature=",
            "AWS4-HMAC-SHA256",
        ]
            + extra
    }
}

/// `migrator` fetching its database URL from Secrets Manager (moto, with every signature verified) and
/// migrating a real PostgreSQL; and exiting 6, quietly, when the secret cannot be had.
@Suite("Secrets Manager end to end (moto + PostgreSQL)", .tags(.postgres), .enabled(if: Moto.testsEnabled))
struct SecretsManagerEndToEndTests {
    static let base: Int64 = 1_760_000_000_000

    func folder() throws -> DrizzleFolder {
        try DrizzleFolder([
            .init(
                tag: "0000_accounts", sql: "CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL);",
                when: Self.base),
            .init(
                tag: "0001_accounts_email", sql: "CREATE UNIQUE INDEX accounts_email ON accounts (email);",
                when: Self.base + 1),
        ])
    }

    func secretName() -> String { "migrator/e2e/\(UUID().uuidString.prefix(12).lowercased())" }

    /// No stdout or stderr line holds the secret value, the password, a secret key, a token or a signature.
    func expectNoSecrets(
        _ result: MigratorProcess.Result, _ secrets: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for line in result.stdout.split(separator: "\n") + result.stderr.split(separator: "\n") {
            for secret in secrets where !secret.isEmpty {
                #expect(!line.contains(secret), "output line contains secret material", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("up with DATABASE_SECRET_ID: the URL comes from the secret and the database is migrated")
    func upFromSecret() throws {
        let moto = try Moto.require()
        try withDatabase { database in
            let folder = try folder()
            defer { folder.remove() }
            let name = secretName()
            let secretValue = "{\"DATABASE_URL\":\"\(database.url)\",\"OTHER\":\"unused\"}"
            try moto.putSecret(name: name, value: secretValue)

            var environment = moto.environment(moto.user)
            environment["DATABASE_SECRET_ID"] = name
            environment["MIGRATIONS_DIR"] = folder.path
            environment["LOG_LEVEL"] = "trace"  // nothing may leak at any level
            let result = try MigratorProcess.run(["up"], environment: environment)
            #expect(result.exitCode == 0, "\(result.output)")
            try expectWellFormedRun(result, password: database.password)
            #expect(try database.trackingRows().count == 2)
            #expect(try result.events("migration.applied").count == 2)
            let fetched = try #require(try result.events("secret.fetched").first)
            #expect(fetched["secret_id"] as? String == name)
            #expect(fetched["format"] as? String == "json-key")
            #expect(try result.events("credentials.resolved").first?["provider"] as? String == "environment")
            expectNoSecrets(result, moto.secrets(plus: [secretValue, database.url, database.password]))
        }
    }

    @Test("an RDS-style secret and session-token credentials (an assumed role), with --secret-id")
    func rdsSecretWithSessionCredentials() throws {
        let moto = try Moto.require()
        try withDatabase { database in
            let folder = try folder()
            defer { folder.remove() }
            let url = try #require(URLComponents(string: database.url))
            let name = secretName()
            let secretValue = """
                {"engine":"postgres","host":"\(url.host!)","port":\(url.port!),"username":"\(url.user!)",\
                "password":"\(database.password)","dbname":"\(database.name)","dbInstanceIdentifier":"bcos"}
                """
            try moto.putSecret(name: name, value: secretValue)

            var environment = moto.environment(moto.session)
            environment["MIGRATIONS_DIR"] = folder.path
            let result = try MigratorProcess.run(["up", "--secret-id", name], environment: environment)
            #expect(result.exitCode == 0, "\(result.output)")
            try expectWellFormedRun(result, password: database.password)
            #expect(try database.trackingRows().count == 2)
            #expect(try result.events("secret.fetched").first?["format"] as? String == "rds")
            expectNoSecrets(result, moto.secrets(plus: [secretValue, database.password]))
        }
    }

    @Test("a custom DATABASE_SECRET_KEY, read by up --dry-run")
    func customKey() throws {
        let moto = try Moto.require()
        try withDatabase { database in
            let folder = try folder()
            defer { folder.remove() }
            let name = secretName()
            try moto.putSecret(name: name, value: "{\"PRIMARY_URL\":\"\(database.url)\"}")
            var environment = moto.environment(moto.user)
            environment["DATABASE_SECRET_ID"] = name
            environment["DATABASE_SECRET_KEY"] = "PRIMARY_URL"
            environment["MIGRATIONS_DIR"] = folder.path
            let result = try MigratorProcess.run(["up", "--dry-run"], environment: environment)
            #expect(result.exitCode == 0, "\(result.output)")
            try expectWellFormedRun(result, password: database.password)
            #expect(try result.events("secret.fetched").count == 1)
            #expect(try database.query("SELECT to_regclass('accounts') IS NULL") == [["t"]])
            expectNoSecrets(result, moto.secrets(plus: [database.url]))
        }
    }

    @Test("a wrong secret access key: moto's signature error, exit 6, nothing applied")
    func wrongSecretKey() throws {
        let moto = try Moto.require()
        try withDatabase { database in
            let folder = try folder()
            defer { folder.remove() }
            let name = secretName()
            try moto.putSecret(name: name, value: "{\"DATABASE_URL\":\"\(database.url)\"}")
            var keys = moto.user
            keys.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGKEY"
            var environment = moto.environment(keys)
            environment["DATABASE_SECRET_ID"] = name
            environment["MIGRATIONS_DIR"] = folder.path
            let result = try MigratorProcess.run(["up"], environment: environment)
            #expect(result.exitCode == 6, "\(result.output)")
            try expectWellFormedRun(result, password: database.password)
            let error = try #require(result.lastLine?["error"] as? String)
            #expect(error.contains("SignatureDoesNotMatch"), "\(error)")
            #expect(error.contains("HTTP 403"))
            #expect(try result.events("secret.retry").isEmpty)
            #expect(try database.query("SELECT to_regclass('accounts') IS NULL") == [["t"]])
            expectNoSecrets(result, moto.secrets(plus: [database.url, keys.secret_access_key]))
        }
    }

    @Test("an unknown secret id: ResourceNotFoundException, exit 6")
    func unknownSecret() throws {
        let moto = try Moto.require()
        let folder = try folder()
        defer { folder.remove() }
        var environment = moto.environment(moto.user)
        environment["DATABASE_SECRET_ID"] = "migrator/e2e/does-not-exist"
        environment["MIGRATIONS_DIR"] = folder.path
        let result = try MigratorProcess.run(["up"], environment: environment)
        #expect(result.exitCode == 6, "\(result.output)")
        let error = try #require(result.lastLine?["error"] as? String)
        #expect(error.contains("ResourceNotFoundException"), "\(error)")
        #expect(error.contains("request id"))
        expectNoSecrets(result, moto.secrets(plus: []))
    }

    @Test("a secret without a usable URL: exit 6 naming the keys, not the values")
    func unusableSecret() throws {
        let moto = try Moto.require()
        let folder = try folder()
        defer { folder.remove() }
        let name = secretName()
        try moto.putSecret(name: name, value: "{\"user\":\"app\",\"pass\":\"e2e-unusable-pass-EXAMPLE\"}")
        var environment = moto.environment(moto.user)
        environment["DATABASE_SECRET_ID"] = name
        environment["MIGRATIONS_DIR"] = folder.path
        let result = try MigratorProcess.run(["up"], environment: environment)
        #expect(result.exitCode == 6, "\(result.output)")
        let error = try #require(result.lastLine?["error"] as? String)
        #expect(error.contains("keys found: \"pass\", \"user\""), "\(error)")
        expectNoSecrets(result, moto.secrets(plus: ["e2e-unusable-pass-EXAMPLE"]))
    }
}
