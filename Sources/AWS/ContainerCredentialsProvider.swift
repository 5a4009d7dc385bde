import StructuredLogging
import SystemSupport

/// The ECS task role (and EKS Pod Identity) endpoint.
///
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` always goes to the ECS agent at 169.254.170.2.
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` may point elsewhere, but only to https, to loopback, or to the
/// ECS/EKS link-local hosts: anything else would let whoever controls the variable receive our
/// authorization token.
struct ContainerCredentialsProvider: CredentialsProvider {
    let name = "container"

    static let ecsHost = "169.254.170.2"
    static let allowedHTTPHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"]

    func credentials(_ context: AWSContext) throws(AWSError) -> CredentialsLookup {
        guard let url = try Self.endpoint(context) else { return .notConfigured }
        var headers: [HTTPHeader] = [HTTPHeader("Accept", "application/json")]
        if let token = try Self.authorizationToken(context) {
            headers.append(HTTPHeader("Authorization", token))
        }
        let response: HTTPResponse
        do {
            response = try MetadataRequests.send("GET", url, headers: headers, context: context)
        } catch {
            throw AWSError(
                code: .credentials, message: "container credentials endpoint \(url.hostHeader): \(error.text)")
        }
        return .found(
            try CredentialsDocument.parse(response.body, source: "container credentials endpoint", now: context.now()))
    }

    static func endpoint(_ context: AWSContext) throws(AWSError) -> EndpointURL? {
        if let relative = context.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            guard relative.hasPrefix("/"), let url = EndpointURL("http://\(ecsHost)\(relative)") else {
                throw AWSError(code: .configuration, message: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not a path")
            }
            return url
        }
        guard let full = context.env("AWS_CONTAINER_CREDENTIALS_FULL_URI") else { return nil }
        guard let url = EndpointURL(full) else {
            throw AWSError(code: .configuration, message: "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL")
        }
        guard url.scheme == "https" || url.isLoopback || allowedHTTPHosts.contains(url.host) else {
            throw AWSError(
                code: .configuration,
                message: "AWS_CONTAINER_CREDENTIALS_FULL_URI host \(url.host) is not allowed over http "
                    + "(use https, loopback, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23])")
        }
        return url
    }

    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` wins over `AWS_CONTAINER_AUTHORIZATION_TOKEN`: EKS rotates
    /// the file, so it is the fresher of the two.
    static func authorizationToken(_ context: AWSContext) throws(AWSError) -> String? {
        var token: String
        if let path = context.env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            let bytes: [UInt8]?
            do {
                bytes = try Files.read(path, limit: 16_384)
            } catch {
                throw AWSError(
                    code: .credentials, message: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path): \(error.reason)")
            }
            guard let bytes else {
                throw AWSError(
                    code: .credentials, message: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path) does not exist")
            }
            token = String(decoding: bytes, as: UTF8.self)
            // Files end with a newline; that one is not part of the token.
            while token.hasSuffix("\n") || token.hasSuffix("\r\n") { token.removeLast() }
        } else if let value = context.env("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            token = value
        } else {
            return nil
        }
        Redaction.shared.register(token)
        guard !token.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            throw AWSError(code: .credentials, message: "container authorization token contains a line break")
        }
        return token
    }
}

extension MetadataRequests.Failure {
    var text: String {
        switch self {
        case .unreachable(let error): "unreachable (\(error.message))"
        case .status(let status): "HTTP \(status)"
        case .configuration(let error): error.message
        }
    }
}
