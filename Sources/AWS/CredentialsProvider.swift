import Logging
import StructuredLogging
import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What the credential providers and the client share: the process environment and the few things a
/// test replaces (transport, clock, sleep, randomness).
struct AWSContext: Sendable {
    var environment: [String: String]
    var transport: any HTTPTransport
    var logger: Logger
    var now: @Sendable () -> Date = { Date() }
    /// Backoff between retries; `SecretsManagerDatabaseURL` makes it end early on a stop request.
    var sleep: @Sendable (Duration) -> Void = { duration in Interruption().sleep(for: duration) }
    var random: @Sendable () -> Double = { Double.random(in: 0..<1) }
    var serviceTimeouts: HTTPTimeouts = .service
    var metadataTimeouts: HTTPTimeouts = .metadata
    /// Tries per metadata request (ECS, IMDS): they either answer at once or are not there.
    var metadataAttempts = 3

    /// An environment variable, treating empty as unset like the AWS SDKs do.
    func env(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    func flag(_ name: String) -> Bool {
        env(name)?.lowercased() == "true"
    }
}

/// One source of credentials. `nil` means "not configured here, ask the next one"; a throw means it is
/// configured but broken, which stops the chain as in the AWS SDKs (falling through to another
/// identity would be a surprise, and a dangerous one).
protocol CredentialsProvider: Sendable {
    var name: String { get }
    func credentials(_ context: AWSContext) throws(AWSError) -> CredentialsLookup
}

enum CredentialsLookup: Sendable {
    case found(AWSCredentials)
    case notConfigured
    /// Configured by default but not reachable (IMDS off EC2): the chain goes on and the reason ends
    /// up in the final "no credentials" message.
    case unavailable(String)
}

/// Environment, ECS container endpoint, shared files, EC2 instance metadata: the order of the contract.
struct CredentialsChain: Sendable {
    var providers: [any CredentialsProvider] = [
        EnvironmentCredentialsProvider(),
        ContainerCredentialsProvider(),
        SharedFilesCredentialsProvider(),
        InstanceMetadataCredentialsProvider(),
    ]

    func resolve(_ context: AWSContext) throws(AWSError) -> (credentials: AWSCredentials, provider: String) {
        var notes: [String] = []
        for provider in providers {
            switch try provider.credentials(context) {
            case .found(let credentials):
                Self.register(credentials)
                context.logger.event(
                    .info, "credentials.resolved", "AWS credentials from \(provider.name)",
                    ["provider": .string(provider.name)])
                return (credentials, provider.name)
            case .notConfigured:
                continue
            case .unavailable(let reason):
                notes.append("\(provider.name): \(reason)")
            }
        }
        let tried = providers.map(\.name).joined(separator: ", ")
        let detail = notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")
        throw AWSError(
            code: .credentials,
            message: "no AWS credentials found (tried \(tried))\(detail)")
    }

    static func register(_ credentials: AWSCredentials) {
        Redaction.shared.register(credentials.secretAccessKey)
        if let token = credentials.sessionToken { Redaction.shared.register(token) }
    }
}
