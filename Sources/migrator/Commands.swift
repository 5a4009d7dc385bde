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
            6 secret could not be had, 7 analyze policy violated, 130/143 stopped by SIGINT/SIGTERM.
            """,
        version: MigratorVersion.string,
        subcommands: [Up.self, Status.self, Verify.self, Baseline.self, Forget.self, Analyze.self],
        defaultSubcommand: Up.self
    )
}

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply every pending migration, in journal order (the default command).")

    @OptionGroup var options: CommonOptions
    @Flag(help: "Print the plan (what would be applied, in order); change nothing.") var dryRun = false
    @Flag(help: "Apply pending migrations older than the newest recorded one (Drizzle skips them silently).")
    var allowOutOfOrder = false

    func run() throws {
        let (dryRun, allowOutOfOrder) = (dryRun, allowOutOfOrder)
        throw Execution(command: "up", options: options).run(
            adjust: { settings in
                settings.dryRun = dryRun
                if allowOutOfOrder { settings.allowOutOfOrder = true }
            },
            { _, migrator in try migrator.up() })
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each journal entry as applied, pending, changed or out-of-order, and unknown rows.")

    @OptionGroup var options: CommonOptions
    @Flag(help: "One JSON document on stdout (logs go to stderr).") var json = false

    func run() throws {
        let json = json
        throw Execution(command: "status", options: options, logsToStderr: true).run { run, migrator in
            // Drift is reported, not fatal: status is for looking; `verify` is the gate.
            let (plan, tableExists) = try migrator.plan()
            let report = StatusReport(
                plan: plan, tableExists: tableExists, database: run.databaseName, table: run.tableName)
            print(json ? report.json() : report.text(), terminator: "")
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the recorded history against the folder; change nothing; exit 5 on drift.")

    @OptionGroup var options: CommonOptions

    func run() throws {
        throw Execution(command: "verify", options: options).run { run, migrator in
            let (plan, _) = try migrator.plan()
            try migrator.check(plan, action: "fix the drift before deploying")
            run.logger.event(
                .info, "verify.ok", "recorded history matches the folder",
                ["applied": .int(plan.appliedCount), "pending": .int(plan.pending.count)])
        }
    }
}

struct Baseline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record entries as applied without running them (one-time seeding of a hand-migrated database).")

    @OptionGroup var options: CommonOptions
    @Option(help: "Record entries up to and including this tag (default: all).") var through: String?
    @Flag(help: "Show what would be recorded; change nothing.") var dryRun = false

    func run() throws {
        let (through, dryRun) = (through, dryRun)
        throw Execution(command: "baseline", options: options).run(adjust: { $0.dryRun = dryRun }) { _, migrator in
            try migrator.baseline(through: through)
        }
    }
}

struct Forget: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete the tracking row of one migration (recovery after a manual rollback).")

    @OptionGroup var options: CommonOptions
    @Argument(help: "The migration's tag, e.g. 0007_add_orders.") var tag: String
    @Flag(help: "Show the row that would be deleted; change nothing.") var dryRun = false
    @Flag(help: "Delete it even when newer rows exist (the entry then becomes out of order).") var force = false

    func run() throws {
        let (tag, force, dryRun) = (tag, force, dryRun)
        throw Execution(command: "forget", options: options).run(adjust: { $0.dryRun = dryRun }) { _, migrator in
            try migrator.forget(tag: tag, force: force)
        }
    }
}

enum MigratorVersion {
    static let string = "0.1.0"
}
