/// An error from libpq or the server, shaped like postgres-nio's `PSQLError`: a nested `Code` for
/// what kind of failure it is, and the server's diagnostic fields when there are any.
///
/// `description` never contains the connection string or password: libpq's connection messages name
/// host, port and user only, and we add nothing that libpq does not.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidConnectionString, connectionFailed, tlsFailure, connectionTimeout, server, connectionLost,
                cancelled
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The URL or keyword string could not be parsed; waiting will not fix it.
        public static let invalidConnectionString = Code(.invalidConnectionString)
        /// The server could not be reached or refused the session.
        public static let connectionFailed = Code(.connectionFailed)
        /// TLS could not be set up as asked: the certificate, the host name or the protocol version
        /// failed verification. Waiting will not fix it.
        public static let tlsFailure = Code(.tlsFailure)
        /// The server did not accept a connection within the allowed time.
        public static let connectionTimeout = Code(.connectionTimeout)
        /// The server answered a query with an error (see `sqlState`).
        public static let server = Code(.server)
        /// The connection broke while a query was running.
        public static let connectionLost = Code(.connectionLost)
        /// We gave up waiting because the run was interrupted.
        public static let cancelled = Code(.cancelled)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var sqlState: String?
    public var severity: String?
    public var detail: String?
    public var hint: String?
    /// 1-based character (not byte) offset into the query text, as the server reports it.
    public var position: Int?
    public var context: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, severity: String? = nil, detail: String? = nil,
        hint: String? = nil, position: Int? = nil, context: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.severity = severity
        self.detail = detail
        self.hint = hint
        self.position = position
        self.context = context
    }

    public var description: String {
        var text = message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        return text
    }
}

extension PostgresError {
    /// SQLSTATEs that waiting for the server cannot fix, so connecting stops at once.
    public var isPermanentLoginFailure: Bool {
        guard let sqlState else { return false }
        // 28000 invalid authorization, 28P01 bad password, 3D000 unknown database,
        // 42501 insufficient privilege (CONNECT revoked).
        return ["28000", "28P01", "3D000", "42501"].contains(sqlState)
    }
}
