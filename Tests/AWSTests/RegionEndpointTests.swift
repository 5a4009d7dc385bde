import Foundation
import SystemSupport
import Testing

@testable import AWS

@Suite("Region and endpoint resolution")
struct RegionEndpointTests {
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:staging/bcos-secrets-AbCdEf"

    @Test(
        "region precedence: AWS_REGION > AWS_DEFAULT_REGION > secret ARN",
        arguments: [
            (["AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "ap-south-1"], true, "us-west-2"),
            (["AWS_DEFAULT_REGION": "ap-south-1"], true, "ap-south-1"),
            (["AWS_REGION": "", "AWS_DEFAULT_REGION": ""], true, "eu-west-1"),
            ([:], true, "eu-west-1"),
        ])
    func regionPrecedence(environment: [String: String], useARN: Bool, expected: String) throws {
        let context = Harness().context(environment)
        #expect(
            try RegionResolver.region(secretId: useARN ? arn : "staging/bcos-secrets", context: context) == expected)
    }

    @Test("no region anywhere is a configuration error")
    func noRegion() throws {
        let error = try #require(
            awsError { try RegionResolver.region(secretId: "staging/bcos-secrets", context: Harness().context([:])) })
        #expect(error.code == .configuration)
        #expect(error.description.contains("AWS_REGION"))
    }

    @Test("the profile's region is the last fallback")
    func profileRegion() throws {
        let directory = try temporaryDirectory()
        let config = directory.appendingPathComponent("config")
        try "[profile dev]\nregion = ca-central-1\n".write(to: config, atomically: true, encoding: .utf8)
        let context = Harness().context(["AWS_CONFIG_FILE": config.path, "AWS_PROFILE": "dev"])
        #expect(try RegionResolver.region(secretId: "staging/bcos-secrets", context: context) == "ca-central-1")
        #expect(try RegionResolver.region(secretId: arn, context: context) == "eu-west-1")
    }

    @Test(
        "a region that is not a region name is refused",
        arguments: ["us-east-1.evil.example", "US-EAST-1", "-x", "a b"])
    func invalidRegion(region: String) throws {
        let error = try #require(
            awsError { try RegionResolver.region(secretId: "s", context: Harness().context(["AWS_REGION": region])) })
        #expect(error.code == .configuration)
    }

    @Test(
        "standard, FIPS and China endpoints",
        arguments: [
            (
                "us-east-1", [String: String](), "https://secretsmanager.us-east-1.amazonaws.com/",
                "secretsmanager.us-east-1.amazonaws.com"
            ),
            (
                "us-east-1", ["AWS_USE_FIPS_ENDPOINT": "true"], "https://secretsmanager-fips.us-east-1.amazonaws.com/",
                "secretsmanager-fips.us-east-1.amazonaws.com"
            ),
            (
                "us-gov-west-1", ["AWS_USE_FIPS_ENDPOINT": "TRUE"],
                "https://secretsmanager-fips.us-gov-west-1.amazonaws.com/",
                "secretsmanager-fips.us-gov-west-1.amazonaws.com"
            ),
            (
                "cn-north-1", [:], "https://secretsmanager.cn-north-1.amazonaws.com.cn/",
                "secretsmanager.cn-north-1.amazonaws.com.cn"
            ),
            (
                "eu-west-1", ["AWS_USE_FIPS_ENDPOINT": "false"], "https://secretsmanager.eu-west-1.amazonaws.com/",
                "secretsmanager.eu-west-1.amazonaws.com"
            ),
        ])
    func standardEndpoints(region: String, environment: [String: String], url: String, host: String) throws {
        let endpoint = try SecretsManagerEndpoint.resolve(region: region, context: Harness().context(environment))
        #expect(endpoint.string == url)
        #expect(endpoint.hostHeader == host)
    }

    @Test(
        "endpoint overrides: service-specific first, then global, unless ignored",
        arguments: [
            (["AWS_ENDPOINT_URL": "http://127.0.0.1:4566"], "http://127.0.0.1:4566/", "127.0.0.1:4566"),
            (
                [
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://localhost:5000/",
                    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
                ],
                "http://localhost:5000/", "localhost:5000"
            ),
            (
                ["AWS_ENDPOINT_URL": "https://vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com:443"],
                "https://vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com:443/",
                "vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com"
            ),
            (["AWS_ENDPOINT_URL": "http://[::1]:8080/prefix"], "http://[::1]:8080/prefix", "[::1]:8080"),
            (
                ["AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"],
                "https://secretsmanager.us-east-1.amazonaws.com/", "secretsmanager.us-east-1.amazonaws.com"
            ),
        ])
    func overrides(environment: [String: String], url: String, host: String) throws {
        let endpoint = try SecretsManagerEndpoint.resolve(region: "us-east-1", context: Harness().context(environment))
        #expect(endpoint.string == url)
        #expect(endpoint.hostHeader == host)
    }

    @Test(
        "malformed overrides are configuration errors",
        arguments: ["ftp://x", "127.0.0.1:4566", "http://user:pw@h", "http://h:99999", "http://h?x=1"])
    func badOverride(value: String) throws {
        let error = try #require(
            awsError {
                try SecretsManagerEndpoint.resolve(
                    region: "us-east-1", context: Harness().context(["AWS_ENDPOINT_URL": value]))
            })
        #expect(error.code == .configuration)
        #expect(error.description.contains("AWS_ENDPOINT_URL"))
    }

    @Test("secret ARNs are parsed, names are not ARNs")
    func arns() {
        let parsed = SecretARN("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/b:c-AbCdEf")
        #expect(parsed?.partition == "aws-cn")
        #expect(parsed?.region == "cn-north-1")
        #expect(parsed?.name == "a/b:c-AbCdEf")
        #expect(SecretARN("staging/bcos-secrets") == nil)
        #expect(SecretARN("arn:aws:s3:::bucket") == nil)
    }
}

