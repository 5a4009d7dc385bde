import Logging
import MigrationEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

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
        let lookup = Lookup(environment: environment)
        self.environment = environment
        databaseURL = lookup.value(options.databaseURL, "DATABASE_URL")
        secretID = lookup.value(options.secretId, "DATABASE_SECRET_ID")
        secretKey = lookup.value(options.secretKey, "DATABASE_SECRET_KEY") ?? "DATABASE_URL"
        let givenDir = lookup.value(options.migrationsDir, "MIGRATIONS_DIR")
        migrationsDir = givenDir ?? Self.defaultMigrationsDir
        settings = try Self.settings(options: options, lookup: lookup)
        iamAuth = try lookup.switchValue(options.iamAuth, "MIGRATOR_IAM_AUTH")
        if givenDir == nil && access(Self.defaultMigrationsDir, F_OK) != 0 {
            // The image ships no migrations: a task definition that forgot MIGRATIONS_DIR must say so,
            // not report a missing journal deep inside a folder nobody meant.
            throw ConfigurationError(
                description: "no migrations folder: \(Self.defaultMigrationsDir) does not exist; set MIGRATIONS_DIR "
                    + "(or --migrations-dir) to the drizzle-kit folder (the migrator image ships none)")
        }
        if databaseURL == nil && secretID == nil {
            throw ConfigurationError(
                description: "no database: set DATABASE_URL (or --database-url), or DATABASE_SECRET_ID (or --secret-id)"
            )
        }
    }

    static let defaultMigrationsDir = "./migrations"

    private static func settings(options: CommonOptions, lookup: Lookup) throws(ConfigurationError) -> Settings {
        var settings = Settings()
        settings.migrationsSchema =
            lookup.value(options.migrationsSchema, "MIGRATIONS_SCHEMA") ?? settings.migrationsSchema
        settings.migrationsTable = lookup.value(options.migrationsTable, "MIGRATIONS_TABLE") ?? settings.migrationsTable
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
        settings.lockTimeout = try lookup.duration(
            options.lockTimeout, flag: "lock-timeout", "MIGRATOR_LOCK_TIMEOUT", default: .seconds(5))
        settings.lockWait = try lookup.duration(
            options.lockWait, flag: "lock-wait", "MIGRATOR_LOCK_WAIT", default: .seconds(300))
        settings.statementTimeout = try lookup.duration(
            options.statementTimeout, flag: "statement-timeout", "MIGRATOR_STATEMENT_TIMEOUT", default: .zero)
        settings.connectTimeout = try lookup.duration(
            options.connectTimeout, flag: "connect-timeout", "MIGRATOR_CONNECT_TIMEOUT", default: .seconds(60))
        if settings.lockTimeout == .zero {
            throw ConfigurationError(
                description: "lock timeout 0 would wait forever behind the application; use e.g. 5s")
        }
        settings.allowOutOfOrder = try lookup.switchValue(false, "MIGRATOR_ALLOW_OUT_OF_ORDER")
        // On unless set to false: the lock report of `up` (docs/analyze.md).
        if let text = lookup.environment["MIGRATOR_LOCK_REPORT"], !text.isEmpty {
            settings.lockReport = try lookup.switchValue(false, "MIGRATOR_LOCK_REPORT")
        }
        return settings
    }

    /// Flag, else non-empty environment variable: the contract's lookup order.
    private struct Lookup {
        var environment: [String: String]

        func value(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            if let fromEnvironment = environment[variable], !fromEnvironment.isEmpty { return fromEnvironment }
            return nil
        }

        func duration(_ flag: String?, flag name: String, _ variable: String, default fallback: Duration)
            throws(ConfigurationError) -> Duration
        {
            guard let text = value(flag, variable) else { return fallback }
            guard let parsed = Duration(parsing: text) else {
                throw ConfigurationError(
                    description: "\(flag != nil ? "--\(name)" : variable): \"\(text)\" is not a duration (use 500ms, "
                        + "5s, 2m, 1h or a number of seconds)")
            }
            return parsed
        }

        /// A boolean flag, else a true/false variable (an unknown word is an error, not false).
        func switchValue(_ flag: Bool, _ variable: String) throws(ConfigurationError) -> Bool {
            if flag { return true }
            switch environment[variable]?.lowercased() {
            case nil, "", "false", "0", "no": return false
            case "true", "1", "yes": return true
            case let other?:
                throw ConfigurationError(description: "\(variable): \"\(other)\" is not true or false")
            }
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
