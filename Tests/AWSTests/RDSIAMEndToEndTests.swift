import Foundation
import TestSupport
import Testing

extension RDSIAMTests {
    /// `migrator up --iam-auth` against the token-checking PostgreSQL: credentials from each source
    /// apply a folder; each kind of refused token exits 3 with the hint; nothing secret in any output.
    @Suite("migrator up --iam-auth")
    struct EndToEnd {
        /// AWS settings that can reach nothing but what the test gives (no IMDS, no ~/.aws).
        static let isolated = [
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
            "AWS_CONFIG_FILE": "/nonexistent/config",
        ]

        func url(_ fixture: RDSIAMFixture, database: TestDatabase, user: String? = nil, host: String? = nil) -> String {
            let host = host ?? fixture.host
            let tls = host == "localhost" ? "sslmode=verify-full&sslrootcert=\(fixture.root_cert)" : "sslmode=require"
            return "postgresql://\(user ?? fixture.user)@\(host):\(fixture.port)/\(database.name)?\(tls)"
        }

        func environment(_ fixture: RDSIAMFixture, keys: RDSIAMFixture.Keys) -> [String: String] {
            var environment = Self.isolated
            environment["AWS_REGION"] = fixture.region
            environment["AWS_ACCESS_KEY_ID"] = keys.access_key_id
            environment["AWS_SECRET_ACCESS_KEY"] = keys.secret_access_key
            if let token = keys.session_token { environment["AWS_SESSION_TOKEN"] = token }
            return environment
        }

        /// Runs `migrator up --iam-auth` and checks that no secret and no token reached its output.
        func up(
            _ fixture: RDSIAMFixture, url: String?, folder: DrizzleFolder, environment: [String: String],
            flag: Bool = true
        ) throws -> MigratorProcess.Result {
            var environment = environment
            environment["DATABASE_URL"] = url
            environment["MIGRATIONS_DIR"] = folder.path
            environment["MIGRATOR_CONNECT_TIMEOUT"] = "30s"
            // Every line there is, so that "no token in any output" covers them all.
            environment["LOG_LEVEL"] = "trace"
            if !flag { environment["MIGRATOR_IAM_AUTH"] = "true" }
            let result = try MigratorProcess.run(flag ? ["up", "--iam-auth"] : ["up"], environment: environment)
            for secret in [
                fixture.key.secret_access_key, fixture.session.secret_access_key, fixture.session.session_token ?? "",
                "X-Amz-Signature", "X-Amz-Credential", "Action=connect",
                MotoFixture.shared?.user.secret_access_key ?? "X-Amz-Signature",
            ] {
                #expect(!result.output.contains(secret), "output shows a secret or token part: \(secret.prefix(12))…")
            }
            return result
        }

        enum Source: String, CaseIterable, CustomTestStringConvertible {
            case environment, containerEndpoint, profile
            var testDescription: String { rawValue }
        }

        @Test(
            "credentials from the environment, the ECS container endpoint or a profile: the folder is applied",
            arguments: Source.allCases)
        func applies(_ source: Source) throws {
            let fixture = try RDSIAMFixture.require()
            let database = try fixture.database()
            defer { database.drop() }
            let folder = try DrizzleFolder.generated(count: 3)
            defer { folder.remove() }
            var environment = Self.isolated
            environment["AWS_REGION"] = fixture.region
            var server: LocalHTTPServer?
            defer { server?.stop() }
            var profileDirectory: URL?
            defer { profileDirectory.map { try? FileManager.default.removeItem(at: $0) } }
            switch source {
            case .environment:
                environment = self.environment(fixture, keys: fixture.session)
            case .containerEndpoint:
                let session = fixture.session
                server = try LocalHTTPServer { _ in
                    .respond(
                        status: 200,
                        body: credentialsJSON(
                            key: session.access_key_id, secret: session.secret_access_key,
                            token: session.session_token, expiration: "2099-01-01T00:00:00Z"))
                }
                environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server!.url + "/v2/credentials/iam"
            case .profile:
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "migrator-iam-\(UUID().uuidString.prefix(8))")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                profileDirectory = directory
                let file = directory.appendingPathComponent("credentials")
                try """
                [iam-test]
                aws_access_key_id = \(fixture.key.access_key_id)
                aws_secret_access_key = \(fixture.key.secret_access_key)

                """.write(to: file, atomically: true, encoding: .utf8)
                environment["AWS_SHARED_CREDENTIALS_FILE"] = file.path
                environment["AWS_PROFILE"] = "iam-test"
            }
            let mark = fixture.logMark()
            let result = try up(
                fixture, url: url(fixture, database: database), folder: folder, environment: environment,
                flag: source != .profile)
            #expect(result.exitCode == 0, "\(result.finalError)\n\(result.stderr)")
            #expect(try database.trackingRows().count == 3)
            let verdicts = try fixture.verdicts(since: mark)
            #expect(!verdicts.isEmpty && verdicts.allSatisfy { $0.result == "accepted" }, "\(verdicts)")
            if let server { #expect(server.requests.count == 1) }
        }