@Suite("Standard retry mode")
struct RetryStrategyTests {
    @Test("AWS_MAX_ATTEMPTS: default 3, validated")
    func maxAttempts() throws {
        #expect(try RetryStrategy.fromEnvironment(Harness().context([:])).maxAttempts == 3)
        #expect(try RetryStrategy.fromEnvironment(Harness().context(["AWS_MAX_ATTEMPTS": "7"])).maxAttempts == 7)
        for bad in ["0", "-1", "three", "1.5"] {
            let error = awsError { try RetryStrategy.fromEnvironment(Harness().context(["AWS_MAX_ATTEMPTS": bad])) }
            #expect(error?.code == .configuration, "\(bad)")
        }
    }

    @Test("exponential backoff with full jitter, base 100 ms, capped at 20 s")
    func backoff() {
        let strategy = RetryStrategy(maxAttempts: 10)
        #expect(strategy.delay(afterAttempt: 1, random: 1) == .milliseconds(100))
        #expect(strategy.delay(afterAttempt: 2, random: 1) == .milliseconds(200))
        #expect(strategy.delay(afterAttempt: 3, random: 1) == .milliseconds(400))
        #expect(strategy.delay(afterAttempt: 3, random: 0.5) == .milliseconds(200))
        #expect(strategy.delay(afterAttempt: 3, random: 0) == .zero)
        #expect(strategy.delay(afterAttempt: 9, random: 1) == .milliseconds(25_600).clamped)
        #expect(strategy.delay(afterAttempt: 20, random: 1) == .seconds(20))
    }

    @Test(
        "what is retried",
        arguments: [
            (AWSError(code: .service, message: "", awsErrorCode: "ThrottlingException", httpStatus: 400), true),
            (AWSError(code: .service, message: "", awsErrorCode: "TooManyRequestsException", httpStatus: 400), true),
            (AWSError(code: .service, message: "", awsErrorCode: "InternalServiceError", httpStatus: 500), true),
            (AWSError(code: .service, message: "", awsErrorCode: nil, httpStatus: 503), true),
            (AWSError(code: .service, message: "", awsErrorCode: nil, httpStatus: 429), true),
            (AWSError(code: .network, message: ""), true),
            (AWSError(code: .timeout, message: ""), true),
            (AWSError(code: .service, message: "", awsErrorCode: "ResourceNotFoundException", httpStatus: 400), false),
            (AWSError(code: .service, message: "", awsErrorCode: "AccessDeniedException", httpStatus: 400), false),
            (AWSError(code: .service, message: "", awsErrorCode: "DecryptionFailure", httpStatus: 400), false),
            (AWSError(code: .service, message: "", awsErrorCode: "InvalidSignatureException", httpStatus: 400), false),
            (AWSError(code: .service, message: "", awsErrorCode: "SignatureDoesNotMatch", httpStatus: 403), false),
            (
                AWSError(code: .service, message: "", awsErrorCode: "UnrecognizedClientException", httpStatus: 400),
                false
            ),
            (AWSError(code: .service, message: "", awsErrorCode: "AccessDeniedException", httpStatus: 500), false),
            (AWSError(code: .service, message: "", awsErrorCode: nil, httpStatus: 400), false),
            (AWSError(code: .tlsVerification, message: ""), false),
            (AWSError(code: .invalidResponse, message: ""), false),
            (AWSError(code: .credentials, message: ""), false),
        ])
    func retryable(error: AWSError, expected: Bool) {
        #expect(RetryStrategy.isRetryable(error) == expected, "\(error)")
    }
}

