import StructuredLogging

/// EC2 instance metadata, IMDSv2 only: a session token from `PUT /latest/api/token`, then the role name,
/// then its credentials. IMDSv1 (no token) is not used: it is the variant SSRF attacks reach.
///
/// `AWS_EC2_METADATA_DISABLED=true` turns it off; `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it (tests
/// use a loopback server).
struct InstanceMetadataCredentialsProvider: CredentialsProvider {
    let name = "imds"

    static let defaultEndpoint = "http://169.254.169.254"
    static let defaultIPv6Endpoint = "http://[fd00:ec2::254]"

    func credentials(_ context: AWSContext) throws(AWSError) -> CredentialsLookup {
        if context.flag("AWS_EC2_METADATA_DISABLED") { return .unavailable("disabled by AWS_EC2_METADATA_DISABLED") }
        let base = try Self.endpoint(context)

        let token: String
        do {
            let response = try MetadataRequests.send(
                "PUT", base.appendingPath("/latest/api/token"),
                headers: [HTTPHeader("X-aws-ec2-metadata-token-ttl-seconds", "21600")], context: context)
            token = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
        } catch {
            // Off EC2 (a laptop, CI) this is where the chain ends: say why, but as "not here".
            return .unavailable("instance metadata \(base.hostHeader) \(error.text)")
        }
        Redaction.shared.register(token)
        guard !token.isEmpty, !token.contains(where: \.isNewline) else {
            throw AWSError(code: .credentials, message: "instance metadata returned an unusable session token")
        }
        let tokenHeader = [HTTPHeader("X-aws-ec2-metadata-token", token)]

        let rolesPath = base.appendingPath("/latest/meta-data/iam/security-credentials/")
        let roleName: String
        do {
            let response = try MetadataRequests.send("GET", rolesPath, headers: tokenHeader, context: context)
            roleName =
                String(decoding: response.body, as: UTF8.self)
                .split(whereSeparator: \.isNewline).first.map { String($0).trimmingCharacters(in: " \t") } ?? ""
        } catch .status(404) {
            return .unavailable("instance has no IAM role attached")
        } catch {
            throw AWSError(code: .credentials, message: "instance metadata role lookup: \(error.text)")
        }
        guard !roleName.isEmpty,
            roleName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+=,.@_-".contains($0)) })
        else {
            throw AWSError(code: .credentials, message: "instance metadata returned a malformed role name")
        }

        let response: HTTPResponse
        do {
            response = try MetadataRequests.send(
                "GET", rolesPath.appendingPath(roleName), headers: tokenHeader, context: context)
        } catch {
            throw AWSError(
                code: .credentials, message: "instance metadata credentials for role \(roleName): \(error.text)")
        }
        return .found(try CredentialsDocument.parse(response.body, source: "instance metadata", now: context.now()))
    }

    static func endpoint(_ context: AWSContext) throws(AWSError) -> EndpointURL {
        if let text = context.env("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
            guard let url = EndpointURL(text) else {
                throw AWSError(code: .configuration, message: "AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http(s) URL")
            }
            return url
        }
        let ipv6 = context.env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")?.lowercased() == "ipv6"
        return EndpointURL(ipv6 ? defaultIPv6Endpoint : defaultEndpoint)!
    }
}
