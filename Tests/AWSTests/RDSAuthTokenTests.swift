import Foundation
import SystemSupport
import Testing

@testable import AWS

/// One token vector: inputs, and the exact token the reference implementation returns for them.
struct RDSTokenVector: CustomTestStringConvertible, Sendable {
    var name: String
    var accessKeyId: String
    var secretAccessKey: String
    var sessionToken: String?
    var region: String
    var host: String
    var port: Int
    var user: String
    var time: String
    /// botocore's `generate_db_auth_token` output, byte for byte.
    var botocore: String
    /// The AWS SDK for Java v2's expected token where its test has one (same parameters, its own order).
    var javaSDK: String?

    var testDescription: String { name }

    static let all: [RDSTokenVector] = [
        // botocore tests/unit/test_signers.py, TestGenerateDBAuthToken.test_generate_db_auth_token. The
        // test compares URLs as parameter sets; the string here is what botocore 1.43.11 returns.
        RDSTokenVector(
            name: "botocore test_signers.py", accessKeyId: "akid", secretAccessKey: "skid", region: "us-east-1",
            host: "prod-instance.us-east-1.rds.amazonaws.com", port: 3306, user: "someusername",
            time: "2016-11-07T17:39:33Z",
            botocore: "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=someusername"
                + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2F"
                + "aws4_request&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61"),
        // aws-sdk-java-v2 services/rds DefaultRdsUtilitiesTest.testTokenGenerationWithBuilderDefaultsUsingAwsCredentialsProvider.
        RDSTokenVector(
            name: "aws-sdk-java-v2 DefaultRdsUtilitiesTest", accessKeyId: "access_key", secretAccessKey: "secret_key",
            region: "us-east-1", host: "host.us-east-1.amazonaws.com", port: 3306, user: "mySQLUser",
            time: "2016-11-07T17:39:33Z",
            botocore: "host.us-east-1.amazonaws.com:3306/?Action=connect&DBUser=mySQLUser"
                + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=access_key%2F20161107%2Fus-east-1%2Frds-db%2F"
                + "aws4_request&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=87ab58107ef49f1c311a412f98b7f976b0b5152ffb559f0d36c6c9a0c5e0e362",
            javaSDK: "host.us-east-1.amazonaws.com:3306/?DBUser=mySQLUser&Action=connect&"
                + "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20161107T173933Z&X-Amz-SignedHeaders=host&"
                + "X-Amz-Expires=900&X-Amz-Credential=access_key%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request&"
                + "X-Amz-Signature=87ab58107ef49f1c311a412f98b7f976b0b5152ffb559f0d36c6c9a0c5e0e362"),
        // Ours, with a session token (`/`, `+`, `=` in it); expected value from pip's botocore 1.43.11,
        // `generate_db_auth_token` with `datetime.datetime.now` patched to the time here.
        RDSTokenVector(
            name: "session token (botocore 1.43.11)", accessKeyId: "ASIAEXAMPLEIAMTOKEN1",
            secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            sessionToken: "FwoGZXIvYXdzEBYaDexample/session+token==", region: "eu-west-3",
            host: "mydb.cluster-cx1abc.eu-west-3.rds.amazonaws.com", port: 5432, user: "migrator_iam",
            time: "2026-12-05T12:00:00Z",
            botocore: "mydb.cluster-cx1abc.eu-west-3.rds.amazonaws.com:5432/?Action=connect&DBUser=migrator_iam"
                + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLEIAMTOKEN1%2F20261205%2Feu-west-3"
                + "%2Frds-db%2Faws4_request&X-Amz-Date=20261205T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
                + "&X-Amz-Security-Token=FwoGZXIvYXdzEBYaDexample%2Fsession%2Btoken%3D%3D"
                + "&X-Amz-Signature=de8ad94c657a75a359509645f6d65255972671b39acf0deab8445ee497caf1be"),
        // Ours: port 443 (left out of the signed host, kept in the token), upper-case host (signed
        // lower-cased, kept as given), a user name that needs encoding. Same botocore, same way.
        RDSTokenVector(
            name: "port 443, mixed-case host, user needing encoding (botocore 1.43.11)", accessKeyId: "akid",
            secretAccessKey: "skid", region: "us-east-1", host: "DB.Example.COM", port: 443, user: "user@x+y z~",
            time: "2026-12-05T12:00:00Z",
            botocore: "DB.Example.COM:443/?Action=connect&DBUser=user%40x%2By%20z~&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=akid%2F20261205%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20261205T120000Z"
                + "&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=efa4592fd139356267b588ee7d6c783a37c42a1b50548af2a5c26f19d941b430"),
    ]

    func generate() throws -> String {
        let date = try #require(UTCTime.parseISO8601(time))
        return RDSAuthToken.generate(
            host: host, port: port, user: user, region: region,
            credentials: AWSCredentials(
                accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, sessionToken: sessionToken),
            date: date)
    }
}

@Suite("RDS IAM auth token")
struct RDSAuthTokenTests {
    @Test("token equals botocore's, byte for byte", arguments: RDSTokenVector.all)
    func matchesBotocore(_ vector: RDSTokenVector) throws {
        #expect(try vector.generate() == vector.botocore)
    }

    @Test(
        "token equals the Java SDK's as a parameter set (its order differs)",
        arguments: RDSTokenVector.all.filter { $0.javaSDK != nil })
    func matchesJavaSDK(_ vector: RDSTokenVector) throws {
        func split(_ token: String) -> (prefix: Substring, parameters: [Substring]) {
            let parts = token.split(separator: "?", maxSplits: 1)
            return (parts[0], parts[1].split(separator: "&").sorted())
        }
        let ours = split(try vector.generate())
        let java = split(try #require(vector.javaSDK))
        #expect(ours.prefix == java.prefix)
        #expect(ours.parameters == java.parameters)
        #expect(ours.parameters.count == 8)
    }

    @Test("an IPv6 address is bracketed in the token and in the signed host")
    func ipv6() {
        let token = RDSAuthToken.generate(
            host: "fd00::5", port: 5432, user: "u", region: "us-east-1",
            credentials: AWSCredentials(accessKeyId: "akid", secretAccessKey: "skid"),
            date: Date(timeIntervalSince1970: 0))
        #expect(token.hasPrefix("[fd00::5]:5432/?Action=connect&DBUser=u&"))
        #expect(RDSAuthToken.hostHeader(host: "fd00::5", port: 5432) == "[fd00::5]:5432")
    }
}
