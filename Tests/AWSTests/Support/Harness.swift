import Foundation
import Logging
import StructuredLogging
import TestSupport
import Testing

@testable import AWS

/// Thread-safe list, for what injected closures observe.
final class Recorder<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var _values: [Value] = []
    var values: [Value] { lock.withLock { _values } }
    func append(_ value: Value) { lock.withLock { _values.append(value) } }
}

/// Builds the `AWSContext` a test runs with: the real libcurl transport, a captured log, recorded
/// sleeps (so backoff is observed, not waited for), fixed jitter, and an environment that can never
/// reach a real AWS host, the developer's ~/.aws, or the network beyond loopback.
struct Harness {
    let log = LogCapture()
    let sleeps = Recorder<Duration>()

    static let isolatedEnvironment: [String: String] = [
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/migrator-tests/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/migrator-tests/config",
    ]

    static let exampleKeys: [String: String] = [
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    ]

    func context(
        _ environment: [String: String],
        random: Double = 1.0,
        serviceTimeouts: HTTPTimeouts = HTTPTimeouts(connect: .seconds(2), total: .seconds(5)),
        metadataTimeouts: HTTPTimeouts = HTTPTimeouts(connect: .milliseconds(500), total: .seconds(2)),
        now: Date? = nil
    ) -> AWSContext {
        let merged = Self.isolatedEnvironment.merging(environment) { _, new in new }
        let sleeps = self.sleeps
        var context = AWSContext(
            environment: merged, transport: CurlTransport(caBundle: merged["AWS_CA_BUNDLE"]), logger: log.logger)
        context.sleep = { sleeps.append($0) }
        context.random = { random }
        context.serviceTimeouts = serviceTimeouts
        context.metadataTimeouts = metadataTimeouts
        if let now { context.now = { now } }
        return context
    }

    func resolver(_ environment: [String: String], random: Double = 1.0, serviceTimeouts: HTTPTimeouts? = nil)
        -> SecretsManagerDatabaseURL
    {
        var context = context(environment, random: random)
        if let serviceTimeouts { context.serviceTimeouts = serviceTimeouts }
        return SecretsManagerDatabaseURL(context: context)
    }
}

/// A Secrets Manager GetSecretValue success body, as AWS sends it.
func getSecretValueBody(_ secretString: String, name: String = "staging/bcos-secrets") -> String {
    let escaped = JSONLogHandler.jsonString(secretString)
    return """
        {"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:\(name)-AbCdEf","Name":"\(name)",\
        "SecretString":\(escaped),"VersionId":"11111111-2222-3333-4444-555555555555",\
        "VersionStages":["AWSCURRENT"],"CreatedDate":1.4409384E9}
        """
}

func awsErrorBody(_ type: String, _ message: String) -> String {
    "{\"__type\":\"\(type)\",\"message\":\"\(message)\"}"
}

/// Runs `body` and returns the `AWSError` it throws, or nil (recording an issue for any other error).
func awsError<T>(_ body: () throws -> T) -> AWSError? {
    do {
        _ = try body()
        return nil
    } catch let error as AWSError {
        return error
    } catch {
        Issue.record("expected an AWSError, got \(error)")
        return nil
    }
}
