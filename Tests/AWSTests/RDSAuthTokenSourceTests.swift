import Foundation
import StructuredLogging
import SystemSupport
import Testing

@testable import AWS

/// A clock a test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var _now: Date
    init(_ now: Date) { _now = now }
    var now: Date { lock.withLock { _now } }
    func advance(_ seconds: TimeInterval) { lock.withLock { _now += seconds } }
}

@Suite("RDS IAM token source (credentials, region, one token per attempt)")
struct RDSAuthTokenSourceTests {
    static let host = "mydb.cluster-cx1abc.eu-west-3.rds.amazonaws.com"

    @Test(
        "region: AWS_REGION, then AWS_DEFAULT_REGION, then the RDS host name",
        arguments: [
            (["AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-central-1"], host, "us-west-2"),
            (["AWS_DEFAULT_REGION": "eu-central-1"], host, "eu-central-1"),
            ([:], host, "eu-west-3"),
            ([:], "db.abc.cn-north-1.rds.amazonaws.com.cn", "cn-north-1"),
        ])
    func region(environment: [String: String], host: String, expected: String) throws {
        let source = try RDSAuthTokenSource(
            host: host, port: 5432, user: "u",
            context: Harness().context(environment.merging(Harness.exampleKeys) { $1 }))
        #expect(source.region == expected)
    }

    @Test("no region anywhere: a configuration error that says what to set")
    func noRegion() {
        let error = awsError {
            try RDSAuthTokenSource(host: "db.internal", port: 5432, user: "u", context: Harness().context([:]))
        }
        #expect(error?.code == .configuration)
        #expect(error?.description.contains("AWS_REGION") == true)
    }

    @Test("no credentials: a credentials error from prepare(), before any database work")
    func noCredentials() throws {
        let source = try RDSAuthTokenSource(
            host: Self.host, port: 5432, user: "u", context: Harness().context([:]))
        let error = awsError { try source.prepare() }
        #expect(error?.code == .credentials)
    }

    @Test("a new token per attempt, each registered for redaction, signed with the time of the attempt")
    func freshTokens() throws {
        let clock = ManualClock(try #require(UTCTime.parseISO8601("2026-12-05T12:00:00Z")))
        var context = Harness().context(Harness.exampleKeys)
        context.now = { clock.now }
        let source = try RDSAuthTokenSource(host: Self.host, port: 5432, user: "migrator_iam", context: context)
        let first = try source.token()
        clock.advance(20 * 60)
        let second = try source.token()
        #expect(first != second)
        #expect(first.contains("X-Amz-Date=20261205T120000Z&"))
        #expect(second.contains("X-Amz-Date=20261205T122000Z&"))
        #expect(Redaction.shared.scrub("password=\(first) \(second)") == "password=*** ***")
    }

    @Test("container credentials are fetched once and again only when they come near expiry")
    func credentialsKeptUntilNearExpiry() throws {
        let server = try LocalHTTPServer { _ in
            .respond(
                status: 200, body: credentialsJSON(token: "rds-src-token-0001", expiration: "2026-12-05T13:00:00Z"))
        }
        defer { server.stop() }
        let clock = ManualClock(try #require(UTCTime.parseISO8601("2026-12-05T12:00:00Z")))
        var context = Harness().context(["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds"])
        context.now = { clock.now }
        let source = try RDSAuthTokenSource(host: Self.host, port: 5432, user: "migrator_iam", context: context)
        try source.prepare()
        let token = try source.token()
        #expect(token.contains("X-Amz-Security-Token=rds-src-token-0001&"))
        clock.advance(50 * 60)
        _ = try source.token()
        #expect(server.requests.count == 1)
        clock.advance(6 * 60)  // 4 minutes before expiry: inside the 5-minute margin
        _ = try source.token()
        #expect(server.requests.count == 2)
    }
}

@Suite("IAM login from a secret without a password")
struct PasswordlessSecretTests {
    static let secret =
        #"{"engine":"postgres","host":"mydb.cx1abc.eu-west-3.rds.amazonaws.com","port":5432,"username":"app_migrator","dbname":"app"}"#

    @Test("an RDS-style secret without password gives a URL without one, for IAM login only")
    func passwordOptional() throws {
        let (url, shape) = try SecretFormat.databaseURL(
            secretString: Self.secret, key: "DATABASE_URL", passwordOptional: true)
        #expect(shape == .rds)
        #expect(url == "postgresql://app_migrator@mydb.cx1abc.eu-west-3.rds.amazonaws.com:5432/app")
        let error = awsError { try SecretFormat.databaseURL(secretString: Self.secret, key: "DATABASE_URL") }
        #expect(error?.code == .secretFormat)
        #expect(error?.description.contains("no password") == true)
    }
}
