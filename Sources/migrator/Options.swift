import ArgumentParser

/// Options every command shares. Each is optional here: `Configuration` falls back to the
/// environment variable, then to the default, as the contract's table says.
///
/// Durations are parsed `.unconditional`ly, so `--lock-timeout -1s` reaches our own check (and its
/// clear message) instead of being taken for an unknown flag.
struct CommonOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL (env DATABASE_URL). Prefer the variable: flags show up in `ps`.")
    var databaseURL: String?
    @Option(help: "Secrets Manager secret name or ARN holding the URL (env DATABASE_SECRET_ID).")
    var secretId: String?
    @Option(help: "JSON key inside the secret (env DATABASE_SECRET_KEY; default DATABASE_URL).")
    var secretKey: String?
    @Option(help: "drizzle-kit migrations folder (env MIGRATIONS_DIR; default ./migrations).")
    var migrationsDir: String?
    @Option(help: "Tracking table schema (env MIGRATIONS_SCHEMA; default drizzle).")
    var migrationsSchema: String?
    @Option(help: "Tracking table name (env MIGRATIONS_TABLE; default __drizzle_migrations).")
    var migrationsTable: String?
    @Option(parsing: .unconditional, help: "lock_timeout of one attempt (env MIGRATOR_LOCK_TIMEOUT; default 5s).")
    var lockTimeout: String?
    @Option(
        parsing: .unconditional,
        help: "Total time to retry a file that hit the lock timeout (env MIGRATOR_LOCK_WAIT; default 5m).")
    var lockWait: String?
    @Option(parsing: .unconditional, help: "statement_timeout, 0 for none (env MIGRATOR_STATEMENT_TIMEOUT; default 0).")
    var statementTimeout: String?
    @Option(
        parsing: .unconditional,
        help: "Total time to wait for the database (env MIGRATOR_CONNECT_TIMEOUT; default 60s).")
    var connectTimeout: String?
    @Option(help: "json or text (env MIGRATOR_LOG_FORMAT; default json).")
    var logFormat: String?
    @Option(help: "trace, debug, info, notice, warning, error (env LOG_LEVEL; default info).")
    var logLevel: String?
    @Flag(help: "Log in with an RDS IAM token made for each attempt, not a password (env MIGRATOR_IAM_AUTH=true).")
    var iamAuth = false
}
