import Foundation
import TestSupport

/// The PostgreSQL that checks RDS IAM tokens like RDS (scripts/lib/rds-iam.sh: `pam` authentication,
/// pam_exec, scripts/lib/rds_iam_verifier.py), as described by its state.json.
struct RDSIAMFixture: Decodable {
    struct Keys: Decodable {
        var access_key_id: String
        var secret_access_key: String
        var session_token: String?
    }

    struct Verdict: Decodable {
        var user: String
        var result: String
        var reason: String
    }

    var host: String
    var port: Int
    var region: String
    /// Allowed by the verifier's policy.
    var user: String
    /// Allowed, but the verifier's clock is 20 minutes ahead for it: every token it gets has expired.
    var late_user: String
    /// Logs in with PAM like the others, but the policy does not allow it.
    var denied_user: String
    var root_cert: String
    var verifier_log: String
    /// A long-term key (no session token).
    var key: Keys
    /// Temporary credentials: the verifier insists on the session token.
    var session: Keys

    static let statePath = ProcessInfo.processInfo.environment["MIGRATOR_TEST_IAM_STATE"].flatMap {
        $0.isEmpty ? nil : $0
    }

    static let state: RDSIAMFixture? = statePath.flatMap { FileManager.default.contents(atPath: $0) }
        .flatMap { try? JSONDecoder().decode(RDSIAMFixture.self, from: $0) }

    /// In CI always: a missing fixture there is a failure, not a skip.
    static var testsEnabled: Bool { (state != nil && TestEnvironment.adminURL != nil) || TestEnvironment.isCI }

    static func require() throws -> RDSIAMFixture {
        guard let state, TestEnvironment.adminURL != nil else {
            throw TestSetupError(
                "the IAM-checking PostgreSQL is not there (MIGRATOR_TEST_IAM_STATE): run through scripts/test.sh as root"
            )
        }
        return state
    }

    /// A database of its own, owned by the IAM user, so that user can migrate it.
    func database() throws -> TestDatabase {
        let database = try TestDatabase.create(prefix: "iam")
        _ = try database.query("ALTER DATABASE \"\(database.name)\" OWNER TO \(user)")
        return database
    }

    /// How many bytes the verifier's log has now; `verdicts(since:)` reads what came after.
    func logMark() -> Int {
        (try? FileManager.default.attributesOfItem(atPath: verifier_log)[.size] as? Int) ?? 0
    }

    func verdicts(since mark: Int) throws -> [Verdict] {
        let data = try Data(contentsOf: URL(fileURLWithPath: verifier_log))
        return try data.dropFirst(mark).split(separator: UInt8(ascii: "\n")).map {
            try JSONDecoder().decode(Verdict.self, from: Data($0))
        }
    }

    /// `psql -c 'SELECT current_user'` with `password` (from the environment, never the command line).
    func psql(user: String, password: String, host: String? = nil, database: String = "postgres") throws
        -> MigratorProcess.Result
    {
        guard let bindir = ProcessInfo.processInfo.environment["MIGRATOR_TEST_PG_BINDIR"] else {
            throw TestSetupError("MIGRATOR_TEST_PG_BINDIR is not set")
        }
        let host = host ?? self.host
        // verify-full needs the certificate's name (localhost); any other host name gets `require`.
        let sslmode = host == "localhost" ? "verify-full" : "require"
        return try MigratorProcess(
            executable: bindir + "/psql",
            ["-X", "-A", "-t", "-c", "SELECT current_user"],
            environment: [
                "PGHOST": host, "PGPORT": String(port), "PGUSER": user, "PGDATABASE": database,
                "PGPASSWORD": password, "PGSSLMODE": sslmode, "PGSSLROOTCERT": root_cert,
                "PGCONNECT_TIMEOUT": "20",
            ]
        ).wait(timeout: .seconds(60))
    }
}
