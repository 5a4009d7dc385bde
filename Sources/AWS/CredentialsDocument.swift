import StructuredLogging
import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The JSON that the ECS container endpoint and EC2 instance metadata both return.
struct CredentialsDocument: Decodable {
    var Code: String?
    var AccessKeyId: String?
    var SecretAccessKey: String?
    var Token: String?
    var Expiration: String?

    /// Validates and converts. Messages name fields, never their values: the body is full of secrets.
    static func parse(_ body: [UInt8], source: String, now: Date) throws(AWSError) -> AWSCredentials {
        let document: CredentialsDocument
        do {
            document = try JSONDecoder().decode(CredentialsDocument.self, from: Data(body))
        } catch {
            throw AWSError(
                code: .credentials, message: "\(source) returned a body that is not a credentials JSON object")
        }
        // Register before anything else can fail and mention them.
        if let secret = document.SecretAccessKey { Redaction.shared.register(secret) }
        if let token = document.Token { Redaction.shared.register(token) }
        if let code = document.Code, code != "Success" {
            throw AWSError(
                code: .credentials, message: "\(source) returned Code \(AWSError.singleLine(code, limit: 60))")
        }
        var missing: [String] = []
        if document.AccessKeyId?.isEmpty ?? true { missing.append("AccessKeyId") }
        if document.SecretAccessKey?.isEmpty ?? true { missing.append("SecretAccessKey") }
        if document.Token?.isEmpty ?? true { missing.append("Token") }
        guard missing.isEmpty, let accessKeyId = document.AccessKeyId, let secret = document.SecretAccessKey else {
            throw AWSError(
                code: .credentials, message: "\(source) returned credentials without \(missing.joined(separator: ", "))"
            )
        }
        var expiration: Date?
        if let text = document.Expiration {
            guard let date = UTCTime.parseISO8601(text) else {
                throw AWSError(
                    code: .credentials, message: "\(source) returned an Expiration that is not an RFC 3339 time")
            }
            guard date > now else {
                throw AWSError(
                    code: .credentials,
                    message: "\(source) returned credentials that expired at \(UTCTime.iso8601(date))")
            }
            expiration = date
        }
        return AWSCredentials(
            accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: document.Token, expiration: expiration)
    }
}
