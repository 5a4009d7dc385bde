/// What the engine needs to know from the configuration (the executable resolves flags, variables
/// and defaults into this).
public struct Settings: Sendable {
    public var migrationsSchema = "drizzle"
    public var migrationsTable = "__drizzle_migrations"
    /// lock_timeout of one attempt, for the advisory lock and the file's own table locks alike.
    public var lockTimeout: Duration = .seconds(5)
    /// Total time to keep retrying a file that hit the lock timeout.
    public var lockWait: Duration = .seconds(300)
    /// statement_timeout; zero means none.
    public var statementTimeout: Duration = .zero
    /// Total time to wait for the database to accept connections.
    public var connectTimeout: Duration = .seconds(60)
    public var allowOutOfOrder = false
    public var dryRun = false
    /// `up` reads each file's relation locks before its COMMIT (docs/analyze.md); off only as an
    /// escape hatch (MIGRATOR_LOCK_REPORT=false).
    public var lockReport = true

    public init() {}
}

extension Duration {
    /// Parses the contract's durations: `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
    public init?(parsing text: String) {
        let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        var number = Substring(text)
        var scale: Int64 = 1000
        for unit in units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            scale = unit.milliseconds
            break
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(number),
            value <= Int64(Int32.max)
        else { return nil }
        self = .milliseconds(value * scale)
    }
}
