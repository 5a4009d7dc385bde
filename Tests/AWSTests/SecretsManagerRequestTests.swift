import Foundation
import Testing

@testable import AWS

/// The client must put on the wire exactly the request of the Secrets Manager vectors: same signed
/// headers, same body bytes, same signature.
@Suite("GetSecretValue request bytes")
struct SecretsManagerRequestTests {
    @Test("client request matches the vector", arguments: SigV4Vector.secretsManager)
    func clientMatchesVector(_ vector: SigV4Vector) throws {
        let input = try vector.request()
        let (signer, date, _) = try vector.signer()
        let bodyJSON = try #require(try JSONSerialization.jsonObject(with: Data(input.body)) as? [String: String])
        let body = SecretsManagerClient.requestBody(
            secretId: try #require(bodyJSON["SecretId"]), versionStage: bodyJSON["VersionStage"])
        #expect(body == input.body, "body bytes differ from request.txt")

        let context = Harness().context([:])
        let client = SecretsManagerClient(
            region: signer.region,
            endpoint: try SecretsManagerEndpoint.resolve(region: signer.region, context: context),
            context: context, retry: RetryStrategy(maxAttempts: 1))
        let (request, signature) = client.signedRequest(body: body, credentials: signer.credentials, date: date)

        #expect(signature == (try vector.file("header-signature.txt")))
        #expect(request.method == "POST")
        #expect(request.url == "https://secretsmanager.\(signer.region).amazonaws.com/")
        #expect(request.body == input.body)
        let expected = SigV4Vector.ParsedRequest(try vector.file("header-signed-request.txt"))
        #expect(request.headers.map { "\($0.name):\($0.value)" }.sorted() == expected.headerLines.sorted())
    }

    @Test(
        "JSON string escaping keeps / and non-ASCII, escapes quotes and controls",
        arguments: [
            ("staging/bcos-secrets", #"{"SecretId":"staging/bcos-secrets"}"#),
            (#"a"b\c"#, #"{"SecretId":"a\"b\\c"}"#),
            ("tab\there\nnl\u{01}", #"{"SecretId":"tab\there\nnl\u0001"}"#),
            ("prod/ünïcødé", #"{"SecretId":"prod/ünïcødé"}"#),
        ])
    func bodyEscaping(secretId: String, expected: String) throws {
        let body = SecretsManagerClient.requestBody(secretId: secretId)
        #expect(String(decoding: body, as: UTF8.self) == expected)
        // And it is JSON that any parser reads back to the same id.
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: String])
        #expect(parsed["SecretId"] == secretId)
    }
}
