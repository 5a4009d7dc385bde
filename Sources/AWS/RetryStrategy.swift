/// The AWS SDKs' "standard" retry mode: up to `AWS_MAX_ATTEMPTS` attempts (default 3), exponential
/// backoff with full jitter (base 100 ms, capped at 20 s), and only for errors another attempt can cure.
///
/// The SDKs' retry token bucket is left out: it protects a long-lived client that makes many calls from
/// retry storms, and `migrator` makes one call per run.
struct RetryStrategy: Sendable {
    var maxAttempts: Int
    var baseDelay: Duration = .milliseconds(100)
    var maxBackoff: Duration = .seconds(20)

    static let defaultMaxAttempts = 3

    static func fromEnvironment(_ context: AWSContext) throws(AWSError) -> RetryStrategy {
        guard let text = context.env("AWS_MAX_ATTEMPTS") else { return RetryStrategy(maxAttempts: defaultMaxAttempts) }
        guard let value = Int(text), value >= 1, value <= 20 else {
            throw AWSError(code: .configuration, message: "AWS_MAX_ATTEMPTS must be a whole number from 1 to 20")
        }
        return RetryStrategy(maxAttempts: value)
    }

    /// Delay before attempt `attempt + 1`, given that `attempt` (1-based) just failed. `random` is in [0, 1).
    func delay(afterAttempt attempt: Int, random: Double) -> Duration {
        let exponential = baseDelay * (1 << min(attempt - 1, 30))
        let ceiling = min(exponential, maxBackoff)
        return ceiling * max(0, min(random, 1))
    }

    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    ]

    static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "InternalServiceError",
        "ServiceUnavailable",
    ]

    /// Errors that mean the request itself is wrong: another attempt gets the same answer, and for the
    /// signature and credential ones, hammering the endpoint looks like an attack.
    static let neverRetryCodes: Set<String> = [
        "ResourceNotFoundException", "AccessDeniedException", "AccessDenied", "DecryptionFailure",
        "InvalidParameterException", "InvalidRequestException", "InvalidSignatureException", "SignatureDoesNotMatch",
        "IncompleteSignature", "IncompleteSignatureException", "InvalidClientTokenId", "UnrecognizedClientException",
        "MissingAuthenticationToken", "MissingAuthenticationTokenException", "ExpiredToken", "ExpiredTokenException",
        "InvalidAccessKeyId", "AuthFailure", "UnauthorizedOperation",
    ]

    static func isRetryable(_ error: AWSError) -> Bool {
        switch error.code {
        case .network, .timeout:
            return true
        case .service:
            if let code = error.awsErrorCode {
                if neverRetryCodes.contains(code) { return false }
                if throttlingCodes.contains(code) || transientCodes.contains(code) { return true }
            }
            guard let status = error.httpStatus else { return false }
            return status == 429 || status == 500 || status == 502 || status == 503 || status == 504
        default:
            return false
        }
    }
}
