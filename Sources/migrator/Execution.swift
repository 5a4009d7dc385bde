import Logging
import MigrationEngine
import PostgresClient
import StructuredLogging

/// One run of a command: logging, configuration, the secret, the connection, the command's work,
/// and the closing `run.finished` line with the exit code. Every error ends here and is mapped by
/// `ExitStatus`, so a run always ends with exactly one `run.finished`.
final class Execution {
    let command: String
    let options: OptionValues
    let signals: SignalWatcher
    let logsToStderr: Bool
    private(set) var logger = Logger(label: "migrator")
    private(set) var databaseName = "?"
    private(set) var tableName = "?"
    private var environmentFields: Logger.Metadata = [:]

    init(command: String, options: OptionValues, signals: SignalWatcher, logsToStderr: Bool) {
        self.command = command
        self.options = options
        self.signals = signals
        self.logsToStderr = logsToStderr
    }

    func run(adjust: (inout Settings) -> Void, _ work: (Execution, Migrator) throws -> Void) -> Int32 {
        let started = ContinuousClock.now
        let environment = ProcessEnvironment.all()
        let writer: LineWriter = logsToStderr ? .standardError : .standardOutput
        var migrator: Migrator?
        var exitCode = ExitStatus.success
        var failure: String?
        do {
            let (format, level) = try Configuration.logging(options: options, environment: environment)
            logger = RunReport.makeLogger(format: format, level: level, writer: writer)
            signals.use(logger)
            var configuration = try Configuration(options: options, environment: environment)
            adjust(&configuration.settings)
            let settings = configuration.settings
            tableName = "\"\(settings.migrationsSchema)\".\"\(settings.migrationsTable)\""
            // CloudWatch rejects an empty dimension value, so an empty variable counts as unset.
            if let name = environment["MIGRATOR_ENVIRONMENT"], !name.isEmpty {
                environmentFields["Environment"] = .string(name)
            }
            if let family = environment["MIGRATOR_TASK_FAMILY"], !family.isEmpty {
                environmentFields["Family"] = .string(family)
            }
            logger.event(
                .info, "run.started", "migrator \(MigratorVersion.string) \(command)",
                [
                    "command": "\(command)", "version": "\(MigratorVersion.string)",
                    "migrations_dir": "\(configuration.migrationsDir)", "table": "\(tableName)",
                    "dry_run": .bool(settings.dryRun),
                ])
            // With the URL at hand, logging in (mostly waiting for the server) overlaps reading and
            // hashing the folder. A broken folder still fails with exit 2 and the attempt is dropped
            // before it could be used: nothing is sent to the database until the folder is whole.
            let early = try configuration.databaseURL.map { url throws(MigrationError) in
                try DatabaseConnector.start(to: url, settings: settings, interruption: signals.interruption)
            }
            let folder: MigrationFolder
            do {
                folder = try MigrationFolder(path: configuration.migrationsDir)
            } catch {
                early?.abandon()
                throw error
            }
            for stray in folder.strayFiles {
                logger.event(
                    .warning, "folder.stray_file",
                    "\(stray) is not \(folder.layout == .journal ? "in meta/_journal.json" : "a migration folder") and will not be applied",
                    ["file": "\(stray)"])
            }
            let url: String
            let pending: PendingConnection
            if let databaseURL = configuration.databaseURL, let early {
                url = databaseURL
                pending = early
            } else {
                url = try fetchDatabaseURLFromSecretsManager(
                    secretId: configuration.secretID!, key: configuration.secretKey, environment: environment,
                    logger: logger)
                pending = try DatabaseConnector.start(to: url, settings: settings, interruption: signals.interruption)
            }
            databaseName = (try? ConnectionInfo(parsing: url).redacted) ?? "?"
            let connection = try pending.finish(logger: logger)
            defer { connection.close() }
            let engine = Migrator(
                connection: connection, connectionString: url, folder: folder, settings: settings, logger: logger,
                interruption: signals.interruption)
            migrator = engine
            try work(self, engine)
        } catch {
            exitCode = ExitStatus.code(for: error)
            failure = "\(error)"
        }
        finish(exitCode: exitCode, failure: failure, migrator: migrator, started: started)
        return exitCode
    }

    private func finish(exitCode: Int32, failure: String?, migrator: Migrator?, started: ContinuousClock.Instant) {
        guard signals.beginFinishing() else {
            // The watchdog is writing the last line and ending the process.
            while true { _ = signals.interruption.sleep(milliseconds: 1000) }
        }
        if let reason = signals.interruption.reason, exitCode == reason.exitCode {
            logger.event(
                .warning, "run.interrupted", "stopped by \(reason.signalName); the running file was rolled back",
                ["signal": "\(reason.signalName)", "exit_code": .int(exitCode)])
        }
        let duration = (ContinuousClock.now - started).milliseconds
        var fields: Logger.Metadata = [
            "command": "\(command)", "exit_code": .int(exitCode), "duration_ms": .int(duration),
            "applied": .int(migrator?.applied ?? 0), "pending": .int(migrator?.pending ?? 0),
            "skipped": .int(migrator?.skipped ?? 0), "lock_wait_ms": .int(migrator?.lockWait.milliseconds ?? 0),
            "database": "\(databaseName)",
        ]
        if let failure { fields["error"] = .string(failure) }
        if command == "up" {
            fields.merge(
                RunReport.embeddedMetrics(
                    applied: migrator?.applied ?? 0, pending: migrator?.pending ?? 0, durationMs: duration,
                    lockWaitMs: migrator?.lockWait.milliseconds ?? 0, dimensions: environmentFields,
                    namespace: ProcessEnvironment()["MIGRATOR_METRICS_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
                        ?? "Migrator")
            ) { _, new in new }
        }
        let message = failure ?? (command == "up" ? "done: \(migrator?.applied ?? 0) applied" : "done")
        logger.event(exitCode == 0 ? .info : .error, "run.finished", message, fields)
    }
}
