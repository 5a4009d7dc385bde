import Foundation
import StructuredLogging
import Testing

@testable import AWS

/// The GetSecretValue client against a local server that misbehaves on purpose.
@Suite("GetSecretValue under faults")
struct FaultInjectionTests {
    static let databaseURL = "postgres://app:fault-pass-EXAMPLE-9@db.internal:5432/app"
    static let secretString = "{\"DATABASE_URL\":\"\(databaseURL)\"}"
    static let okBody = getSecretValueBody(secretString)

    func environment(_ server: LocalHTTPServer, _ extra: [String: String] = [:]) -> [String: String] {
        Harness.exampleKeys.merging(["AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.url]) { $1 }.merging(extra) {
            $1
        }
    }

    /// Replies from `script` in order, repeating the last one.
    static func scripted(_ script: [LocalHTTPServer.Reply]) throws -> LocalHTTPServer {
        let calls = Recorder<Int>()
        return try LocalHTTPServer { _ in
            calls.append(1)
            return script[min(calls.values.count, script.count) - 1]
        }
    }

    func assertClean(_ harness: Harness, _ error: AWSError? = nil) {
        let texts = [harness.log.allText, error?.description ?? ""]
        for text in texts {
            #expect(!text.contains("fault-pass-EXAMPLE"))
            #expect(!text.contains("EXAMPLEKEY"))
            #expect(!text.contains("Signature="))
        }
    }

    @Test("the request on the wire: POST /, JSON 1.1, target, exact body, signed")
    func wireFormat() throws {
        let server = try Self.scripted([.respond(status: 200, body: Self.okBody)])
        defer { server.stop() }
        let harness = Harness()
        let url = try harness.resolver(environment(server)).resolve(
            secretId: "staging/bcos-secrets", key: "DATABASE_URL")
        #expect(url == Self.databaseURL)
        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.target == "/")
        #expect(request.header("Content-Type") == "application/x-amz-json-1.1")
        #expect(request.header("X-Amz-Target") == "secretsmanager.GetSecretValue")
        #expect(request.header("Host") == "127.0.0.1:\(server.port)")
        #expect(request.bodyText == #"{"SecretId":"staging/bcos-secrets"}"#)
        #expect(request.header("Expect") == nil)
        let authorization = try #require(request.header("Authorization"))
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"))
        #expect(
            authorization.contains(
                "/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
            ))
        #expect(harness.log.events == ["secret.fetching", "credentials.resolved", "secret.fetched"])
        assertClean(harness)
    }

    @Test("500 then 200 succeeds on the second attempt")
    func serverErrorThenSuccess() throws {
        let server = try Self.scripted([
            .respond(
                status: 500, headers: [("x-amzn-RequestId", "req-500")],
                body: awsErrorBody("InternalServiceError", "boom")),
            .respond(status: 200, body: Self.okBody),
        ])
        defer { server.stop() }
        let harness = Harness()
        let url = try harness.resolver(environment(server)).resolve(
            secretId: "staging/bcos-secrets", key: "DATABASE_URL")
        #expect(url == Self.databaseURL)
        #expect(server.requests.count == 2)
        // Each attempt is signed afresh (new X-Amz-Date, new signature), not replayed.
        #expect(harness.log.events == ["secret.fetching", "credentials.resolved", "secret.retry", "secret.fetched"])
        let retry = try #require(harness.log.entries.first { $0.metadata["event"] == "secret.retry" })
        #expect(retry.metadata["http_status"] == "500")
        #expect(retry.metadata["aws_error_code"] == "InternalServiceError")
        assertClean(harness)
    }

    @Test("throttling is retried with exponential backoff and full jitter")
    func throttling() throws {
        let throttled = LocalHTTPServer.Reply.respond(
            status: 400, headers: [("x-amzn-RequestId", "req-throttle")],
            body: awsErrorBody("ThrottlingException", "Rate exceeded"))
        let server = try Self.scripted([throttled, throttled, throttled, .respond(status: 200, body: Self.okBody)])
        defer { server.stop() }
        let harness = Harness()
        let url = try harness.resolver(environment(server, ["AWS_MAX_ATTEMPTS": "4"]), random: 0.5)
            .resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
        #expect(url == Self.databaseURL)
        #expect(server.requests.count == 4)
        #expect(harness.sleeps.values == [.milliseconds(50), .milliseconds(100), .milliseconds(200)])
        let signatures = Set(server.requests.compactMap { $0.header("Authorization") })
        #expect(signatures.count >= 1)
    }

    @Test("throttling that never stops: AWS_MAX_ATTEMPTS attempts, then the error")
    func throttlingExhausted() throws {
        let server = try Self.scripted([
            .respond(
                status: 400, headers: [("x-amzn-RequestId", "req-throttle-9")],
                body: awsErrorBody("ThrottlingException", "Rate exceeded"))
        ])
        defer { server.stop() }
        let harness = Harness()
        let error = try #require(
            awsError {
                try harness.resolver(environment(server)).resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
            })
        #expect(server.requests.count == 3)
        #expect(harness.sleeps.values == [.milliseconds(100), .milliseconds(200)])
        #expect(error.code == .service)
        #expect(error.awsErrorCode == "ThrottlingException")
        #expect(error.httpStatus == 400)
        #expect(error.requestId == "req-throttle-9")
        #expect(error.description.contains("ThrottlingException, HTTP 400, request id req-throttle-9"))
    }

    @Test(
        "errors that are never retried",
        arguments: [
            ("ResourceNotFoundException", "Secrets Manager can't find the specified secret."),
            ("AccessDeniedException", "User is not authorized to perform: secretsmanager:GetSecretValue"),
            (
                "DecryptionFailure",
                "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
            ),
            (
                "com.amazonaws.secretsmanager#InvalidSignatureException",
                "The request signature we calculated does not match"
            ),
            ("UnrecognizedClientException", "The security token included in the request is invalid."),
        ])
    func notRetried(type: String, message: String) throws {
        let server = try Self.scripted([
            .respond(status: 400, headers: [("x-amzn-RequestId", "req-final")], body: awsErrorBody(type, message))
        ])
        defer { server.stop() }
        let harness = Harness()
        let error = try #require(
            awsError {
                try harness.resolver(environment(server)).resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
            })
        #expect(server.requests.count == 1)
        #expect(harness.sleeps.values.isEmpty)
        let code = String(type.split(separator: "#").last!)
        #expect(error.awsErrorCode == code)
        #expect(
            error.description
                == "AWS service error: GetSecretValue failed: \(message) (\(code), HTTP 400, request id req-final)")
        assertClean(harness, error)
    }

    @Test("XML error bodies (query protocol, proxies) and x-amzn-ErrorType headers are understood")
    func otherErrorShapes() throws {
        let xml = try Self.scripted([
            .respond(
                status: 403,
                body:
                    "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match.\nThe Canonical String for this request should have been x-amz-security-token:SECRET</Message></Error><RequestId>xml-req-1</RequestId></ErrorResponse>"
            )
        ])
        defer { xml.stop() }
        var error = try #require(
            awsError { try Harness().resolver(environment(xml)).resolve(secretId: "s", key: "DATABASE_URL") })
        #expect(error.awsErrorCode == "SignatureDoesNotMatch")
        #expect(error.requestId == "xml-req-1")
        #expect(!error.description.contains("SECRET"))
        #expect(xml.requests.count == 1)

        let header = try Self.scripted([
            .respond(
                status: 400, headers: [("x-amzn-ErrorType", "AccessDeniedException:http://internal.amazon.com/")],
                body: "")
        ])
        defer { header.stop() }
        error = try #require(
            awsError { try Harness().resolver(environment(header)).resolve(secretId: "s", key: "DATABASE_URL") })
        #expect(error.awsErrorCode == "AccessDeniedException")
        #expect(header.requests.count == 1)
    }

    @Test("ExpiredTokenException: credentials are resolved again, once")
    func expiredTokenRefresh() throws {
        // The container endpoint hands out a stale key first, then a fresh one; Secrets Manager accepts
        // only the fresh one.
        let handedOut = Recorder<Int>()
        let credentialsServer = try LocalHTTPServer { _ in
            handedOut.append(1)
            let key = handedOut.values.count == 1 ? "ASIASTALEEXAMPLE" : "ASIAFRESHEXAMPLE"
            return .respond(status: 200, body: credentialsJSON(key: key))
        }
        defer { credentialsServer.stop() }
        let secrets = try LocalHTTPServer { request in
            (request.header("Authorization") ?? "").contains("Credential=ASIAFRESHEXAMPLE/")
                ? .respond(status: 200, body: Self.okBody)
                : .respond(
                    status: 400,
                    body: awsErrorBody("ExpiredTokenException", "The security token included in the request is expired")
                )
        }
        defer { secrets.stop() }
        let harness = Harness()
        let url = try harness.resolver([
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": secrets.url,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": credentialsServer.url + "/creds",
        ]).resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
        #expect(url == Self.databaseURL)
        #expect(handedOut.values.count == 2)
        #expect(secrets.requests.count == 2)
        #expect(secrets.requests[1].header("X-Amz-Security-Token") == "container-token-EXAMPLE-0001")
        #expect(harness.log.events.contains("credentials.refresh"))

        // Environment credentials cannot be refreshed: a second ExpiredTokenException is final.
        let always = try Self.scripted([.respond(status: 400, body: awsErrorBody("ExpiredTokenException", "expired"))])
        defer { always.stop() }
        let error = try #require(
            awsError { try Harness().resolver(environment(always)).resolve(secretId: "s", key: "DATABASE_URL") })
        #expect(error.awsErrorCode == "ExpiredTokenException")
        #expect(always.requests.count == 2)
    }

    @Test("a hanging server hits the timeout, and the timeout is retried")
    func hang() throws {
        let server = try Self.scripted([.hang(seconds: 10)])
        defer { server.stop() }
        let harness = Harness()
        let started = Date()
        let error = try #require(
            awsError {
                try harness.resolver(
                    environment(server, ["AWS_MAX_ATTEMPTS": "2"]),
                    serviceTimeouts: HTTPTimeouts(connect: .milliseconds(500), total: .milliseconds(600))
                ).resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
            })
        #expect(error.code == .timeout)
        #expect(server.requests.count == 2)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("a 200 with a garbage body is an invalid response, not retried, and not quoted")
    func garbageBody() throws {
        let server = try Self.scripted([.respond(status: 200, body: "<<garbage fault-pass-EXAMPLE-9>>")])
        defer { server.stop() }
        let harness = Harness()
        let error = try #require(
            awsError {
                try harness.resolver(environment(server)).resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
            })
        #expect(error.code == .invalidResponse)
        #expect(error.httpStatus == 200)
        #expect(server.requests.count == 1)
        assertClean(harness, error)
    }

    @Test("a non-JSON 502 from a proxy is retried like any 5xx")
    func garbage502() throws {
        let server = try Self.scripted([
            .respond(status: 502, body: "<html>Bad Gateway</html>"), .respond(status: 200, body: Self.okBody),
        ])
        defer { server.stop() }
        #expect(
            try Harness().resolver(environment(server)).resolve(secretId: "s", key: "DATABASE_URL") == Self.databaseURL)
        #expect(server.requests.count == 2)
    }

    @Test("connection closed without a response is a network error, retried")
    func closed() throws {
        let server = try Self.scripted([.close])
        defer { server.stop() }
        let error = try #require(
            awsError { try Harness().resolver(environment(server)).resolve(secretId: "s", key: "DATABASE_URL") })
        #expect(error.code == .network)
        #expect(server.requests.count == 3)
    }

    @Test("nothing listening: network error after the attempts")
    func refused() throws {
        let closed = try LocalHTTPServer { _ in .close }
        let port = closed.port
        closed.stop()
        let harness = Harness()
        let error = try #require(
            awsError {
                try harness.resolver(
                    Harness.exampleKeys.merging([
                        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:\(port)",
                    ]) { $1 }
                )
                .resolve(secretId: "s", key: "DATABASE_URL")
            })
        #expect(error.code == .network)
        #expect(harness.sleeps.values.count == 2)
    }

    @Test("a secret that holds no usable URL: keys named, values not")
    func unusableSecret() throws {
        let server = try Self.scripted([
            .respond(status: 200, body: getSecretValueBody(#"{"username":"u","token":"fault-pass-EXAMPLE-9"}"#))
        ])
        defer { server.stop() }
        let harness = Harness()
        let error = try #require(
            awsError { try harness.resolver(environment(server)).resolve(secretId: "s", key: "DATABASE_URL") })
        #expect(error.code == .secretFormat)
        #expect(error.description.contains("keys found: \"token\", \"username\""))
        assertClean(harness, error)

        let binary = try Self.scripted([.respond(status: 200, body: #"{"Name":"s","SecretBinary":"AAEC"}"#)])
        defer { binary.stop() }
        let binaryError = awsError {
            try Harness().resolver(environment(binary)).resolve(secretId: "s", key: "DATABASE_URL")
        }
        #expect(binaryError?.code == .secretFormat)
        #expect(binaryError?.description.contains("SecretBinary") == true)
    }
}
