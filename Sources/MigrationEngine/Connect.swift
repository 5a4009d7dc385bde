import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

/// Where the run connects, and how: the URL as given, parsed once, plus what each attempt adds.
public struct DatabaseTarget: Sendable {
    let connectionString: String
    let info: ConnectionInfo
    /// Called before every attempt; its value is passed to libpq as `password`, overriding the URL's.
    /// An RDS IAM token is made this way, fresh for each attempt, so a long wait never sends an
    /// expired one.
    private(set) var password: (@Sendable () throws(MigrationError) -> String)?

    /// Parses `connectionString` (a bad one throws exit 2 and is never echoed); `ConnectionInfo`
    /// registers its password for redaction before anything can log it.
    public init(
        _ connectionString: String, password: (@Sendable () throws(MigrationError) -> String)? = nil
    ) throws(MigrationError) {
        do {
            info = try ConnectionInfo(parsing: connectionString)
        } catch {
            throw MigrationError(.configuration, error.message)
        }
        self.connectionString = connectionString
        self.password = password
    }

    /// The same target, with a password made for each attempt (no second parse of the URL).
    public func with(password: @escaping @Sendable () throws(MigrationError) -> String) -> DatabaseTarget {
        var copy = self
        copy.password = password
        return copy
    }

    /// `user@host:port/dbname` as the URL says, for messages before a connection exists.
    public var displayName: String { info.redacted }

    /// The `sslmode` the URL asks for (nil: libpq's default, or `PGSSLMODE`).
    public var sslMode: String? { info.sslMode }

    /// The user the URL names (nil: libpq's default), for an RDS IAM token.
    public var user: String? { info.user }

    /// The host and port the URL names (nil: libpq's default), for an RDS IAM token.
    public var host: String? { info.host }
    public var port: String? { info.port }

    /// Whether the URL carries a password (an IAM login must not: the token is the password).
    public var hasPassword: Bool { info.password != nil }
}

/// Connecting with patience: the task may start before the database accepts connections (a fresh
/// RDS instance, a failover), so transient failures are retried with capped exponential backoff until
/// `connectTimeout`. Failures that waiting cannot fix (bad password, unknown database, TLS
/// verification) stop at once.
enum DatabaseConnector {
    static func connect(
        to target: DatabaseTarget, settings: Settings, interruption: Interruption, logger: Logger,
        applicationName: String = "migrator"
    ) throws(MigrationError) -> Connection {
        let started = ContinuousClock.now
        let deadline = started + settings.connectTimeout
        var delay = Duration.milliseconds(250)
        var attempt = 1
        // The attempt cut short by the deadline only says "timed out"; the operator needs the cause.
        var lastCause: String?
        while true {
            do {
                // A per-attempt password is a secret whoever made it: registered before libpq sees it.
                let password = try target.password?()
                if let password { Redaction.shared.register(password) }
                let connection = try connectOnce(
                    target, password: password, applicationName: applicationName, deadline: deadline,
                    interruption: interruption)
                report(connection, target: target, attempt: attempt, started: started, logger: logger)
                return connection
            } catch let error as PostgresError {
                try refuseRetry(error, target: target, interruption: interruption)
                if error.code != .connectionTimeout { lastCause = error.message }
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero || error.code == .connectionTimeout {
                    throw MigrationError(
                        .database,
                        "could not connect to \(target.displayName) within the connect timeout of "
                            + "\(settings.connectTimeout.milliseconds) ms (\(attempt) attempts): \(lastCause ?? error.message)"
                    )
                }
                let wait = min(delay, remaining)
                logger.event(
                    .warning, "database.waiting", "database not reachable yet, retrying",
                    [
                        "database": "\(target.displayName)", "attempt": .int(attempt), "error": "\(error.message)",
                        "retry_in_ms": .int(wait.milliseconds),
                    ])
                if interruption.sleep(for: wait), let reason = interruption.reason {
                    throw MigrationError(
                        .interrupted, "stopped by \(reason.signalName) while connecting", interruption: reason)
                }
                delay = min(delay * 2, .seconds(5))
                attempt += 1
            } catch let error as MigrationError {
                throw error
            } catch {
                throw MigrationError(.database, "\(error)")
            }
        }
    }

    private static func connectOnce(
        _ target: DatabaseTarget, password: String?, applicationName: String, deadline: ContinuousClock.Instant,
        interruption: Interruption
    ) throws(PostgresError) -> Connection {
        try Connection.connect(
            to: target.connectionString, applicationName: applicationName, password: password, deadline: deadline,
            interruption: interruption)
    }

    /// Throws the final error for failures that another attempt cannot cure; returns for the others.
    private static func refuseRetry(
        _ error: PostgresError, target: DatabaseTarget, interruption: Interruption
    ) throws(MigrationError) {
        if error.code == .cancelled, let reason = interruption.reason {
            throw MigrationError(.interrupted, "stopped by \(reason.signalName) while connecting", interruption: reason)
        }
        if error.code == .invalidConnectionString || error.message.hasPrefix("invalid ") {
            throw MigrationError(.configuration, "invalid database URL: \(error.message)")
        }
        if error.code == .tlsFailure {
            throw MigrationError(
                .database,
                "\(target.displayName): TLS verification failed (\(tlsFailureKind(error.message))), not retrying: "
                    + "\(error.message); check PGSSLROOTCERT / the sslrootcert URL parameter (the RDS CA bundle) "
                    + "and sslmode (verify-full checks the host name against the certificate)")
        }
        if error.isPermanentLoginFailure {
            throw MigrationError(
                .database,
                "\(target.displayName) refused the login (\(loginFailureKind(error))), not retrying: \(error.message)")
        }
    }

    private static func report(
        _ connection: Connection, target: DatabaseTarget, attempt: Int, started: ContinuousClock.Instant,
        logger: Logger
    ) {
        let tls = connection.tls
        logger.event(
            .info, "database.connected", "connected to \(connection.displayName)",
            [
                "database": "\(connection.displayName)", "server_version": .int(connection.serverVersion),
                "attempts": .int(attempt), "duration_ms": .int((ContinuousClock.now - started).milliseconds),
                "tls": .bool(tls != .none), "tls_verified": .bool(tls == .verified), "tls_mode": "\(tls.rawValue)",
            ])
        if tls != .verified && !target.info.isLoopback {
            let why =
                switch tls {
                case .none:
                    "the connection is not encrypted, so the password and the data cross the network in clear"
                case .certificateOnly: "sslmode=verify-ca checks the certificate but not the host name"
                default: "sslmode=\(connection.setting("sslmode") ?? "prefer") does not check the server's certificate"
                }
            logger.event(
                .warning, "database.unverified",
                "\(connection.displayName): \(why); set sslmode=verify-full and PGSSLROOTCERT (the RDS CA bundle)",
                ["database": "\(connection.displayName)", "tls_mode": "\(tls.rawValue)"])
        }
    }

    static func tlsFailureKind(_ message: String) -> String {
        if message.contains("does not match host name") || message.contains("no alternative certificate subject") {
            return "the certificate does not name this host"
        }
        if message.contains("certificate verify failed") { return "the certificate is not trusted" }
        if message.contains("root certificate file") { return "the root certificate file cannot be read" }
        if message.contains("server does not support SSL") { return "the server does not offer TLS" }
        return "the TLS handshake or protocol version failed"
    }

    static func loginFailureKind(_ error: PostgresError) -> String {
        switch error.sqlState {
        case "28P01": "wrong password"
        case "3D000": "the database does not exist"
        case "42501": "no CONNECT privilege"
        default: "the role or client is not allowed"
        }
    }
}
