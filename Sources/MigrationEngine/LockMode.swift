/// PostgreSQL's table-level lock modes, weakest first: the order of the conflict table in the
/// "Explicit Locking" chapter, so `max` is the mode that makes the most other sessions wait.
public enum LockMode: Int, Comparable, Sendable, CaseIterable {
    case accessShare, rowShare, rowExclusive, shareUpdateExclusive, share, shareRowExclusive, exclusive,
        accessExclusive

    /// From `pg_locks.mode` (`AccessExclusiveLock` …); nil for advisory and other non-table modes.
    init?(pgLocksName: Substring) {
        switch pgLocksName {
        case "AccessShareLock": self = .accessShare
        case "RowShareLock": self = .rowShare
        case "RowExclusiveLock": self = .rowExclusive
        case "ShareUpdateExclusiveLock": self = .shareUpdateExclusive
        case "ShareLock": self = .share
        case "ShareRowExclusiveLock": self = .shareRowExclusive
        case "ExclusiveLock": self = .exclusive
        case "AccessExclusiveLock": self = .accessExclusive
        default: return nil
        }
    }

    /// The documentation's spelling, which is what operators search for.
    public var name: String {
        switch self {
        case .accessShare: "ACCESS SHARE"
        case .rowShare: "ROW SHARE"
        case .rowExclusive: "ROW EXCLUSIVE"
        case .shareUpdateExclusive: "SHARE UPDATE EXCLUSIVE"
        case .share: "SHARE"
        case .shareRowExclusive: "SHARE ROW EXCLUSIVE"
        case .exclusive: "EXCLUSIVE"
        case .accessExclusive: "ACCESS EXCLUSIVE"
        }
    }

    public init?(name: String) {
        guard let mode = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = mode
    }

    /// SHARE and stronger conflict with ROW EXCLUSIVE: the application's INSERT, UPDATE and DELETE
    /// wait until the migration's transaction ends.
    public var blocksWrites: Bool { self >= .share }

    /// Only ACCESS EXCLUSIVE conflicts with ACCESS SHARE: even plain SELECTs wait.
    public var blocksReads: Bool { self == .accessExclusive }

    /// What an application's queries on the relation do while the lock is held, for people.
    public var effect: String {
        switch self {
        case .accessExclusive: "every query on it waits, SELECT included"
        case .exclusive: "only plain SELECT runs; writes and SELECT ... FOR UPDATE/SHARE wait"
        case .share, .shareRowExclusive: "reads run; INSERT, UPDATE and DELETE wait"
        case .shareUpdateExclusive: "reads and writes run; other schema changes, VACUUM and ANALYZE wait"
        case .rowExclusive, .rowShare, .accessShare: "reads and writes run; only schema changes wait"
        }
    }

    public static func < (lhs: LockMode, rhs: LockMode) -> Bool { lhs.rawValue < rhs.rawValue }
}