extension Duration {
    /// 25.6 s capped: what attempt 9 yields before the cap applies.
    fileprivate var clamped: Duration { min(self, .seconds(20)) }
}

@Suite("Small parsers")
struct ParserTests {
    @Test("UTC timestamps round-trip and RFC 3339 variants parse")
    func timestamps() throws {
        let date = try #require(UTCTime.parseISO8601("2015-08-30T12:36:00Z"))
        #expect(UTCTime.amzDate(date) == "20150830T123600Z")
        #expect(UTCTime.iso8601(date) == "2015-08-30T12:36:00Z")
        #expect(UTCTime.parseISO8601("2015-08-30T14:36:00+02:00") == date)
        #expect(UTCTime.parseISO8601("2015-08-30T12:36:00.123Z").map { Int($0.timeIntervalSince(date) * 1000) } == 0)
        #expect(UTCTime.amzDate(Date(timeIntervalSince1970: 951_782_400)) == "20000229T000000Z")
        #expect(UTCTime.amzDate(Date(timeIntervalSince1970: 4_102_444_799)) == "20991231T235959Z")
        for bad in [
            "", "2015-08-30", "2015-13-30T12:36:00Z", "2015-08-30T12:36:00", "yesterday", "2015-08-30T12:36:00Zjunk",
        ] {
            #expect(UTCTime.parseISO8601(bad) == nil, "\(bad)")
        }
        let reference = ISO8601DateFormatter()
        for seconds in stride(from: -86_400 * 400, to: 86_400 * 365 * 200, by: 86_400 * 37 + 3_671) {
            let sample = Date(timeIntervalSince1970: TimeInterval(seconds))
            #expect(UTCTime.iso8601(sample) == reference.string(from: sample))
        }
    }

    @Test("endpoint URLs")
    func endpointURLs() throws {
        let url = try #require(EndpointURL("HTTP://LocalHost:8080/a/b?x=1"))
        #expect(url.scheme == "http")
        #expect(url.host == "localhost")
        #expect(url.port == 8080)
        #expect(url.path == "/a/b")
        #expect(url.query == "x=1")
        #expect(url.isLoopback)
        #expect(try #require(EndpointURL("http://[fd00:ec2::23]/v1/credentials")).host == "fd00:ec2::23")
        #expect(EndpointURL("http://127.9.8.7:1")?.isLoopback == true)
        #expect(EndpointURL("http://127.0.0.1.evil.example/")?.isLoopback == false)
        #expect(EndpointURL("http://169.254.170.2/x")?.isLoopback == false)
        #expect(EndpointURL("https://h")?.path == "/")
        #expect(EndpointURL("https://h:443/")?.hostHeader == "h")
        #expect(EndpointURL("http://h:80/")?.hostHeader == "h")
        #expect(
            EndpointURL("http://h:8080/")?.appendingPath("/latest/api/token").string == "http://h:8080/latest/api/token"
        )
        for bad in [
            "file:///etc/passwd", "http://", "http://a b/", "http://u@h/", "http://h:0/", "http://h#frag",
            "http://[zz]/",
        ] {
            #expect(EndpointURL(bad) == nil, "\(bad)")
        }
    }

    @Test("AWSError.description is one line with code, status and request id")
    func errorDescription() {
        let error = AWSError(
            code: .service, message: "GetSecretValue failed: Secrets Manager can't find the specified secret.",
            awsErrorCode: "ResourceNotFoundException", httpStatus: 400,
            requestId: "b3e1c0de-0000-4000-8000-000000000001")
        #expect(
            error.description
                == "AWS service error: GetSecretValue failed: Secrets Manager can't find the specified secret. "
                + "(ResourceNotFoundException, HTTP 400, request id b3e1c0de-0000-4000-8000-000000000001)")
        #expect(AWSError.singleLine("first line\nsecond line with token") == "first line")
        #expect(AWSError.singleLine("\n\nafter blank\r\nnext") == "after blank")
        #expect(AWSError.singleLine("tab\there\u{7}bell") == "tab here bell")
        #expect(AWSError.singleLine(String(repeating: "x", count: 400)).count == 301)
    }

    @Test("credentials never print their secret parts")
    func credentialsDescription() {
        let credentials = AWSCredentials(
            accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            sessionToken: "token-EXAMPLE-1234")
        for text in [
            "\(credentials)", String(reflecting: credentials),
            String(describing: Mirror(reflecting: credentials).children.map(\.value)),
        ] {
            #expect(text.contains("AKIDEXAMPLE"))
            #expect(!text.contains("EXAMPLEKEY"))
            #expect(!text.contains("token-EXAMPLE"))
        }
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains("EXAMPLEKEY"))
    }
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("migrator-aws-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
