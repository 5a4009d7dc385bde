import Logging
import StructuredLogging
import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `secretsmanager:GetSecretValue` over the JSON 1.1 protocol, signed by us and sent through libcurl.
struct SecretsManagerClient: Sendable {
    var region: String
    var endpoint: EndpointURL
    var context: AWSContext
    var retry: RetryStrategy
    var credentialsChain = CredentialsChain()

    static let target = "secretsmanager.GetSecretValue"
    static let contentType = "application/x-amz-json-1.1"

    /// The exact body bytes: compact JSON, `SecretId` before `VersionStage`, no `\/` escaping. The
    /// signature covers them, and the test vectors pin them.
    static func requestBody(secretId: String, versionStage: String? = nil) -> [UInt8] {
        var json = "{\"SecretId\":" + JSONLogHandler.jsonString(secretId)
        if let versionStage { json += ",\"VersionStage\":" + JSONLogHandler.jsonString(versionStage) }
        json += "}"
        return Array(json.utf8)
    }

    /// The request as sent: the headers we sign (`Content-Type`, `Host`, `X-Amz-Target`) plus the SigV4
    /// headers. libcurl adds `Content-Length`, `Accept` and `User-Agent` unsigned, as botocore does.
    func signedRequest(body: [UInt8], credentials: AWSCredentials, date: Date) -> (HTTPRequest, signature: String) {
        let headers = [
            HTTPHeader("Content-Type", Self.contentType),
            HTTPHeader("Host", endpoint.hostHeader),
            HTTPHeader("X-Amz-Target", Self.target),
        ]
        let signer = SigV4Signer(credentials: credentials, region: region, service: "secretsmanager")
        let signature = signer.signHeaders(
            SigningRequest(method: "POST", path: endpoint.path, query: endpoint.query, headers: headers, body: body),
            date: date)
        let request = HTTPRequest(
            method: "POST", url: endpoint.string, headers: headers + signature.addedHeaders, body: body,
            timeouts: context.serviceTimeouts)
        return (request, signature.signature)
    }

    struct GetSecretValueOutput: Decodable {
        var ARN: String?
        var Name: String?
        var VersionId: String?
        var SecretString: String?
        var SecretBinary: String?
    }

    func getSecretValue(secretId: String, versionStage: String? = nil) throws(AWSError) -> GetSecretValueOutput {
        let body = Self.requestBody(secretId: secretId, versionStage: versionStage)
        var (credentials, _) = try credentialsChain.resolve(context)
        var refreshedCredentials = false
        var attempt = 1
        while true {
            do {
                return try send(body: body, credentials: credentials)
            } catch let error {
                if !refreshedCredentials,
                    error.awsErrorCode == "ExpiredTokenException" || error.awsErrorCode == "ExpiredToken"
                {
                    // Temporary credentials can expire between fetching and using them (a long-lived
                    // ECS task, a stale export on a laptop). One fresh look costs little.
                    refreshedCredentials = true
                    context.logger.event(
                        .info, "credentials.refresh", "credentials expired, resolving them again",
                        ["aws_error_code": .string(error.awsErrorCode ?? "")])
                    (credentials, _) = try credentialsChain.resolve(context)
                    continue
                }
                guard RetryStrategy.isRetryable(error), attempt < retry.maxAttempts else { throw error }
                let delay = retry.delay(afterAttempt: attempt, random: context.random())
                var fields: Logger.Metadata = [
                    "attempt": .int(attempt), "max_attempts": .int(retry.maxAttempts),
                    "delay_ms": .int(delay.milliseconds),
                    "error": .string(error.description),
                ]
                if let code = error.awsErrorCode { fields["aws_error_code"] = .string(code) }
                if let status = error.httpStatus { fields["http_status"] = .int(status) }
                context.logger.event(.warning, "secret.retry", "GetSecretValue failed, retrying", fields)
                context.sleep(delay)
                attempt += 1
            }
        }
    }

    private func send(body: [UInt8], credentials: AWSCredentials) throws(AWSError) -> GetSecretValueOutput {
        let (request, signature) = signedRequest(body: body, credentials: credentials, date: context.now())
        Redaction.shared.register(signature)
        let response: HTTPResponse
        do {
            response = try context.transport.send(request)
        } catch {
            throw error.awsError
        }
        let requestId =
            response.headers.first(named: "x-amzn-RequestId") ?? response.headers.first(named: "x-amz-request-id")
        guard response.status == 200 else {
            throw Self.serviceError(response, requestId: requestId)
        }
        let output: GetSecretValueOutput
        do {
            output = try JSONDecoder().decode(GetSecretValueOutput.self, from: Data(response.body))
        } catch {
            // Never echo the body: it would be the secret if only the framing were off.
            throw AWSError(
                code: .invalidResponse,
                message: "GetSecretValue returned HTTP 200 with a body that is not the expected JSON",
                httpStatus: 200, requestId: requestId.map { AWSError.singleLine($0, limit: 100) })
        }
        if let secret = output.SecretString { Redaction.shared.registerWhole(secret) }
        return output
    }

    /// AWS JSON-protocol errors carry `__type` (sometimes `namespace#Code`) and `message`/`Message`, or
    /// the code in `x-amzn-ErrorType`. Query-protocol style XML (`<Code>`), which moto and proxies send
    /// for authentication failures, is read too.
    static func serviceError(_ response: HTTPResponse, requestId: String?) -> AWSError {
        struct JSONError: Decodable {
            var __type: String?
            var code: String?
            var message: String?
            var Message: String?
        }
        var code: String?
        var message: String?
        var requestId = requestId
        if let parsed = try? JSONDecoder().decode(JSONError.self, from: Data(response.body)) {
            code = parsed.__type ?? parsed.code
            message = parsed.message ?? parsed.Message
        } else {
            let text = String(decoding: response.body.prefix(16_384), as: UTF8.self)
            code = xmlElement("Code", in: text)
            message = xmlElement("Message", in: text)
            requestId = requestId ?? xmlElement("RequestId", in: text) ?? xmlElement("RequestID", in: text)
        }
        if code == nil, let header = response.headers.first(named: "x-amzn-ErrorType") {
            code = String(header.split(separator: ":").first ?? "")
        }
        if let raw = code, let hash = raw.lastIndex(of: "#") {
            code = String(raw[raw.index(after: hash)...])
        }
        code = code.map { AWSError.singleLine($0, limit: 100) }.flatMap { $0.isEmpty ? nil : $0 }
        let text = message.map { AWSError.singleLine($0) }.flatMap { $0.isEmpty ? nil : $0 }
        return AWSError(
            code: .service,
            message: "GetSecretValue failed" + (text.map { ": \($0)" } ?? ""),
            awsErrorCode: code, httpStatus: response.status,
            requestId: requestId.map { AWSError.singleLine($0, limit: 100) })
    }

    private static func xmlElement(_ name: String, in text: String) -> String? {
        guard let start = text.firstRange(of: "<\(name)>"),
            let end = text[start.upperBound...].firstRange(of: "</\(name)>")
        else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
