import Logging
import MigrationEngine

/// A bad flag or variable. Exit 2, one line naming the flag or variable and the bad value's problem.
struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
}

enum LogFormat: String {
    case json, text
}

/// Flag, else environment variable, else default: the contract's configuration table, in one place.
struct Configuration {
    var databaseURL: String?
    var secretID: String?
    var secretKey: String
    var migrationsDir: String
    var settings: Settings
    var environment: [String: String]
    /// `--iam-auth`: the password of every attempt is an RDS IAM token (`IAMLogin`).
    var iamAuth = false

    init(options: CommonOptions, environment: [String: String]) throws(ConfigurationError) {
        func value(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            if let fromEnvironment = environment[variable], !fromEnvironment.isEmpty { return fromEnvironment }
            return nil
        }
        func duration(_ flag: String?, flagName: String, _ variable: String, default fallback: Duration)
            throws(ConfigurationError) -> Duration
        {
            let source = flag != nil ? "--\(flagName)" : variable
            guard let text = value(flag, variable) else { return fallback }
            guard let parsed = Duration(parsing: text) else {
                throw ConfigurationError(
                    description:
                        "\(source): \"\(text)\" is not a duration (use 500ms, 5s, 2m, 1h or a number of seconds)")
            }
            return parsed
        }
        self.environment = environment
        databaseURL = value(options.databaseURL, "DATABASE_URL")
        secretID = value(options.secretId, "DATABASE_SECRET_ID")
        secretKey = value(options.secretKey, "DATABASE_SECRET_KEY") ?? "DATABASE_URL"
        migrationsDir = value(options.migrationsDir, "MIGRATIONS_DIR") ?? "./migrations"
        var settings = Settings()
        settings.migrationsSchema = value(options.migrationsSchema, "MIGRATIONS_SCHEMA") ?? settings.migrationsSchema
        settings.migrationsTable = value(options.migrationsTable, "MIGRATIONS_TABLE") ?? settings.migrationsTable
        for (name, text) in [
            ("migrations schema", settings.migrationsSchema), ("migrations table", settings.migrationsTable),
        ]
        where text.isEmpty || text.utf8.count > 63 || text.contains("\0") {
            throw ConfigurationError(description: "the \(name) must be 1 to 63 bytes")
        }
        if settings.migrationsSchema.hasPrefix("pg_") {
            throw ConfigurationError(
                description:
                    "the migrations schema \"\(settings.migrationsSchema)\" starts with pg_, which PostgreSQL reserves "
                    + "for system schemas; choose another name (default drizzle)")
        }
        settings.lockTimeout = try duration(
            options.lockTimeout, flagName: "lock-timeout", "MIGRATOR_LOCK_TIMEOUT", default: .seconds(5))
        settings.lockWait = try duration(
            options.lockWait, flagName: "lock-wait", "MIGRATOR_LOCK_WAIT", default: .seconds(300))
        settings.statementTimeout = try duration(
            options.statementTimeout, flagName: "statement-timeout", "MIGRATOR_STATEMENT_TIMEOUT", default: .zero)
        settings.connectTimeout = try duration(
            options.connectTimeout, flagName: "connect-timeout", "MIGRATOR_CONNECT_TIMEOUT", default: .seconds(60))
        if settings.lockTimeout == .zero {
            throw ConfigurationError(
                description: "lock timeout 0 would wait forever behind the application; use e.g. 5s")
        }
        switch environment["MIGRATOR_ALLOW_OUT_OF_ORDER"]?.lowercased() {
        case nil, "", "false", "0", "no": break
        case "true", "1", "yes": settings.allowOutOfOrder = true
        case let other?:
            throw ConfigurationError(description: "MIGRATOR_ALLOW_OUT_OF_ORDER: \"\(other)\" is not true or false")
        }
        self.settings = settings
        switch options.iamAuth ? "true" : environment["MIGRATOR_IAM_AUTH"]?.lowercased() {
        case nil, "", "false", "0", "no": break
        case "true", "1", "yes": iamAuth = true
        case let other?:
            throw ConfigurationError(description: "MIGRATOR_IAM_AUTH: \"\(other)\" is not true or false")
        }
        if databaseURL == nil && secretID == nil {
            throw ConfigurationError(
                description: "no database: set DATABASE_URL (or --database-url), or DATABASE_SECRET_ID (or --secret-id)"
            )
        }
    }

    /// Resolved separately and first, so that even a configuration error is logged in the asked-for format.
    static func logging(options: CommonOptions, environment: [String: String]) throws(ConfigurationError) -> (
        LogFormat, Logger.Level
    ) {
        let formatText =
            options.logFormat ?? environment["MIGRATOR_LOG_FORMAT"].flatMap { $0.isEmpty ? nil : $0 } ?? "json"
        let levelText = options.logLevel ?? environment["LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "info"
        guard let format = LogFormat(rawValue: formatText.lowercased()) else {
            throw ConfigurationError(description: "log format \"\(formatText)\" is not json or text")
        }
        let level: Logger.Level
        switch levelText.lowercased() {
        case "trace": level = .trace
        case "debug": level = .debug
        case "info": level = .info
        case "notice": level = .notice
        case "warning", "warn": level = .warning
        case "error": level = .error
        case "critical": level = .critical
        default:
            throw ConfigurationError(
                description: "log level \"\(levelText)\" is not trace, debug, info, notice, warning or error")
        }
        return (format, level)
    }
}
