import ArgumentParser
import Logging
import MigrationEngine

struct MigratorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrator",
        abstract: "Applies drizzle-kit migrations to PostgreSQL, one advisory-locked transaction per file.",
        discussion: """
            Exit codes: 0 success, 1 a migration failed (rolled back), 2 usage or configuration, \
            3 database unreachable or login refused, 4 lock wait exceeded, 5 drift, \
            6 secret could not be had, 7 analyze policy broken, 130/143 stopped by SIGINT/SIGTERM.
            """,
        version: MigratorVersion.string,
        subcommands: [Up.self, Status.self, Verify.self, Baseline.self, Forget.self, Analyze.self],
        defaultSubcommand: Up.self
    )
}

/// What a connecting command does, as plain values: built from parsed arguments, or without the
/// parser for the deploy's own invocation (`QuickStart`). `Execution` owns logging, the exit code
/// and `run.finished`.
struct Invocation {
    var name: String
    var options: OptionValues
    /// Where people-facing output goes decides where logs go (see `Execution`).
    var writesReportToStdout = false
    /// Command flags that change the engine's settings (dry runs, out-of-order).
    var adjust: (inout Settings) -> Void = { _ in }
    var work: (Execution, Migrator) throws -> Void

    func execute(signals: SignalWatcher) -> Int32 {
        Execution(command: name, options: options, signals: signals, logsToStderr: writesReportToStdout)
            .run(adjust: adjust, work)
    }
}

/// A subcommand that connects to the database.
protocol RunnableCommand: ParsableCommand {
    var invocation: Invocation { get }
}

struct Up: RunnableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply every pending migration, in journal order (the default command).")

    @OptionGroup var options: CommonOptions
    @Flag(help: "Print the plan (what would be applied, in order); change nothing.") var dryRun = false
    @Flag(help: "Apply pending migrations older than the newest recorded one (Drizzle skips them silently).")
    var allowOutOfOrder = false

    var invocation: Invocation {
        Self.invocation(options: options.values, dryRun: dryRun, allowOutOfOrder: allowOutOfOrder)
    }

    static func invocation(options: OptionValues, dryRun: Bool = false, allowOutOfOrder: Bool = false) -> Invocation {
        Invocation(
            name: "up", options: options,
            adjust: { settings in
                settings.dryRun = dryRun
                if allowOutOfOrder { settings.allowOutOfOrder = true }
            },
            work: { _, migrator in try migrator.up() })
    }
}

struct Status: RunnableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each journal entry as applied, pending, changed or out-of-order, and unknown rows.")

    @OptionGroup var options: CommonOptions
    @Flag(help: "One JSON document on stdout (logs go to stderr).") var json = false

    var invocation: Invocation { Self.invocation(options: options.values, json: json) }

    static func invocation(options: OptionValues, json: Bool = false) -> Invocation {
        Invocation(name: "status", options: options, writesReportToStdout: true) { run, migrator in
            // Drift is reported, not fatal: status is for looking; `verify` is the gate.
            let (plan, tableExists) = try migrator.plan()
            let report = StatusReport(
                plan: plan, tableExists: tableExists, database: run.databaseName, table: run.tableName)
            print(json ? report.json() : report.text(), terminator: "")
        }
    }
}

struct Verify: RunnableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the recorded history against the folder; change nothing; exit 5 on drift.")

    @OptionGroup var options: CommonOptions

    var invocation: Invocation { Self.invocation(options: options.values) }

    static func invocation(options: OptionValues) -> Invocation {
        Invocation(name: "verify", options: options) { run, migrator in
            let (plan, _) = try migrator.plan()
            try migrator.check(plan, action: "fix the drift before deploying")
            run.logger.event(
                .info, "verify.ok", "recorded history matches the folder",
                ["applied": .int(plan.appliedCount), "pending": .int(plan.pending.count)])
        }
    }
}

struct Baseline: RunnableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record entries as applied without running them (one-time seeding of a hand-migrated database).")

    @OptionGroup var options: CommonOptions
    @Option(help: "Record entries up to and including this tag (default: all).") var through: String?
    @Flag(help: "Show what would be recorded; change nothing.") var dryRun = false

    var invocation: Invocation {
        let (through, dryRun) = (through, dryRun)
        return Invocation(
            name: "baseline", options: options.values, adjust: { $0.dryRun = dryRun },
            work: { _, migrator in try migrator.baseline(through: through) })
    }
}

struct Forget: RunnableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete the tracking row of one migration (recovery after a manual rollback).")

    @OptionGroup var options: CommonOptions
    @Argument(help: "The migration's tag, e.g. 0007_add_orders.") var tag: String
    @Flag(help: "Show the row that would be deleted; change nothing.") var dryRun = false
    @Flag(help: "Delete it even when newer rows exist (the entry then becomes out of order).") var force = false

    var invocation: Invocation {
        let (tag, force, dryRun) = (tag, force, dryRun)
        return Invocation(
            name: "forget", options: options.values, adjust: { $0.dryRun = dryRun },
            work: { _, migrator in try migrator.forget(tag: tag, force: force) })
    }
}

enum MigratorVersion {
    static let string = "0.1.0"
}
