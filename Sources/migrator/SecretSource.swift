import AWS
import Logging
import SystemSupport

/// The database URL from AWS Secrets Manager, for runs without `--database-url`/`DATABASE_URL`.
/// Every failure is an `AWSError`, which the caller maps to exit code 6 (130/143 after a stop request).
/// With `iamAuth` an RDS-style secret may lack its password (the token is the password).
func fetchDatabaseURLFromSecretsManager(
    secretId: String, key: String, iamAuth: Bool, environment: [String: String], logger: Logger,
    interruption: Interruption
) throws -> String {
    try SecretsManagerDatabaseURL(environment: environment, logger: logger, interruption: interruption)
        .resolve(secretId: secretId, key: key, passwordOptional: iamAuth)
}
