import AWS
import Logging
import MigrationEngine
import Synchronization
import SystemSupport

/// `--iam-auth`: the password of every connection attempt is a fresh RDS IAM token for the URL's host,
/// port and user (docs/rds-iam.md).
final class IAMLogin: Sendable {
    let source: RDSAuthTokenSource
    /// Why the last token could not be made: the engine only carries `MigrationError`s, and this one
    /// must still exit 6 like every AWS failure.
    private let failure = Mutex<AWSError?>(nil)

    /// What a refused token usually means, for the exit-3 line.
    static let refusalHint =
        "the IAM token was refused; usual causes: the role lacks rds_iam (GRANT rds_iam TO the user), "
        + "the policy's rds-db:connect resource ARN (arn:aws:rds-db:REGION:ACCOUNT:dbuser:DBI_RESOURCE_ID/USER), "
        + "the user name, IAM authentication off on the instance, or this machine's clock"

    /// Checks that the URL can carry a token (exit 2 otherwise), then resolves region and credentials
    /// (exit 6 otherwise), all before the first attempt.
    init(target: DatabaseTarget, environment: [String: String], logger: Logger, interruption: Interruption) throws {
        let (host, port, user) = try Self.endpoint(target, environment: environment)
        source = try RDSAuthTokenSource(
            host: host, port: port, user: user, environment: environment, logger: logger, interruption: interruption)
        try source.prepare()
    }

    /// For `DatabaseTarget`: called before every attempt.
    var password: @Sendable () throws(MigrationError) -> String {
        { [self] () throws(MigrationError) -> String in
            do throws(AWSError) {
                return try source.token()
            } catch {
                failure.withLock { $0 = error }
                throw MigrationError(.database, "could not make an IAM token: \(error)")
            }
        }
    }

    /// The error to report for a failed connection: the AWS error behind it (exit 6), or a refused
    /// login with the usual causes of a refused token (exit 3).
    func explain(_ error: MigrationError) -> any Error {
        if let failure = failure.withLock({ $0 }) { return failure }
        guard error.code == .database, error.message.contains("refused the login") else { return error }
        var explained = error
        explained.message += "; " + Self.refusalHint
        return explained
    }

    /// The host, port and user the token is signed for, and the checks that keep it safe to send.
    static func endpoint(_ target: DatabaseTarget, environment: [String: String]) throws(ConfigurationError) -> (
        String, Int, String
    ) {
        func fail(_ text: String) -> ConfigurationError { ConfigurationError(description: "--iam-auth: " + text) }
        func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if target.hasPassword {
            throw fail("the database URL carries a password; with IAM the password is the token: remove it")
        }
        // libpq applies PGSSLMODE when the URL has no sslmode.
        let sslMode = target.sslMode ?? variable("PGSSLMODE")
        guard sslMode == "verify-full" || sslMode == "require" else {
            throw fail(
                "the token is sent as the password, so TLS is required: add sslmode=verify-full (with "
                    + "sslrootcert= the RDS CA bundle) or sslmode=require to the database URL")
        }
        guard let host = target.host ?? variable("PGHOST"), !host.hasPrefix("/"), !host.contains(",") else {
            throw fail("the database URL needs one host name (the RDS endpoint the token is signed for)")
        }
        guard let user = target.user ?? variable("PGUSER") else {
            throw fail("the database URL needs the user name (the token is signed for it)")
        }
        guard let port = Int(target.port ?? variable("PGPORT") ?? "5432"), (1...65535).contains(port) else {
            throw fail("the port is not a number from 1 to 65535")
        }
        return (host, port, user)
    }
}
