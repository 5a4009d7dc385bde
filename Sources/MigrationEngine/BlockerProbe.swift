import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

/// A session that holds a lock we wait for, as `pg_stat_activity` shows it.
struct Blocker: Sendable {
    var pid: Int32
    var applicationName: String
    var state: String
    var queryStart: String
    /// At most the first 200 characters: enough to recognise the query, little of its literals.
    var query: String

    /// The columns every blocker query selects, in `init(row:)`'s order, from `pg_stat_activity a`.
    static let columns = """
        a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
          coalesce(to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
          left(coalesce(a.query, ''), 200)
        """

    init(row: [String?]) {
        pid = Int32(row[0] ?? "") ?? 0
        applicationName = row[1] ?? ""
        state = row[2] ?? ""
        queryStart = row[3] ?? ""
        query = row[4] ?? ""
    }

    var metadata: Logger.MetadataValue {
        .dictionary([
            "pid": .int(pid), "application_name": .string(applicationName), "state": .string(state),
            "query_start": .string(queryStart), "query": .string(query),
        ])
    }
}

extension [Blocker] {
    /// `pid 42 (app, idle in transaction), ...` for messages; "another session" when nobody is known.
    var summary: String {
        isEmpty
            ? "another session"
            : map { "pid \($0.pid) (\($0.applicationName.isEmpty ? "?" : $0.applicationName), \($0.state))" }
                .joined(separator: ", ")
    }
}

/// Finds out who blocks us while a statement waits for a lock. `pg_blocking_pids` only answers while
/// the wait is going on, and our own connection is busy waiting, so a second ("monitor") connection
/// is opened the first time it is needed and kept for the run.
final class BlockerProbe {
    private let target: DatabaseTarget
    private let interruption: Interruption
    private var monitor: Connection?
    private var unavailable = false

    init(target: DatabaseTarget, interruption: Interruption) {
        self.target = target
        self.interruption = interruption
    }

    deinit { monitor?.close() }

    /// The second connection, opened on first use; nil once it proved impossible. The lock report
    /// reads the committed catalog on it too.
    func connection() -> Connection? {
        guard !unavailable else { return nil }
        if monitor == nil {
            do {
                monitor = try Connection.connect(
                    to: target.connectionString, applicationName: "migrator-monitor",
                    password: try? target.password?(), deadline: .now + .seconds(2), interruption: interruption)
            } catch {
                unavailable = true
            }
        }
        return monitor
    }

    /// After a failed query on the monitor: drop it for the rest of the run.
    func giveUp() {
        unavailable = true
        monitor?.close()
        monitor = nil
    }

    func blockers(of pid: Int32) -> [Blocker] {
        guard let monitor = connection() else { return [] }
        do {
            let result = try monitor.query(
                "SELECT \(Blocker.columns) FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1)) ORDER BY a.pid",
                [String(pid)])
            return result.rows.map(Blocker.init(row:))
        } catch {
            // A pooler or a missing privilege can make this impossible; the lock retry works without it.
            giveUp()
            return []
        }
    }

    /// Who holds the advisory lock `key` (bigint keys live in classid/objid with objsubid 1), asked on
    /// `connection`, which is idle while we poll for the lock.
    static func advisoryLockHolders(key: Int64, on connection: Connection) -> [Blocker] {
        let key = UInt64(bitPattern: key)
        let result = try? connection.query(
            """
            SELECT \(Blocker.columns)
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid AND l.objid = $2::oid
              AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, [String(key >> 32), String(key & 0xFFFF_FFFF)])
        return (result?.rows ?? []).map(Blocker.init(row:))
    }
}
