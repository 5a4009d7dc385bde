import Crypto
import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What gets signed: the request as the caller will send it, before any SigV4 header or parameter.
public struct SigningRequest: Sendable {
    public var method: String
    /// Raw path, not percent-encoded (`/`, `/example space/`). The signer encodes it.
    public var path: String
    /// Query without `?`, raw or already percent-encoded; either gives the same canonical form.
    public var query: String
    /// Every header here is signed, so list only those whose exact value reaches the server (`Host`
    /// included, with `:port` when the port is not the scheme's default).
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: [HTTPHeader], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// AWS Signature Version 4: Authorization-header signing and query-string presigning.
///
/// Written against the aws-c-auth test suite and botocore rather than wrapped around libcurl's
/// `CURLOPT_AWS_SIGV4`, which mis-signs in the libcurl we ship. The clock is a parameter so the test
/// vectors' fixed time can be used.
public struct SigV4Signer: Sendable {
    public struct Options: Sendable {
        /// Remove `.`/`..` segments and empty segments from the path before encoding it. Every service
        /// except S3 expects this.
        public var normalizePath: Bool = true
        /// Add and sign `x-amz-content-sha256` (header signing only). S3 needs it; most services do not.
        public var signBodyHash: Bool = false
        /// Send the session token but leave it out of the signature (a few services want this; ours does not).
        public var omitSessionTokenFromSignature: Bool = false

        public init(normalizePath: Bool = true, signBodyHash: Bool = false, omitSessionTokenFromSignature: Bool = false)
        {
            self.normalizePath = normalizePath
            self.signBodyHash = signBodyHash
            self.omitSessionTokenFromSignature = omitSessionTokenFromSignature
        }
    }

    /// The outcome of header signing. Intermediate strings are kept for tests and debugging; none of them
    /// contains the secret access key, but `authorization` and `signature` authenticate the request, so
    /// they must not be logged.
    public struct HeaderSignature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// The headers to add to the request, in the order botocore adds them (`Authorization` last).
        public var addedHeaders: [HTTPHeader]
    }

    public struct QuerySignature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// Percent-encoded parameters to append to the request's query, `X-Amz-Signature` last.
        public var addedQueryItems: [(name: String, value: String)]

