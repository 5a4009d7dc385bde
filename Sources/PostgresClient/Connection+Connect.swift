import CLibPQ
import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension Connection {
    /// Makes one connection attempt that gives up at `deadline` (or when `interruption` fires).
    /// Parameters from the URL and libpq's `PG*` variables apply; we only add the client encoding
    /// Drizzle's drivers use, a fallback `application_name`, and `password` when given (it overrides
    /// the URL's: an RDS IAM token made for this attempt).
    public static func connect(
        to connectionString: String,
        applicationName: String = "migrator",
        password: String? = nil,
        deadline: ContinuousClock.Instant,
        interruption: Interruption? = nil
    ) throws(PostgresError) -> Connection {
        // Later keywords override what the expanded URL set (libpq takes the last non-empty value).
        var keywords = ["dbname", "client_encoding", "fallback_application_name"]
        var values = [connectionString, "UTF8", applicationName]
        if let password {
            keywords.append("password")
            values.append(password)
        }
        let raw: OpaquePointer? = withCStrings(keywords) { keywordPointers in
            withCStrings(values) { valuePointers in
                PQconnectStartParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let raw else {
            throw PostgresError(code: .connectionFailed, message: "could not allocate a libpq connection")
        }
        if PQstatus(raw) == CONNECTION_BAD {
            let message = errorMessage(raw)
            PQfinish(raw)
            throw PostgresError(code: .connectionFailed, message: message)
        }
        var status = PGRES_POLLING_WRITING
        while true {
            switch status {
            case PGRES_POLLING_OK:
                return Connection(connection: raw, interruption: interruption)
            case PGRES_POLLING_FAILED:
                let message = errorMessage(raw)
                PQfinish(raw)
                if tlsFailure(message) {
                    throw PostgresError(code: .tlsFailure, message: message)
                }
                throw PostgresError(code: .connectionFailed, message: message, sqlState: loginSQLState(message))
            default:
                let events = status == PGRES_POLLING_READING ? Int16(POLLIN) : Int16(POLLOUT)
                var ready = false
                while !ready {
                    if interruption?.isTriggered == true {
                        PQfinish(raw)
                        throw PostgresError(code: .cancelled, message: "interrupted while connecting")
                    }
                    let remaining = ContinuousClock.now.duration(to: deadline)
                    if remaining <= .zero {
                        PQfinish(raw)
                        throw PostgresError(code: .connectionTimeout, message: "timed out while connecting")
                    }
                    ready = waitForSocket(PQsocket(raw), events: events, timeout: min(remaining, .milliseconds(100)))
                }
                status = PQconnectPoll(raw)
            }
        }
    }

    /// libpq exposes no SQLSTATE for a failed login, so the server's (English) message is matched to
    /// the SQLSTATE it sent, for the failures where retrying is pointless.
    static func loginSQLState(_ message: String) -> String? {
        if message.contains("password authentication failed") || message.contains("no password supplied") {
            return "28P01"
        }
        if message.contains("database \"") && message.contains("does not exist") { return "3D000" }
        if message.contains("role \"") && message.contains("does not exist") { return "28000" }
        if message.contains("no pg_hba.conf entry") { return "28000" }
        // How RDS (and any server using `pam`) refuses an IAM token.
        if message.contains("PAM authentication failed") { return "28000" }
        if message.contains("permission denied for database") { return "42501" }
        return nil
    }

    /// Certificate, host-name and protocol failures: the server is there and answered, so waiting
    /// cannot fix them (libpq has no code for them; its messages are stable English).
    static func tlsFailure(_ message: String) -> Bool {
        let markers = [
            "certificate verify failed", "does not match host name", "root certificate file",
            "SSL error: unsupported protocol", "tlsv1 alert", "sslv3 alert", "wrong version number",
            "server does not support SSL", "certificate present, but not private key",
            "could not load private key", "no alternative certificate subject name",
        ]
        return markers.contains { message.contains($0) }
    }
}
