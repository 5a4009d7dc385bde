import ArgumentParser
import Logging
import MigrationEngine
import StructuredLogging
import SystemSupport

/// One run of a command: logging, configuration, the secret, the connection, the command's work,
/// and the closing `run.finished` line with the exit code. Every error ends here and is mapped by
/// `ExitStatus`, so a run always ends with exactly one `run.finished`.
final class Execution {
    let command: String
    let options: CommonOptions
    /// Where people-facing output goes decides where logs go: `status` prints its report on stdout.
    let logsToStderr: Bool
    let signals = SignalWatcher.shared
    private(set) var logger = Logger(label: "migrator")
    private(set) var databaseName = "?"
    private(set) var tableName = "?"
    private var environmentFields: Logger.Metadata = [:]

    init(command: String, options: CommonOptions, logsToStderr: Bool = false) {
        self.command = command
        self.options = options
        self.logsToStderr = logsToStderr
    }

    /// Runs `work` and returns the exit code for `run()` to throw.
    func run(
        adjust: (inout Settings) -> Void = { _ in }, _ work: (Execution, Migrator) throws -> Void
    ) -> ExitCode {
        let started = ContinuousClock.now
        let environment = ProcessEnvironment.all()
        var migrator: Migrator?
        var exitCode = ExitStatus.success
        var failure: String?
        do {
            try setUpLogging(environment: environment)
            var configuration = try Configuration(options: options, environment: environment)
            adjust(&configuration.settings)
            migrator = try connect(configuration, environment: environment)
            defer { migrator?.close() }
            try work(self, migrator!)
        } catch {
            exitCode = ExitStatus.code(for: error, stoppedBy: signals.interruption.reason)
            failure = "\(error)"
        }
        finish(exitCode: exitCode, failure: failure, migrator: migrator, started: started)
        return ExitCode(exitCode)
    }

    /// Resolved first, so that even a configuration error is logged in the asked-for format; a bad
    /// format or level itself is logged as JSON on stdout, the contract's default.
    private func setUpLogging(environment: [String: String]) throws(ConfigurationError) {
        let writer: LineWriter = logsToStderr ? .standardError : .standardOutput
        do {
            let (format, level) = try Configuration.logging(options: options, environment: environment)
            logger = RunReport.makeLogger(format: format, level: level, writer: writer)
        } catch {
            logger = RunReport.makeLogger(format: .json, level: .info, writer: writer)
            throw error
        }
        signals.use(logger)
        // CloudWatch rejects an empty dimension value, so an empty variable counts as unset.
        if let name = environment["MIGRATOR_ENVIRONMENT"], !name.isEmpty {
            environmentFields["Environment"] = .string(name)
        }
        if let family = environment["MIGRATOR_TASK_FAMILY"], !family.isEmpty {
            environmentFields["Family"] = .string(family)
        }
    }

    /// The folder first (a broken one exits 2 before anything is asked of AWS or the database), then
    /// the URL, then the connection.
    private func connect(_ configuration: Configuration, environment: [String: String]) throws -> Migrator {
        let settings = configuration.settings
        tableName = "\"\(settings.migrationsSchema)\".\"\(settings.migrationsTable)\""
        logger.event(
            .info, "run.started", "migrator \(MigratorVersion.string) \(command)",
            [
                "command": "\(command)", "version": "\(MigratorVersion.string)",
                "migrations_dir": "\(configuration.migrationsDir)", "table": "\(tableName)",
                "dry_run": .bool(settings.dryRun),
            ])
        let folder = try MigrationFolder(path: configuration.migrationsDir)
        for stray in folder.strayFiles {
            logger.event(
                .warning, "folder.stray_file",
                "\(stray) is not \(folder.layout == .journal ? "in meta/_journal.json" : "a migration folder") and will "
                    + "not be applied",
                ["file": "\(stray)"])
        }
        let url =
            try configuration.databaseURL
            ?? fetchDatabaseURLFromSecretsManager(
                secretId: configuration.secretID!, key: configuration.secretKey, iamAuth: configuration.iamAuth,
                environment: environment, logger: logger, interruption: signals.interruption)
        var target = try DatabaseTarget(url)
        databaseName = target.displayName
        var iam: IAMLogin?
        if configuration.iamAuth {
            iam = try IAMLogin(
                target: target, environment: environment, logger: logger, interruption: signals.interruption)
            target = target.with(password: iam!.password)
        }
        do {
            let migrator = try Migrator(
                target: target, folder: folder, settings: settings, logger: logger, interruption: signals.interruption)
            databaseName = migrator.databaseName
            return migrator
        } catch {
            throw iam?.explain(error) ?? error
        }
    }

    private func finish(exitCode: Int32, failure: String?, migrator: Migrator?, started: ContinuousClock.Instant) {
        guard signals.beginFinishing() else {
            // The watchdog is writing the last line and ending the process.
            while true { _ = signals.interruption.sleep(for: .seconds(1)) }
        }
        if let reason = signals.interruption.reason, exitCode == reason.exitCode {
            logger.event(
                .warning, "run.interrupted", "stopped by \(reason.signalName); the running file was rolled back",
                ["signal": "\(reason.signalName)", "exit_code": .int(exitCode)])
        }
        let duration = (ContinuousClock.now - started).milliseconds
        let applied = migrator?.applied ?? 0
        let pending = migrator?.pending ?? 0
        let lockWaitMs = migrator?.lockWait.milliseconds ?? 0
        var fields: Logger.Metadata = [
            "command": "\(command)", "exit_code": .int(exitCode), "duration_ms": .int(duration),
            "applied": .int(applied), "pending": .int(pending), "skipped": .int(migrator?.skipped ?? 0),
            "lock_wait_ms": .int(lockWaitMs), "database": "\(databaseName)",
        ]
        if let failure { fields["error"] = .string(failure) }
        if command == "up" {
            fields.merge(
                RunReport.embeddedMetrics(
                    applied: applied, pending: pending, durationMs: duration, lockWaitMs: lockWaitMs,
                    maxExclusiveLockMs: migrator?.maxExclusiveLockMs ?? 0,
                    tablesRewritten: migrator?.tablesRewritten ?? 0,
                    dimensions: environmentFields,
                    namespace: ProcessEnvironment()["MIGRATOR_METRICS_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
                        ?? "Migrator")
            ) { _, new in new }
        }
        let message = failure ?? (command == "up" ? "done: \(applied) applied" : "done")
        logger.event(exitCode == 0 ? .info : .error, "run.finished", message, fields)
    }
}