        @Test(
            "host, port, user and database from a password-less RDS-style secret (moto), TLS from PGSSLMODE",
            .enabled(if: MotoFixture.shouldRun))
        func fromSecret() throws {
            let fixture = try RDSIAMFixture.require()
            guard let moto = MotoFixture.require() else { return }
            let database = try fixture.database()
            defer { database.drop() }
            let folder = try DrizzleFolder.generated(count: 2)
            defer { folder.remove() }
            let name = "iam-test/\(database.name)"
            try moto.putSecret(
                name: name,
                value:
                    #"{"engine":"postgres","host":"localhost","port":\#(fixture.port),"username":"\#(fixture.user)","#
                    + #""dbname":"\#(database.name)"}"#)
            var environment = Self.isolated.merging(moto.environment(moto.user, region: fixture.region)) { $1 }
            environment["DATABASE_SECRET_ID"] = name
            environment["PGSSLMODE"] = "verify-full"
            environment["PGSSLROOTCERT"] = fixture.root_cert
            let mark = fixture.logMark()
            let result = try up(fixture, url: nil, folder: folder, environment: environment)
            #expect(result.exitCode == 0, "\(result.finalError)\n\(result.stderr)")
            #expect(try database.trackingRows().count == 2)
            // The run's login and, since the lock report, its monitor connection's: each a fresh token.
            let verdicts = try fixture.verdicts(since: mark)
            #expect(!verdicts.isEmpty && verdicts.allSatisfy { $0.result == "accepted" }, "\(verdicts)")
        }

        enum Refusal: String, CaseIterable, CustomTestStringConvertible {
            case wrongSecret, userNotInPolicy, wrongHost, expired, missingSessionToken
            var testDescription: String { rawValue }
        }

        @Test("a refused token exits 3 at once, with the hint, for the verifier's reason", arguments: Refusal.allCases)
        func refused(_ refusal: Refusal) throws {
            let fixture = try RDSIAMFixture.require()
            let database = try fixture.database()
            defer { database.drop() }
            let folder = try DrizzleFolder.generated(count: 1)
            defer { folder.remove() }
            var keys = fixture.key
            var user = fixture.user
            var host = fixture.host
            let reason: String
            switch refusal {
            case .wrongSecret:
                keys.secret_access_key = "not-" + keys.secret_access_key
                reason = "wrong signature"
            case .userNotInPolicy:
                user = fixture.denied_user
                reason = "not allowed by the policy"
            case .wrongHost:
                host = "127.0.0.1"
                reason = "wrong host"
            case .expired:
                user = fixture.late_user
                reason = "expired token"
            case .missingSessionToken:
                keys = fixture.session
                keys.session_token = nil
                reason = "missing session token"
            }
            let mark = fixture.logMark()
            let result = try up(
                fixture, url: url(fixture, database: database, user: user, host: host), folder: folder,
                environment: environment(fixture, keys: keys))
            #expect(result.exitCode == 3, "\(result.finalError)\n\(result.stderr)")
            #expect(result.finalError.contains("PAM authentication failed"), "\(result.finalError)")
            for cause in ["rds_iam", "arn:aws:rds-db:", "user name", "clock"] {
                #expect(result.finalError.contains(cause), "hint lacks \(cause): \(result.finalError)")
            }
            let verdicts = try fixture.verdicts(since: mark)
            #expect(verdicts.count == 1, "a refused token is not retried: \(verdicts)")
            #expect(verdicts.first?.reason.contains(reason) == true, "\(verdicts)")
        }

        @Test(
            "bad setups stop before any login: no TLS or a password in the URL exit 2, no credentials or region exit 6",
            arguments: [
                ("no sslmode", 2, "TLS is required"), ("sslmode=prefer", 2, "TLS is required"),
                ("password in the URL", 2, "carries a password"), ("no credentials", 6, "no AWS credentials"),
                ("no region", 6, "AWS_REGION"),
            ])
        func badSetup(name: String, exitCode: Int32, fragment: String) throws {
            let fixture = try RDSIAMFixture.require()
            let database = try fixture.database()
            defer { database.drop() }
            let folder = try DrizzleFolder.generated(count: 1)
            defer { folder.remove() }
            var url = url(fixture, database: database)
            var environment = environment(fixture, keys: fixture.key)
            switch name {
            case "no sslmode": url = String(url.prefix { $0 != "?" })
            case "sslmode=prefer": url = String(url.prefix { $0 != "?" }) + "?sslmode=prefer"
            case "password in the URL":
                url = url.replacingOccurrences(of: "\(fixture.user)@", with: "\(fixture.user):pw@")
            case "no credentials":
                environment["AWS_ACCESS_KEY_ID"] = nil
                environment["AWS_SECRET_ACCESS_KEY"] = nil
            default: environment["AWS_REGION"] = nil  // localhost names no region, and there is no profile
            }
            let mark = fixture.logMark()
            let result = try up(fixture, url: url, folder: folder, environment: environment)
            #expect(result.exitCode == exitCode, "\(result.finalError)\n\(result.stderr)")
            #expect(result.finalError.contains(fragment), "\(result.finalError)")
            #expect(try fixture.verdicts(since: mark).isEmpty)
        }
    }
}
