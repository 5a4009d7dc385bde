import Logging
import PostgresClient
import StructuredLogging

/// Finds out who blocks us while a statement waits for a lock. `pg_blocking_pids` only answers while
/// the wait is going on, and our own connection is busy waiting, so a second ("monitor") connection
/// is opened the first time it is needed and kept for the run.
final class BlockerProbe {
    struct Blocker: Sendable {
        var pid: Int32
        var applicationName: String
        var state: String
        var queryStart: String
        /// At most the first 200 characters: enough to recognise the query, little of its literals.
        var query: String

        var metadata: Logger.MetadataValue {
            .dictionary([
                "pid": .int(pid), "application_name": .string(applicationName), "state": .string(state),
                "query_start": .string(queryStart), "query": .string(query),
            ])
        }
    }

    /// When the run last wrote a line about the file it is on (a heartbeat, a lock report): the
    /// heartbeat's clock, shared by every attempt and backoff of that file.
    var lastReport = ContinuousClock.now

    private let connectionString: String
    private let interruption: Interruption
    private var monitor: Connection?
    private var unavailable = false

    init(connectionString: String, interruption: Interruption) {
        self.connectionString = connectionString
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
                    to: connectionString, applicationName: "migrator-monitor",
                    deadline: .now + .seconds(2), interruption: interruption)
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
                """
                SELECT pid, coalesce(application_name, ''), coalesce(state, ''),
                  coalesce(to_char(query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
                  left(coalesce(query, ''), 200)
                FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids($1)) ORDER BY pid
                """, [String(pid)])
            return result.rows.map { row in
                Blocker(
                    pid: Int32(row[0] ?? "") ?? 0, applicationName: row[1] ?? "", state: row[2] ?? "",
                    queryStart: row[3] ?? "", query: row[4] ?? "")
            }
        } catch {
            // A pooler or a missing privilege can make this impossible; the lock retry works without it.
            giveUp()
            return []
        }
    }
}
