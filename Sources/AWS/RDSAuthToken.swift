#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An RDS IAM authentication token: the password for a database user granted `rds_iam`.
///
/// Byte for byte what botocore's `generate_db_auth_token` returns (and, up to the order of the query
/// parameters, the Java SDK's `RdsUtilities`): a SigV4-presigned `GET https://HOST:PORT/?Action=connect
/// &DBUser=USER` for service `rds-db`, valid 900 seconds, only `host` signed, with the `https://`
/// removed. The result authenticates as `user` for 15 minutes: it is a secret.
public enum RDSAuthToken {
    /// RDS refuses a token older than this; the SDKs all use the maximum.
    public static let lifetimeSeconds = 900
    static let service = "rds-db"

    public static func generate(
        host: String, port: Int, user: String, region: String, credentials: AWSCredentials, date: Date
    ) -> String {
        let authority = "\(bracketed(host)):\(port)"
        let query = "Action=connect&DBUser=\(SigV4Signer.uriEncode(user))"
        let request = SigningRequest(
            method: "GET", path: "/", query: query,
            headers: [HTTPHeader("host", hostHeader(host: host, port: port))])
        let signer = SigV4Signer(credentials: credentials, region: region, service: service)
        let signature = signer.presign(request, date: date, expiresIn: lifetimeSeconds)
        // botocore's order: the operation's parameters, then its auth parameters as it inserts them
        // (not sorted: `X-Amz-Security-Token` comes after `X-Amz-SignedHeaders`), the signature last.
        let added = Dictionary(signature.addedQueryItems.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        let order = [
            "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
            "X-Amz-Security-Token", "X-Amz-Signature",
        ]
        let auth = order.compactMap { name in added[name].map { "\(name)=\($0)" } }
        return "\(authority)/?\(query)&" + auth.joined(separator: "&")
    }

    /// The `host` header botocore signs: the host lower-cased, and the port left out when it is the
    /// https default (a token for port 443 still starts with `HOST:443/`).
    static func hostHeader(host: String, port: Int) -> String {
        let name = bracketed(host).lowercased()
        return port == 443 ? name : "\(name):\(port)"
    }

    /// An IPv6 address in a URL authority needs brackets.
    private static func bracketed(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}
