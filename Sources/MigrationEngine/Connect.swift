import Logging
import PostgresClient
import StructuredLogging

/// Connecting with patience: the task may start before the database accepts connections (a fresh
/// RDS instance, a failover), so transient failures are retried with capped exponential backoff until
/// `connectTimeout`. Failures that waiting cannot fix (bad URL, bad password, unknown database) stop at once.
public enum DatabaseConnector {
    /// Validates the URL and makes the first attempt in the background (see `ConnectAttempt`);
    /// `finish` reports it and goes on retrying. A bad URL throws here, before anything starts.
    public static func start(
        to connectionString: String, settings: Settings, interruption: Interruption,
        applicationName: String = "migrator"
    ) throws(MigrationError) -> PendingConnection {
        let info: ConnectionInfo
        do {
            info = try ConnectionInfo(parsing: connectionString)
        } catch {
            throw MigrationError(.configuration, error.message)
        }
        if let password = info.password { Redaction.shared.register(password) }
        let started = ContinuousClock.now
        let deadline = started + settings.connectTimeout
        return PendingConnection(
            connectionString: connectionString, info: info, settings: settings, interruption: interruption,
            applicationName: applicationName, started: started, deadline: deadline,
            firstAttempt: ConnectAttempt(
                to: connectionString, applicationName: applicationName, deadline: deadline,
                interruption: interruption))
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

/// A connection being made: the first attempt runs in the background until `finish` (or `abandon`).
public struct PendingConnection {
    let connectionString: String
    let info: ConnectionInfo
    let settings: Settings
    let interruption: Interruption
    let applicationName: String
    let started: ContinuousClock.Instant
    let deadline: ContinuousClock.Instant
    let firstAttempt: ConnectAttempt

    /// Gives up on the connection (the run failed before it needed one).
    public func abandon() { firstAttempt.abandon() }

    /// Waits for the first attempt, then retries transient failures until the connect timeout.
    public func finish(logger: Logger) throws(MigrationError) -> Connection {
        var delay = Duration.milliseconds(250)
        var attempt = 1
        // The attempt cut short by the deadline only says "timed out"; the operator needs the cause.
        var lastCause: String?
        while true {
            do {
                let connection =
                    attempt == 1
                    ? try firstAttempt.wait()
                    : try Connection.connect(
                        to: connectionString, applicationName: applicationName, deadline: deadline,
                        interruption: interruption)
                logger.event(
                    .info, "database.connected", "connected to \(info.redacted)",
                    [
                        "database": "\(info.redacted)", "server_version": .int(connection.serverVersion),
                        "attempts": .int(attempt), "duration_ms": .int((ContinuousClock.now - started).milliseconds),
                    ])
                return connection
            } catch {
                if error.code == .cancelled, let reason = interruption.reason {
                    throw MigrationError(
                        .interrupted, "stopped by \(reason.signalName) while connecting", interruption: reason)
                }
                if error.code == .invalidConnectionString || error.message.hasPrefix("invalid ") {
                    throw MigrationError(.configuration, "invalid database URL: \(error.message)")
                }
                if error.isPermanentLoginFailure {
                    throw MigrationError(
                        .database,
                        "\(info.redacted) refused the login (\(DatabaseConnector.loginFailureKind(error))), not retrying: \(error.message)"
                    )
                }
                if error.code != .connectionTimeout { lastCause = error.message }
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero || error.code == .connectionTimeout {
                    throw MigrationError(
                        .database,
                        "could not connect to \(info.redacted) within the connect timeout of "
                            + "\(settings.connectTimeout.milliseconds) ms (\(attempt) attempts): \(lastCause ?? error.message)"
                    )
                }
                let wait = min(delay, remaining)
                logger.event(
                    .warning, "database.waiting", "database not reachable yet, retrying",
                    [
                        "database": "\(info.redacted)", "attempt": .int(attempt), "error": "\(error.message)",
                        "retry_in_ms": .int(wait.milliseconds),
                    ])
                if interruption.sleep(milliseconds: wait.milliseconds), let reason = interruption.reason {
                    throw MigrationError(
                        .interrupted, "stopped by \(reason.signalName) while connecting", interruption: reason)
                }
                delay = min(delay * 2, .seconds(5))
                attempt += 1
            }
        }
    }
}
