import Logging
import StructuredLogging
import Synchronization
import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The database password when logging in with IAM: a fresh `RDSAuthToken` for every connection attempt.
///
/// A token lives 15 minutes, and a connect wait can be longer, so none is kept. The credentials behind
/// it are kept until 5 minutes before they expire (the chain's ECS and IMDS lookups are requests of
/// their own). Credentials and region follow the same chain as Secrets Manager; every token is
/// registered with `Redaction` before it is returned.
public final class RDSAuthTokenSource: Sendable {
    public let host: String
    public let port: Int
    public let user: String
    public let region: String
    let context: AWSContext
    let chain: CredentialsChain
    private let cached = Mutex<AWSCredentials?>(nil)

    /// Credentials this close to their expiration are resolved again before signing.
    static let refreshMargin: TimeInterval = 300

    /// A stop request ends a credentials lookup within 100 ms, with an `AWSError` of code `.interrupted`.
    public convenience init(
        host: String, port: Int, user: String, environment: [String: String], logger: Logger,
        interruption: Interruption
    ) throws(AWSError) {
        let caBundle = environment["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
        var context = AWSContext(
            environment: environment, transport: CurlTransport(caBundle: caBundle, interruption: interruption),
            logger: logger)
        context.sleep = { duration in interruption.sleep(for: duration) }
        try self.init(host: host, port: port, user: user, context: context)
    }

    init(host: String, port: Int, user: String, context: AWSContext, chain: CredentialsChain = CredentialsChain())
        throws(AWSError)
    {
        self.host = host
        self.port = port
        self.user = user
        self.context = context
        self.chain = chain
        self.region = try RDSRegion.resolve(host: host, context: context)
    }

    /// Resolves the credentials now, so that missing ones stop the run before any database work.
    public func prepare() throws(AWSError) {
        _ = try credentials()
        context.logger.event(
            .info, "iam.ready", "logging in to the database with IAM tokens",
            ["db_user": .string(user), "db_host": .string(host), "region": .string(region)])
    }

    /// A new token, signed now.
    public func token() throws(AWSError) -> String {
        let credentials = try credentials()
        let token = RDSAuthToken.generate(
            host: host, port: port, user: user, region: region, credentials: credentials, date: context.now())
        Redaction.shared.register(token)
        return token
    }

    private func credentials() throws(AWSError) -> AWSCredentials {
        let now = context.now()
        if let kept = cached.withLock({ $0 }),
            kept.expiration.map({ $0.timeIntervalSince(now) > Self.refreshMargin }) ?? true
        {
            return kept
        }
        let (fresh, _) = try chain.resolve(context)
        cached.withLock { $0 = fresh }
        return fresh
    }
}

/// The region a token is signed for: `AWS_REGION` > `AWS_DEFAULT_REGION` > the region in an RDS
/// endpoint name (`NAME.ID.REGION.rds.amazonaws.com`) > the profile's `region`.
enum RDSRegion {
    static func resolve(host: String, context: AWSContext) throws(AWSError) -> String {
        try RegionResolver.region(
            hint: fromEndpoint(host).map { ($0, "the database host name") }, context: context,
            missing: "no AWS region to sign the IAM token for: set AWS_REGION (the database's region)")
    }

    static func fromEndpoint(_ host: String) -> String? {
        let labels = host.lowercased().split(separator: ".")
        guard let rds = labels.lastIndex(of: "rds"), rds >= 2,
            labels[(rds + 1)...].starts(with: ["amazonaws", "com"])
        else { return nil }
        let region = String(labels[rds - 1])
        return RegionResolver.isValid(region) ? region : nil
    }
}
