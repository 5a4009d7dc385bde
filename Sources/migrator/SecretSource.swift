import AWS
import Logging

/// The database URL from AWS Secrets Manager, for runs without `--database-url`/`DATABASE_URL`.
/// Every failure is an `AWSError`, which the caller maps to exit code 6.
func fetchDatabaseURLFromSecretsManager(
    secretId: String, key: String, environment: [String: String], logger: Logger
) throws -> String {
    try SecretsManagerDatabaseURL(environment: environment, logger: logger).resolve(secretId: secretId, key: key)
}
