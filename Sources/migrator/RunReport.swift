import Logging
import StructuredLogging
import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where logs go and what the last line says.
enum RunReport {
    static func makeLogger(format: LogFormat, level: Logger.Level, writer: LineWriter) -> Logger {
        var logger = Logger(label: "migrator") { _ in
            switch format {
            case .json: JSONLogHandler(writer: writer, logLevel: level)
            case .text: TextLogHandler(writer: writer, logLevel: level)
            }
        }
        logger.logLevel = level
        return logger
    }

    /// A usage error found by the argument parser: one line on stderr for people, and the usual
    /// `run.finished` on stdout so the task's log says why it stopped.
    static func usageError(_ message: String) {
        Redaction.shared.register(connectionStringsIn: CommandLine.arguments)
        LineWriter.standardError.write(line: "migrator: error: \(Redaction.shared.scrub(message))")
        let environment = ProcessEnvironment()
        let format = LogFormat(rawValue: (environment["MIGRATOR_LOG_FORMAT"] ?? "json").lowercased()) ?? .json
        let logger = makeLogger(format: format, level: .info, writer: .standardOutput)
        logger.event(
            .error, "run.finished", message,
            ["exit_code": .int(ExitStatus.configuration), "error": "\(message)", "duration_ms": .int(0)])
    }

    /// CloudWatch Embedded Metric Format: the `run.finished` line doubles as a metrics record, so
    /// dashboards and alarms need no PutMetricData call (and no extra IAM permission).
    static func embeddedMetrics(
        applied: Int, pending: Int, durationMs: Int64, lockWaitMs: Int64, maxExclusiveLockMs: Int64 = 0,
        tablesRewritten: Int = 0, dimensions: Logger.Metadata, namespace: String
    ) -> Logger.Metadata {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let timestamp = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        let metric: (String, String) -> Logger.MetadataValue = { name, unit in
            .dictionary(["Name": .string(name), "Unit": .string(unit)])
        }
        var fields: Logger.Metadata = [
            "_aws": .dictionary([
                "Timestamp": .int(timestamp),
                "CloudWatchMetrics": .array([
                    .dictionary([
                        "Namespace": .string(namespace),
                        "Dimensions": .array([.array(dimensions.keys.sorted().map { .string($0) })]),
                        "Metrics": .array([
                            metric("MigrationsApplied", "Count"), metric("MigrationsPending", "Count"),
                            metric("DurationMs", "Milliseconds"), metric("LockWaitMs", "Milliseconds"),
                            metric("MaxExclusiveLockMs", "Milliseconds"), metric("TablesRewritten", "Count"),
                        ]),
                    ])
                ]),
            ]),
            "MigrationsApplied": .int(applied), "MigrationsPending": .int(pending),
            "DurationMs": .int(durationMs), "LockWaitMs": .int(lockWaitMs),
            // The longest ACCESS EXCLUSIVE lock an applied file held on a table that existed before it,
            // and how many such tables were rewritten: what the application felt (see docs/analyze.md).
            "MaxExclusiveLockMs": .int(maxExclusiveLockMs), "TablesRewritten": .int(tablesRewritten),
        ]
        fields.merge(dimensions) { _, new in new }
        return fields
    }
}
