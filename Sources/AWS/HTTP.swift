/// One header field, in the order it was given. A list of these (not a dictionary) keeps duplicates
/// and order, both of which SigV4 and HTTP care about.
public struct HTTPHeader: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

extension [HTTPHeader] {
    /// First value of a header, compared case-insensitively as HTTP requires.
    func first(named name: String) -> String? {
        let wanted = name.lowercased()
        return first { $0.name.lowercased() == wanted }?.value
    }
}

struct HTTPRequest: Sendable {
    var method: String
    var url: String
    var headers: [HTTPHeader]
    var body: [UInt8]
    var timeouts: HTTPTimeouts
    /// Requests to link-local metadata endpoints must never be sent through an HTTP proxy.
    var bypassProxy: Bool = false
}

struct HTTPTimeouts: Sendable {
    var connect: Duration
    var total: Duration

    /// For the ECS and EC2 metadata endpoints: they answer in milliseconds or not at all.
    static let metadata = HTTPTimeouts(connect: .seconds(1), total: .seconds(3))
    static let service = HTTPTimeouts(connect: .seconds(5), total: .seconds(20))
}

struct HTTPResponse: Sendable {
    var status: Int
    var headers: [HTTPHeader]
    var body: [UInt8]
}

struct TransportError: Error, Sendable {
    enum Kind: Sendable {
        case network
        case timeout
        case tlsVerification
        case configuration
        case responseTooLarge
        /// A stop request (SIGTERM, SIGINT) ended or refused the request.
        case interrupted
    }

    var kind: Kind
    var message: String

    /// Connection-level failures that another attempt may cure.
    var isRetryable: Bool {
        switch kind {
        case .network, .timeout: true
        case .tlsVerification, .configuration, .responseTooLarge, .interrupted: false
        }
    }

    var awsError: AWSError {
        switch kind {
        case .network: AWSError(code: .network, message: message)
        case .timeout: AWSError(code: .timeout, message: message)
        case .tlsVerification: AWSError(code: .tlsVerification, message: message)
        case .configuration: AWSError(code: .configuration, message: message)
        case .responseTooLarge: AWSError(code: .invalidResponse, message: message)
        case .interrupted: AWSError(code: .interrupted, message: message)
        }
    }
}

/// Sends one request and returns the complete response. Synchronous on purpose: `migrator` does one
/// thing at a time, and a blocking call keeps the transport free of event loops and threads.
protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse
}
