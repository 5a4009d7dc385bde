import AWS
import ArgumentParser
import MigrationEngine
import SystemSupport

/// The contract's exit codes, decided here and nowhere else.
enum ExitStatus {
    static let success: Int32 = 0
    static let migrationFailed: Int32 = 1
    static let configuration: Int32 = 2
    static let database: Int32 = 3
    static let lockTimeout: Int32 = 4
    static let drift: Int32 = 5
    static let secret: Int32 = 6
    static let policyViolation: Int32 = 7

    /// A run that was asked to stop exits 130/143 whatever error the stop surfaced as (a cancelled
    /// statement, an aborted HTTP transfer, a refused query).
    static func code(for error: any Error, stoppedBy reason: Interruption.Reason?) -> Int32 {
        if let reason { return reason.exitCode }
        switch error {
        case let error as MigrationError: return code(for: error.code, error.interruption)
        case is ConfigurationError: return configuration
        case is AWSError: return secret
        default: return migrationFailed
        }
    }

    static func code(for code: MigrationError.Code, _ interruption: Interruption.Reason?) -> Int32 {
        switch code {
        case .migrationFailed: migrationFailed
        case .configuration: configuration
        case .database: database
        case .lockTimeout: lockTimeout
        case .drift: drift
        case .policyViolation: policyViolation
        case .interrupted: interruption?.exitCode ?? Interruption.Reason.terminate.exitCode
        }
    }
}
