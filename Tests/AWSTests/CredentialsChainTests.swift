import Foundation
import StructuredLogging
import SystemSupport
import Testing

@testable import AWS

/// Credentials JSON as the ECS agent and IMDS send it (IMDS adds `Code`).
func credentialsJSON(
    key: String = "ASIAEXAMPLECONTAINER", secret: String = "container-secret-EXAMPLE-0001",
    token: String? = "container-token-EXAMPLE-0001", expiration: String? = "2099-01-01T00:00:00Z", code: String? = nil
) -> String {
    var fields: [String] = []
    if let code { fields.append("\"Code\":\"\(code)\"") }
    fields.append("\"AccessKeyId\":\"\(key)\"")
    fields.append("\"SecretAccessKey\":\"\(secret)\"")
    if let token { fields.append("\"Token\":\"\(token)\"") }
    if let expiration { fields.append("\"Expiration\":\"\(expiration)\"") }
    return "{" + fields.joined(separator: ",") + "}"
}

@Suite("Credentials chain")
struct CredentialsChainTests {
    @Test("environment credentials, with and without session token")
    func environment() throws {
        let harness = Harness()
        var (credentials, provider) = try CredentialsChain().resolve(harness.context(Harness.exampleKeys))
        #expect(provider == "environment")
        #expect(credentials.accessKeyId == "AKIDEXAMPLE")
        #expect(credentials.sessionToken == nil)

        (credentials, _) = try CredentialsChain().resolve(
            harness.context(Harness.exampleKeys.merging(["AWS_SESSION_TOKEN": "env-token-EXAMPLE-42"]) { $1 }))
        #expect(credentials.sessionToken == "env-token-EXAMPLE-42")
        #expect(Redaction.shared.scrub("env-token-EXAMPLE-42") == "***")
        #expect(Redaction.shared.scrub("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY") == "***")
        #expect(
            harness.log.entries.contains {
                $0.metadata["event"] == "credentials.resolved" && $0.metadata["provider"] == "environment"
            })
        #expect(!harness.log.allText.contains("EXAMPLEKEY"))
    }

    @Test("half a key pair in the environment is an error, not a fall-through")
    func partialEnvironment() throws {
        let error = try #require(
            awsError { try CredentialsChain().resolve(Harness().context(["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"])) })
        #expect(error.code == .credentials)
        #expect(error.description.contains("AWS_SECRET_ACCESS_KEY"))
    }

    @Test("nothing configured: one error that names every provider tried")
    func nothingConfigured() throws {
        let error = try #require(awsError { try CredentialsChain().resolve(Harness().context([:])) })
        #expect(error.code == .credentials)
        #expect(error.description.contains("environment, container, shared-files, imds"))
    }

    // MARK: ECS container endpoint

    @Test("container full URI on loopback, with the authorization token from the variable")
    func containerToken() throws {
        let server = try LocalHTTPServer { request in
            guard request.target == "/v2/credentials/abc", request.header("Authorization") == "container-auth-EXAMPLE-1"
            else {
                return .respond(status: 401, body: "{}")
            }
            return .respond(status: 200, body: credentialsJSON())
        }
        defer { server.stop() }
        let harness = Harness()
        let (credentials, provider) = try CredentialsChain().resolve(
            harness.context([
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v2/credentials/abc",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-auth-EXAMPLE-1",
            ]))
        #expect(provider == "container")
        #expect(credentials.accessKeyId == "ASIAEXAMPLECONTAINER")
        #expect(credentials.sessionToken == "container-token-EXAMPLE-0001")
        #expect(credentials.expiration == UTCTime.parseISO8601("2099-01-01T00:00:00Z"))
        #expect(Redaction.shared.scrub("container-auth-EXAMPLE-1") == "***")
        #expect(Redaction.shared.scrub("container-secret-EXAMPLE-0001") == "***")
        #expect(!harness.log.allText.contains("container-"))
    }

    @Test("the token file wins over the token variable; its final newline is not part of it")
    func containerTokenFile() throws {
        let directory = try temporaryDirectory()
        let file = directory.appendingPathComponent("token")
        try "file-token-EXAMPLE-7\n".write(to: file, atomically: true, encoding: .utf8)
        let server = try LocalHTTPServer { request in
            request.header("Authorization") == "file-token-EXAMPLE-7"
                ? .respond(status: 200, body: credentialsJSON()) : .respond(status: 403, body: "{}")
        }
        defer { server.stop() }
        let (_, provider) = try CredentialsChain().resolve(
            Harness().context([
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "variable-token-EXAMPLE",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": file.path,
            ]))
        #expect(provider == "container")
        #expect(server.requests.count == 1)
    }

    @Test(
        "a token with CR or LF is refused before any request",
        arguments: ["bad\r\nX-Injected: 1", "bad\ntoken", "bad\rtoken"])
    func containerTokenLineBreak(token: String) throws {
        let server = try LocalHTTPServer { _ in .respond(status: 200, body: credentialsJSON()) }
        defer { server.stop() }
        let error = try #require(
            awsError {
                try CredentialsChain().resolve(
                    Harness().context([
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
                    ]))
            })
        #expect(error.code == .credentials)
        #expect(error.description.contains("line break"))
        #expect(server.requests.isEmpty)
    }

    @Test(
        "full URI: only https, loopback and the ECS/EKS hosts over http",
        arguments: [
            ("http://127.0.0.1:9/creds", true), ("http://localhost:9/creds", true), ("http://[::1]:9/creds", true),
            ("http://169.254.170.2/v2/credentials", true), ("http://169.254.170.23/v1/credentials", true),
            ("http://[fd00:ec2::23]/v1/credentials", true), ("https://creds.example.com/x", true),
            ("http://192.0.2.10/creds", false), ("http://creds.example.com/x", false),
            ("http://169.254.169.254/", false),
            ("http://127.0.0.1.nip.io/", false), ("file:///etc/passwd", false),
        ])
    func containerAllowedHosts(url: String, allowed: Bool) throws {
        // Only the endpoint check runs: no request is sent, so no address but loopback is ever contacted.
        let context = Harness().context(["AWS_CONTAINER_CREDENTIALS_FULL_URI": url])
        let error = awsError { try ContainerCredentialsProvider.endpoint(context) }
        #expect((error == nil) == allowed, "\(url): \(error?.description ?? "allowed")")
        if let error { #expect(error.code == .configuration) }
    }

    @Test("relative URI goes to the ECS agent address and wins over the full URI")
    func containerRelative() throws {
        let context = Harness().context([
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/1234-abcd",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/other",
        ])
        #expect(
            try ContainerCredentialsProvider.endpoint(context)?.string
                == "http://169.254.170.2/v2/credentials/1234-abcd")
        let bad = awsError {
            try ContainerCredentialsProvider.endpoint(
                Harness().context(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "@evil.example/x"]))
        }
        #expect(bad?.code == .configuration)
    }

    @Test(
        "broken container responses are credentials errors that quote nothing from the body",
        arguments: [
            (
                LocalHTTPServer.Reply.respond(status: 200, body: credentialsJSON(expiration: "2001-01-01T00:00:00Z")),
                "expired at 2001-01-01T00:00:00Z"
            ),
            (
                .respond(status: 200, body: "<html>container-secret-EXAMPLE-0001</html>"),
                "not a credentials JSON object"
            ),
            (
                .respond(
                    status: 200,
                    body: "{\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"container-secret-EXAMPLE-0001\"}"),
                "without Token"
            ),
            (.respond(status: 200, body: credentialsJSON(expiration: "soon")), "not an RFC 3339 time"),
            (.respond(status: 200, body: "[]"), "not a credentials JSON object"),
            (.respond(status: 404, body: "not here"), "HTTP 404"),
            (.respond(status: 500, body: "{}"), "HTTP 500"),
            (.close, "unreachable"),
            (.raw("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"AccessKeyId\""), "unreachable"),
        ])
    func containerBroken(reply: LocalHTTPServer.Reply, fragment: String) throws {
        let server = try LocalHTTPServer { _ in reply }
        defer { server.stop() }
        let harness = Harness()
        let error = try #require(
            awsError {
                try CredentialsChain().resolve(
                    harness.context(["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds"]))
            })
        #expect(error.code == .credentials)
        #expect(error.description.contains(fragment), "\(error.description)")
        #expect(!error.description.contains("container-secret-EXAMPLE"))
        #expect(!harness.log.allText.contains("container-secret-EXAMPLE"))
    }

    @Test("a container endpoint that fails once is tried again")
    func containerRetry() throws {
        let calls = Recorder<Int>()
        let server = try LocalHTTPServer { _ in
            calls.append(1)
            return calls.values.count == 1
                ? .respond(status: 503, body: "busy") : .respond(status: 200, body: credentialsJSON())
        }
        defer { server.stop() }
        let (_, provider) = try CredentialsChain().resolve(
            Harness().context(["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/c"]))
        #expect(provider == "container")
        #expect(server.requests.count == 2)
    }

    @Test("a hanging container endpoint hits the metadata timeout")
    func containerHang() throws {
        let server = try LocalHTTPServer { _ in .hang(seconds: 10) }
        defer { server.stop() }
        let started = Date()
        let context = Harness().context(
            ["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/c"],
            metadataTimeouts: HTTPTimeouts(connect: .milliseconds(500), total: .milliseconds(700)))
        let error = try #require(awsError { try CredentialsChain().resolve(context) })
        #expect(error.code == .credentials)
        #expect(error.description.contains("timed out"), "\(error.description)")
        // 3 tries of 0.7 s each, not the 10 s the server would hang.
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("environment outranks the container endpoint")
    func environmentFirst() throws {
        let server = try LocalHTTPServer { _ in .respond(status: 200, body: credentialsJSON()) }
        defer { server.stop() }
        let (_, provider) = try CredentialsChain().resolve(
            Harness().context(
                Harness.exampleKeys.merging(["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/c"]) { $1 }))
        #expect(provider == "environment")
        #expect(server.requests.isEmpty)
    }

    // MARK: Shared files

    @Test("shared credentials and config files, AWS_PROFILE, and their precedence")
    func sharedFiles() throws {
        let directory = try temporaryDirectory()
        let credentialsFile = directory.appendingPathComponent("credentials")
        let configFile = directory.appendingPathComponent("config")
        try """
        # comment
        [default]
        aws_access_key_id = AKIDDEFAULTEXAMPLE
        aws_secret_access_key = default-secret-EXAMPLE

        [dev]
        aws_access_key_id=AKIDDEVEXAMPLE
        aws_secret_access_key=dev-secret-EXAMPLE ; trailing comment
        aws_session_token = dev-token-EXAMPLE
        """.write(to: credentialsFile, atomically: true, encoding: .utf8)
        try """
        [default]
        region = us-east-1
        [profile from-config]
        aws_access_key_id = AKIDCONFIGEXAMPLE
        aws_secret_access_key = config-secret-EXAMPLE
        s3 =
          max_concurrent_requests = 10
        [profile dev]
        aws_access_key_id = AKIDSHADOWEDEXAMPLE
        aws_secret_access_key = shadowed-EXAMPLE
        [profile sso-dev]
        sso_session = corp
        sso_account_id = 123456789012
        sso_role_name = Migrator
        [sso-session corp]
        sso_start_url = https://example.awsapps.com/start
        """.write(to: configFile, atomically: true, encoding: .utf8)
        let files = ["AWS_SHARED_CREDENTIALS_FILE": credentialsFile.path, "AWS_CONFIG_FILE": configFile.path]

        var (credentials, provider) = try CredentialsChain().resolve(Harness().context(files))
        #expect(provider == "shared-files")
        #expect(credentials.accessKeyId == "AKIDDEFAULTEXAMPLE")

        (credentials, _) = try CredentialsChain().resolve(
            Harness().context(files.merging(["AWS_PROFILE": "dev"]) { $1 }))
        #expect(credentials.accessKeyId == "AKIDDEVEXAMPLE")
        #expect(credentials.secretAccessKey == "dev-secret-EXAMPLE")
        #expect(credentials.sessionToken == "dev-token-EXAMPLE")

        (credentials, _) = try CredentialsChain().resolve(
            Harness().context(files.merging(["AWS_PROFILE": "from-config"]) { $1 }))
        #expect(credentials.accessKeyId == "AKIDCONFIGEXAMPLE")

        let sso = try #require(
            awsError {
                try CredentialsChain().resolve(Harness().context(files.merging(["AWS_PROFILE": "sso-dev"]) { $1 }))
            })
        #expect(sso.code == .credentials)
        #expect(sso.description.contains("aws configure export-credentials --profile sso-dev"))

        let missing = try #require(
            awsError {
                try CredentialsChain().resolve(Harness().context(files.merging(["AWS_PROFILE": "nope"]) { $1 }))
            })
        #expect(missing.description.contains("profile nope"))

        // The container endpoint outranks the files (contract order).
        let server = try LocalHTTPServer { _ in .respond(status: 200, body: credentialsJSON()) }
        defer { server.stop() }
        (_, provider) = try CredentialsChain().resolve(
            Harness().context(files.merging(["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/c"]) { $1 }))
        #expect(provider == "container")
    }

    // MARK: EC2 instance metadata (IMDSv2)

    /// A fake IMDS: token PUT with a TTL header, then role list and role credentials with that token.
    static func imds(
        credentials: String = credentialsJSON(code: "Success"), role: String = "migrator-role", rolesStatus: Int = 200
    )
        throws -> LocalHTTPServer
    {
        try LocalHTTPServer { request in
            switch (request.method, request.target) {
            case ("PUT", "/latest/api/token"):
                guard request.header("X-aws-ec2-metadata-token-ttl-seconds") == "21600" else {
                    return .respond(status: 400)
                }
                return .respond(status: 200, body: "imds-session-token-EXAMPLE")
            case (_, _) where request.header("X-aws-ec2-metadata-token") != "imds-session-token-EXAMPLE":
                return .respond(status: 401)
            case ("GET", "/latest/meta-data/iam/security-credentials/"):
                return .respond(status: rolesStatus, body: role + "\n")
            case ("GET", "/latest/meta-data/iam/security-credentials/\(role)"):
                return .respond(status: 200, body: credentials)
            default:
                return .respond(status: 404)
            }
        }
    }

    func imdsEnvironment(_ server: LocalHTTPServer) -> [String: String] {
        ["AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url]
    }

    @Test("IMDSv2: token, role, credentials")
    func imdsHappy() throws {
        let server = try Self.imds()
        defer { server.stop() }
        let (credentials, provider) = try CredentialsChain().resolve(Harness().context(imdsEnvironment(server)))
        #expect(provider == "imds")
        #expect(credentials.sessionToken == "container-token-EXAMPLE-0001")
        #expect(
            server.requests.map { "\($0.method) \($0.target)" } == [
                "PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
                "GET /latest/meta-data/iam/security-credentials/migrator-role",
            ])
        #expect(server.requests[0].header("Content-Length") == "0")
        #expect(Redaction.shared.scrub("imds-session-token-EXAMPLE") == "***")
    }

    @Test(
        "IMDS errors: malformed, expired, failed",
        arguments: [
            (credentialsJSON(expiration: "2000-01-01T00:00:00Z", code: "Success"), "expired at 2000-01-01"),
            ("{not json", "not a credentials JSON object"),
            (credentialsJSON(code: "AssumeRoleUnauthorizedAccess"), "Code AssumeRoleUnauthorizedAccess"),
            (credentialsJSON(token: nil, code: "Success"), "without Token"),
        ])
    func imdsBroken(body: String, fragment: String) throws {
        let server = try Self.imds(credentials: body)
        defer { server.stop() }
        let error = try #require(
            awsError { try CredentialsChain().resolve(Harness().context(imdsEnvironment(server))) })
        #expect(error.code == .credentials)
        #expect(error.description.contains(fragment), "\(error.description)")
        #expect(!error.description.contains("container-secret-EXAMPLE"))
    }

    @Test("IMDS with no role, or not there at all, ends the chain with the reason")
    func imdsUnavailable() throws {
        let noRole = try Self.imds(rolesStatus: 404)
        defer { noRole.stop() }
        var error = try #require(
            awsError { try CredentialsChain().resolve(Harness().context(imdsEnvironment(noRole))) })
        #expect(error.description.contains("no AWS credentials found"))
        #expect(error.description.contains("no IAM role"))

        // A port nothing listens on: connection refused, quickly.
        let closed = try LocalHTTPServer { _ in .close }
        let port = closed.port
        closed.stop()
        error = try #require(
            awsError {
                try CredentialsChain().resolve(
                    Harness().context([
                        "AWS_EC2_METADATA_DISABLED": "false",
                        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(port)",
                    ]))
            })
        #expect(error.description.contains("no AWS credentials found"))
        #expect(error.description.contains("imds: instance metadata 127.0.0.1:\(port) unreachable"))
    }

    @Test("AWS_EC2_METADATA_DISABLED=true skips IMDS without a request")
    func imdsDisabled() throws {
        let server = try Self.imds()
        defer { server.stop() }
        var environment = imdsEnvironment(server)
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        let error = awsError { try CredentialsChain().resolve(Harness().context(environment)) }
        #expect(error?.code == .credentials)
        #expect(error?.description.contains("imds: disabled by AWS_EC2_METADATA_DISABLED") == true)
        #expect(server.requests.isEmpty)
    }
}
