import AWS
import Foundation
import SystemSupport
import TestSupport
import Testing

/// The client against moto with IAM request authentication on: moto recomputes every signature with
/// botocore and rejects the request when ours differs, so these pass only if our signing, headers and
/// body bytes are what AWS expects.
@Suite("Secrets Manager against moto (signatures verified)", .enabled(if: MotoFixture.shouldRun))
struct MotoTests {
    func resolve(_ environment: [String: String], secretId: String, key: String = "DATABASE_URL", log: LogCapture)
        throws -> String
    {
        let resolver = SecretsManagerDatabaseURL(
            environment: Harness.isolatedEnvironment.merging(environment) { $1 }, logger: log.logger,
            interruption: Interruption())
        return try resolver.resolve(secretId: secretId, key: key)
    }

    func assertNoSecrets(_ moto: MotoFixture, _ texts: [String]) {
        let secrets =
            [
                moto.user.secret_access_key, moto.session.secret_access_key, moto.session.session_token ?? "",
                "Signature=",
            ]
            + moto.secrets.values.map(\.value) + ["moto-json-pass", "moto-rds-pass", "moto-bare-pass"]
        for text in texts {
            for secret in secrets where !secret.isEmpty {
                #expect(!text.contains(secret), "output contains secret material")
            }
        }
    }

    @Test("the right key fetches the secret, by name and by ARN")
    func rightKey() throws {
        guard let moto = MotoFixture.require() else { return }
        let log = LogCapture()
        let byName = try resolve(moto.environment(moto.user), secretId: moto.secret("json_url").name, log: log)
        #expect(byName == "postgres://app:moto-json-pass-EXAMPLE@db.example.internal:5432/app")
        // No AWS_REGION: the region comes from the ARN.
        let byARN = try resolve(
            moto.environment(moto.user, region: nil), secretId: moto.secret("json_url").arn, log: log)
        #expect(byARN == byName)
        #expect(log.events.filter { $0 == "secret.fetched" }.count == 2)
        #expect(!log.events.contains("secret.retry"))
        assertNoSecrets(moto, [log.allText])
    }

    @Test("RDS-style and bare-URL secrets")
    func otherShapes() throws {
        guard let moto = MotoFixture.require() else { return }
        let log = LogCapture()
        #expect(
            try resolve(moto.environment(moto.user), secretId: moto.secret("rds").name, log: log)
                == "postgresql://app:moto-rds-pass%2FEXAMPLE%401@db.example.internal:5432/bcos")
        #expect(
            try resolve(moto.environment(moto.user), secretId: moto.secret("bare_url").name, log: log)
                == "postgresql://app:moto-bare-pass-EXAMPLE@db.example.internal/app")
        assertNoSecrets(moto, [log.allText])
    }

    @Test("session-token credentials (an assumed role) work")
    func sessionToken() throws {
        guard let moto = MotoFixture.require() else { return }
        #expect(moto.session.session_token != nil)
        let log = LogCapture()
        let url = try resolve(moto.environment(moto.session), secretId: moto.secret("json_url").name, log: log)
        #expect(url.hasPrefix("postgres://app:"))
        assertNoSecrets(moto, [log.allText])
    }

    @Test("a wrong secret key gets moto's signature error, once, without retries")
    func wrongSecretKey() throws {
        guard let moto = MotoFixture.require() else { return }
        var keys = moto.user
        keys.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGKEY"
        let log = LogCapture()
        let error = try #require(
            awsError { try resolve(moto.environment(keys), secretId: moto.secret("json_url").name, log: log) })
        #expect(error.code == .service)
        #expect(error.awsErrorCode == "SignatureDoesNotMatch")
        #expect(error.httpStatus == 403)
        #expect(error.description.contains("SignatureDoesNotMatch, HTTP 403"))
        #expect(!log.events.contains("secret.retry"))
        assertNoSecrets(moto, [log.allText, error.description])
        #expect(!error.description.contains("WRONGKEY"))
        #expect(!log.allText.contains("WRONGKEY"))
    }

    @Test("a wrong session token and an unknown access key are refused")
    func wrongTokenAndKey() throws {
        guard let moto = MotoFixture.require() else { return }
        var badToken = moto.session
        badToken.session_token = "not-the-session-token-EXAMPLE"
        let tokenError = awsError {
            try resolve(moto.environment(badToken), secretId: moto.secret("json_url").name, log: LogCapture())
        }
        #expect(tokenError?.code == .service)
        #expect(tokenError?.httpStatus == 403)
        #expect(tokenError?.awsErrorCode == "InvalidClientTokenId")

        var unknown = moto.user
        unknown.access_key_id = "AKIAIOSFODNN7EXAMPLE"
        let keyError = awsError {
            try resolve(moto.environment(unknown), secretId: moto.secret("json_url").name, log: LogCapture())
        }
        #expect(keyError?.awsErrorCode == "InvalidClientTokenId")
    }

    @Test("an unknown secret is ResourceNotFoundException with a request id, not retried")
    func unknownSecret() throws {
        guard let moto = MotoFixture.require() else { return }
        let log = LogCapture()
        let error = try #require(
            awsError { try resolve(moto.environment(moto.user), secretId: "migrator/test/does-not-exist", log: log) })
        #expect(error.code == .service)
        #expect(error.awsErrorCode == "ResourceNotFoundException")
        // AWS answers 400; moto 5 answers 404. Either way it is final.
        let status = try #require(error.httpStatus)
        #expect([400, 404].contains(status))
        #expect(error.description.contains("ResourceNotFoundException, HTTP \(status), request id "))
        #expect(!log.events.contains("secret.retry"))
    }

    @Test("a secret stored at test time, with a custom key and awkward characters in its name")
    func storedAtTestTime() throws {
        guard let moto = MotoFixture.require() else { return }
        let name = "migrator/test/custom+key=@._-\(UUID().uuidString.prefix(8))"
        try moto.putSecret(
            name: name,
            value: #"{"PRIMARY_URL":"postgres://u:custom-pass-EXAMPLE@h/d","DATABASE_URL":"postgres://other"}"#)
        let log = LogCapture()
        #expect(
            try resolve(moto.environment(moto.user), secretId: name, key: "PRIMARY_URL", log: log)
                == "postgres://u:custom-pass-EXAMPLE@h/d")
        #expect(!log.allText.contains("custom-pass-EXAMPLE"))
    }
}
