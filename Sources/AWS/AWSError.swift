import StructuredLogging

/// Why the database URL could not be had from AWS. The executable maps every `AWSError` to exit code 6.
///
/// `description` is one line meant for an operator: what failed, plus the AWS error code, HTTP status
/// and request id when AWS answered, so a support case can quote them. It never carries secret
/// material: messages are built from our own words and from the first line of the server's message,
/// and pass through `Redaction` on the way out.
public struct AWSError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case configuration
            case credentials
            case network
            case timeout
            case tlsVerification
            case service
            case invalidResponse
            case secretFormat
            case interrupted
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// An AWS setting (environment variable, region, endpoint, CA bundle) is missing or malformed.
        public static let configuration = Code(.configuration)
        /// No credentials could be found, or a credentials provider failed.
        public static let credentials = Code(.credentials)
        /// The connection failed or broke (refused, reset, DNS).
        public static let network = Code(.network)
        /// A connect or total timeout expired.
        public static let timeout = Code(.timeout)
        /// The TLS peer could not be verified.
        public static let tlsVerification = Code(.tlsVerification)
        /// AWS answered with an error (`awsErrorCode`, `httpStatus`, `requestId` tell which).
        public static let service = Code(.service)
        /// AWS (or whatever answered in its place) sent something that is not a valid response.
        public static let invalidResponse = Code(.invalidResponse)
        /// The secret was fetched but holds no usable database URL.
        public static let secretFormat = Code(.secretFormat)
        /// A stop request (SIGTERM, SIGINT) ended the work; the executable exits 143/130, not 6.
        public static let interrupted = Code(.interrupted)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The error code AWS sent (`ResourceNotFoundException`, `SignatureDoesNotMatch` ...), if it answered.
    public var awsErrorCode: String?
    public var httpStatus: Int?
    public var requestId: String?

    public init(
        code: Code,
        message: String,
        awsErrorCode: String? = nil,
        httpStatus: Int? = nil,
        requestId: String? = nil
    ) {
        self.code = code
        self.message = message
        self.awsErrorCode = awsErrorCode
        self.httpStatus = httpStatus
        self.requestId = requestId
    }

    public var description: String {
        var details: [String] = []
        if let awsErrorCode { details.append(awsErrorCode) }
        if let httpStatus { details.append("HTTP \(httpStatus)") }
        if let requestId { details.append("request id \(requestId)") }
        var text = "AWS \(code) error: \(message)"
        if !details.isEmpty { text += " (\(details.joined(separator: ", ")))" }
        return Redaction.shared.scrub(AWSError.singleLine(text, limit: 1000))
    }

    /// First line of untrusted text, shortened. Server messages can be long (some services echo the
    /// whole canonical request, session token included, on the lines after the first).
    static func singleLine(_ text: String, limit: Int = 300) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\r" {
                if count > 0 { break }
                continue
            }
            if count == limit { return result + "…" }
            let isControl = scalar.value < 0x20 || scalar.value == 0x7F
            result.unicodeScalars.append(isControl ? " " : scalar)
            count += 1
        }
        return result
    }
}
