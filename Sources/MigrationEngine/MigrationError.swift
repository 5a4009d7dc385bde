import SystemSupport

/// Every way the engine can fail, as one error type with a nested `Code` (the postgres-nio shape).
/// The executable maps `Code` to the contract's exit codes with an exhaustive `switch`, so a new case
/// without an exit code does not compile.
///
/// `message` is one line meant for an operator at 3 a.m.: what happened, where, and what to do.
/// It never contains the connection string, a password or a secret value.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Hashable, Sendable, CustomStringConvertible {
        /// A migration's SQL failed; its file was rolled back (exit 1).
        case migrationFailed
        /// Bad flag, variable or migrations folder (exit 2).
        case configuration
        /// The database could not be reached or refused the login (exit 3).
        case database
        /// A lock could not be taken within `--lock-wait` (exit 4).
        case lockTimeout
        /// The recorded history and the folder disagree (exit 5).
        case drift
        /// `analyze` found a verdict that the `--fail-on` policy forbids (exit 7).
        case policyViolation
        /// SIGINT/SIGTERM stopped the run; the running file was rolled back (exit 130/143).
        case interrupted

        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// Set for `.interrupted`.
    public var interruption: Interruption.Reason?
    /// The connection broke while nothing of a transactional file could have half-happened: the run
    /// may reconnect and carry on from the tracking table.
    var lostConnection = false

    public init(_ code: Code, _ message: String, interruption: Interruption.Reason? = nil) {
        self.code = code
        self.message = message
        self.interruption = interruption
    }

    public var description: String { message }
}
