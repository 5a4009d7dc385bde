import Logging
import StructuredLogging
import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The database URL stored in AWS Secrets Manager: what `migrator` uses when no `DATABASE_URL` is given.
///
/// Credentials, region and endpoint follow the AWS SDK conventions, read from `environment` (not from
/// the process, so tests and the executable decide what it sees).
public struct SecretsManagerDatabaseURL: Sendable {
    let context: AWSContext

    /// A stop request ends a transfer, a retry's backoff or a credentials lookup within 100 ms, with
    /// an `AWSError` of code `.interrupted`.
    public init(environment: [String: String], logger: Logger, interruption: Interruption) {
        let caBundle = environment["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
        var context = AWSContext(
            environment: environment, transport: CurlTransport(caBundle: caBundle, interruption: interruption),
            logger: logger)
        context.sleep = { duration in interruption.sleep(for: duration) }
        self.context = context
    }

    init(context: AWSContext) {
        self.context = context
    }

    /// Fetches secret `secretId` (name or ARN) and returns the database URL inside it. With
    /// `passwordOptional` (IAM login) an RDS-style secret may lack its `password`.
    public func resolve(secretId: String, key: String, passwordOptional: Bool = false) throws(AWSError) -> String {
        guard !secretId.isEmpty, secretId.utf8.count <= 2048 else {
            throw AWSError(code: .configuration, message: "secret id must be 1 to 2048 characters")
        }
        let started = context.now()
        let region = try RegionResolver.region(secretId: secretId, context: context)
        let endpoint = try SecretsManagerEndpoint.resolve(region: region, context: context)
        let client = SecretsManagerClient(
            region: region, endpoint: endpoint, context: context, retry: try RetryStrategy.fromEnvironment(context))
        context.logger.event(
            .info, "secret.fetching", "fetching the database URL from Secrets Manager",
            ["secret_id": .string(secretId), "region": .string(region), "endpoint": .string(endpoint.hostHeader)])
        let output = try client.getSecretValue(secretId: secretId)
        guard let secretString = output.SecretString else {
            throw AWSError(
                code: .secretFormat,
                message: output.SecretBinary != nil
                    ? "the secret holds SecretBinary; migrator needs a SecretString"
                    : "GetSecretValue returned no SecretString")
        }
        let (url, shape) = try SecretFormat.databaseURL(
            secretString: secretString, key: key, passwordOptional: passwordOptional)
        let elapsed = context.now().timeIntervalSince(started)
        var fields: Logger.Metadata = [
            "secret_id": .string(secretId), "format": .string(shape.rawValue),
            "duration_ms": .int(Int((elapsed * 1000).rounded())),
        ]
        if let versionId = output.VersionId {
            fields["version_id"] = .string(AWSError.singleLine(versionId, limit: 64))
        }
        context.logger.event(.info, "secret.fetched", "fetched the database URL from Secrets Manager", fields)
        return url
    }
}
