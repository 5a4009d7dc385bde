import ArgumentParser
import MigrationEngine
import SystemSupport

/// `migrator analyze`: what each pending file would do to the tables, measured inside one
/// transaction that is always rolled back.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure each pending migration's locks and rewrites in one transaction that is rolled back.",
        discussion: """
            Run it against staging (or a copy restored from a production snapshot) before the production \
            migration. Exit 7 when a file's verdict is one --fail-on forbids. See docs/analyze.md.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Verdicts that fail the run with exit 7: blocking, rewrite (comma-separated), or none.")
    var failOn = "none"
    @Option(help: "A relation above this size counts as large: 500kB, 10MB, 1GB or bytes (default 10MB).")
    var sizeThreshold = "10MB"
    @Option(help: "A blocking lock held longer than this counts even on a small relation (default 1s).")
    var lockThreshold = "1s"
    @Flag(help: "One JSON document on stdout (logs go to stderr).") var json = false
    @Option(help: "The report on stdout: text (a table), json or markdown (logs go to stderr).")
    var format: ReportFormat?

    enum ReportFormat: String, ExpressibleByArgument {
        case text, json, markdown
    }

    func validate() throws {
        _ = try policy()
        if json && format != nil && format != .json {
            throw ValidationError("--json and --format \(format!.rawValue) ask for two reports; pick one")
        }
    }

    func policy() throws(ValidationError) -> AnalyzePolicy {
        var policy = AnalyzePolicy()
        for word in failOn.lowercased().split(separator: ",").map({ $0.trimmingWhitespace() }) where word != "none" {
            guard let verdict = Verdict(rawValue: word), verdict != .ok else {
                throw ValidationError("--fail-on: \"\(word)\" is not blocking, rewrite or none")
            }
            policy.failOn.insert(verdict)
        }
        guard let bytes = Self.bytes(sizeThreshold) else {
            throw ValidationError(
                "--size-threshold: \"\(sizeThreshold)\" is not a size (use 500kB, 10MB, 1GB or bytes)")
        }
        policy.sizeThresholdBytes = bytes
        guard let duration = Duration(parsing: lockThreshold) else {
            throw ValidationError(
                "--lock-threshold: \"\(lockThreshold)\" is not a duration (use 500ms, 1s, 2m or a number of seconds)")
        }
        policy.lockThreshold = duration
        return policy
    }

    /// PostgreSQL's units, 1024-based as `pg_size_pretty` prints them.
    static func bytes(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("tb", 1 << 40), ("b", 1)]
        let lowered = text.lowercased().trimmingWhitespace()
        var number = Substring(lowered)
        var scale: Int64 = 1
        for (suffix, size) in units where lowered.hasSuffix(suffix) {
            number = lowered.dropLast(suffix.count)
            scale = size
            break
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(number),
            value <= Int64.max / scale
        else { return nil }
        return value * scale
    }

    func run() throws {
        let chosen: ReportFormat? = json ? .json : format
        let logFormat = (options.logFormat ?? ProcessEnvironment()["MIGRATOR_LOG_FORMAT"] ?? "json").lowercased()
        // With text logs a person is reading: they get the table unless they asked for another report.
        let report = chosen ?? (logFormat == "text" ? .text : nil)
        let policy = try policy()
        throw Execution(command: "analyze", options: options, logsToStderr: report != nil).run { run, migrator in
            let result = try migrator.analyze(policy: policy)
            if let report {
                let page = AnalyzeReport(result: result, database: run.databaseName)
                switch report {
                case .text: print(page.text(), terminator: "")
                case .json: print(page.json(), terminator: "")
                case .markdown: print(page.markdown(), terminator: "")
                }
            }
            if let violation = result.policyError { throw violation }
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
