import PostgresClient

/// Every way the engine can fail, as one error type with a nested `Code` (the postgres-nio shape).
/// The executable maps `Code` to the contract's exit codes; nothing else decides them.
///
/// `message` is one line meant for an operator at 3 a.m.: what happened, where, and what to do.
/// It never contains the connection string, a password or a secret value.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case migrationFailed, configuration, database, lockTimeout, drift, interrupted, policyViolation
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A migration's SQL failed; its file was rolled back (exit 1).
        public static let migrationFailed = Code(.migrationFailed)
        /// Bad flag, variable or migrations folder (exit 2).
        public static let configuration = Code(.configuration)
        /// The database could not be reached or refused the login (exit 3).
        public static let database = Code(.database)
        /// A lock could not be taken within `--lock-wait` (exit 4).
        public static let lockTimeout = Code(.lockTimeout)
        /// The recorded history and the folder disagree (exit 5).
        public static let drift = Code(.drift)
        /// SIGINT/SIGTERM stopped the run; the running file was rolled back (exit 130/143).
        public static let interrupted = Code(.interrupted)
        /// `analyze` found a file whose verdict the `--fail-on` policy forbids (exit 7).
        public static let policyViolation = Code(.policyViolation)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// Set for `.interrupted`.
    public var interruption: Interruption.Reason?

    public init(_ code: Code, _ message: String, interruption: Interruption.Reason? = nil) {
        self.code = code
        self.message = message
        self.interruption = interruption
    }

    public var description: String { message }
}