        /// `query` + the added parameters, ready to put after `?`.
        public func signedQuery(original: String) -> String {
            let added = addedQueryItems.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
            return original.isEmpty ? added : original + "&" + added
        }
    }

    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    static let algorithm = "AWS4-HMAC-SHA256"

    public func signHeaders(_ request: SigningRequest, date: Date, options: Options = Options()) -> HeaderSignature {
        let amzDate = UTCTime.amzDate(date)
        let payloadHash = Self.hexSHA256(request.body)
        var headers = request.headers
        var added: [HTTPHeader] = [HTTPHeader("X-Amz-Date", amzDate)]
        headers.append(added[0])
        if let token = credentials.sessionToken {
            added.append(HTTPHeader("X-Amz-Security-Token", token))
            if !options.omitSessionTokenFromSignature { headers.append(added.last!) }
        }
        if options.signBodyHash {
            added.append(HTTPHeader("x-amz-content-sha256", payloadHash))
            headers.append(added.last!)
        }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let canonicalRequest = [
            request.method,
            Self.canonicalPath(request.path, normalize: options.normalizePath),
            Self.canonicalQuery(Self.queryItems(request.query)),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        let (stringToSign, signature) = sign(canonicalRequest: canonicalRequest, amzDate: amzDate)
        let authorization =
            "\(Self.algorithm) Credential=\(credentials.accessKeyId)/\(scope(amzDate)), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        added.append(HTTPHeader("Authorization", authorization))
        return HeaderSignature(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            addedHeaders: added)
    }

    /// Query-string signing (a presigned URL), as used for RDS IAM authentication tokens.
    public func presign(
        _ request: SigningRequest, date: Date, expiresIn seconds: Int, options: Options = Options()
    ) -> QuerySignature {
        let amzDate = UTCTime.amzDate(date)
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(request.headers)
        var added: [(name: String, value: String)] = [
            ("X-Amz-Algorithm", Self.algorithm),
            ("X-Amz-Credential", Self.uriEncode("\(credentials.accessKeyId)/\(scope(amzDate))")),
            ("X-Amz-Date", amzDate),
            ("X-Amz-SignedHeaders", Self.uriEncode(signedHeaders)),
            ("X-Amz-Expires", String(seconds)),
        ]
        var signedItems = Self.queryItems(request.query) + added
        if let token = credentials.sessionToken {
            added.append(("X-Amz-Security-Token", Self.uriEncode(token)))
            if !options.omitSessionTokenFromSignature { signedItems.append(added.last!) }
        }
        let canonicalRequest = [
            request.method,
            Self.canonicalPath(request.path, normalize: options.normalizePath),
            Self.canonicalQuery(signedItems),
            canonicalHeaders,
            signedHeaders,
            Self.hexSHA256(request.body),
        ].joined(separator: "\n")
        let (stringToSign, signature) = sign(canonicalRequest: canonicalRequest, amzDate: amzDate)
        added.append(("X-Amz-Signature", signature))
        return QuerySignature(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            addedQueryItems: added)
    }

    private func scope(_ amzDate: String) -> String {
        "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
    }

    private func sign(canonicalRequest: String, amzDate: String) -> (stringToSign: String, signature: String) {
        let stringToSign = [
            Self.algorithm, amzDate, scope(amzDate), Self.hexSHA256(Array(canonicalRequest.utf8)),
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [String(amzDate.prefix(8)), region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key)
        return (stringToSign, Self.hex(signature))
    }

    // MARK: Canonical forms

    static func canonicalPath(_ path: String, normalize: Bool) -> String {
        guard !path.isEmpty else { return "/" }
        guard normalize else { return uriEncode(path, keepSlash: true) }
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        var normalized = "/" + segments.joined(separator: "/")
        if path.hasSuffix("/") && !segments.isEmpty { normalized += "/" }
        return uriEncode(normalized, keepSlash: true)
    }

    /// Query parameters as encoded (name, value) pairs. Decoding first makes raw and pre-encoded input
    /// agree: `ሴ=bar` and `%E1%88%B4=bar` both become `%E1%88%B4=bar`.
    static func queryItems(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = uriEncode(bytes: PercentEncoding.decode(parts[0]))
            let value = parts.count > 1 ? uriEncode(bytes: PercentEncoding.decode(parts[1])) : ""
            return (name, value)
        }
    }

    static func canonicalQuery(_ items: [(name: String, value: String)]) -> String {
        // Sorted by byte value of the encoded name, then value (all ASCII after encoding).
        items.sorted { lhs, rhs in
            lhs.name != rhs.name
                ? lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8)
                : lhs.value.utf8.lexicographicallyPrecedes(rhs.value.utf8)
        }
        .map { "\($0.name)=\($0.value)" }
        .joined(separator: "&")
    }

    /// Lower-cased names in byte order; values trimmed, inner whitespace runs (folded continuation lines
    /// included) collapsed to one space, repeated names joined with `,` in request order.
    static func canonicalHeaders(_ headers: [HTTPHeader]) -> (canonical: String, signed: String) {
        var values: [String: [String]] = [:]
        for header in headers {
            values[header.name.lowercased(), default: []].append(trimAll(header.value))
        }
        let names = values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let canonical = names.map { "\($0):\(values[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    private static func trimAll(_ value: String) -> String {
        var result = ""
        var pendingSpace = false
        for scalar in value.unicodeScalars {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                pendingSpace = !result.isEmpty
            } else {
                if pendingSpace { result.append(" ") }
                pendingSpace = false
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// RFC 3986 encoding as SigV4 wants it: every byte but `A-Z a-z 0-9 - . _ ~` (and `/` in paths)
    /// becomes `%XX` with upper-case hex.
    static func uriEncode<S: StringProtocol>(_ text: S, keepSlash: Bool = false) -> String {
        uriEncode(bytes: text.utf8, keepSlash: keepSlash)
    }

    static func uriEncode<Bytes: Sequence<UInt8>>(bytes: Bytes, keepSlash: Bool = false) -> String {
        var result = ""
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                result.append("/")
            default:
                let hexDigits = Array("0123456789ABCDEF".utf8)
                result.append("%")
                result.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(byte >> 4)]))
                result.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(byte & 0x0F)]))
            }
        }
        return result
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var result = ""
        for byte in bytes {
            result.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
            result.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 0x0F)]))
        }
        return result
    }
}
