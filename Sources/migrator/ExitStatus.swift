import AWS
import MigrationEngine

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

    static func code(for error: any Error) -> Int32 {
        switch error {
        case let error as MigrationError:
            switch error.code {
            case .migrationFailed: return migrationFailed
            case .configuration: return configuration
            case .database: return database
            case .lockTimeout: return lockTimeout
            case .drift: return drift
            case .policyViolation: return policyViolation
            case .interrupted: return error.interruption?.exitCode ?? 143
            default: return migrationFailed
            }
        case is ConfigurationError: return configuration
        case is AWSError: return secret
        default: return migrationFailed
        }
    }
}
