import CLibPQ
import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One libpq connection, used from one thread at a time. Closed exactly once: by `close()` or, if
/// the owner forgets, by `deinit`.
///
/// Every query goes through libpq's asynchronous API and a `poll` loop, so that a long statement can
/// report progress (`Observer`) and a stop request can cancel it, instead of blocking inside libpq.
public final class Connection: @unchecked Sendable {
    public enum TransactionStatus: Sendable {
        case idle, active, inTransaction, inFailedTransaction, unknown
    }

    /// Called about every `tick` while a statement runs, with the time since it was sent.
    public typealias Observer = (_ elapsed: Duration) -> Void

    /// nil once closed. Internal so the connecting and session files can use it.
    var connection: OpaquePointer?
    private let cancelHandle: CancelHandle
    private let interruption: Interruption?
    private let noticeBox: NoticeBox

    /// Results received for the running (or last) query. After an error in a multi-statement string,
    /// how many of its statements ran before it. (While one runs it says little: the server holds
    /// finished statements' results until the string ends or fails.)
    public private(set) var completedResults = 0

    init(connection: OpaquePointer, interruption: Interruption?) {
        self.connection = connection
        self.interruption = interruption
        self.cancelHandle = CancelHandle(PQgetCancel(connection))
        self.noticeBox = NoticeBox()
        PQsetNoticeReceiver(connection, noticeReceiver, Unmanaged.passUnretained(noticeBox).toOpaque())
        interruption?.register(cancelHandle)
    }

    deinit { close() }

    /// Closes the connection. Safe to call more than once; only the first call does anything.
    public func close() {
        guard let connection else { return }
        interruption?.unregister(cancelHandle)
        cancelHandle.free()
        PQfinish(connection)
        self.connection = nil
    }

    /// Receives every NOTICE/WARNING the server sends on this connection.
    public func onNotice(_ handler: @escaping @Sendable (Notice) -> Void) {
        noticeBox.handler = handler
    }

    // MARK: queries

    /// Sends `sql` as one simple-protocol query (the way Drizzle's drivers send a migration piece) and
    /// returns every result. The first error is thrown after the rest of the response is consumed,
    /// so the connection stays usable (for a ROLLBACK).
    ///
    /// Once the run is interrupted, a query is not sent at all, and one already running is cancelled:
    /// the stop request's own `PQcancel` only reaches a statement that was running at that instant,
    /// so without this a piece sent a moment later would run to its end (a `pg_sleep(30)` past the
    /// watchdog, holding the advisory lock). Cleanup (`ROLLBACK`, `RESET ALL`, unlocking) passes
    /// `evenIfInterrupted: true`.
    @discardableResult
    public func simpleQuery(
        _ sql: String, tick: Duration = .milliseconds(500), observer: Observer? = nil, evenIfInterrupted: Bool = false
    ) throws(PostgresError) -> [QueryResult] {
        let connection = try live()
        if !evenIfInterrupted { try refuseIfInterrupted() }
        guard PQsendQuery(connection, sql) == 1 else { throw lostConnection() }
        return try collectResults(tick: tick, observer: observer, cancelOnInterruption: !evenIfInterrupted)
    }

    /// Sends one parameterised statement with the extended protocol (`PQsendQueryParams`), values as
    /// text, so nothing is ever spliced into SQL.
    @discardableResult
    public func query(
        _ sql: String, _ parameters: [String?] = [], tick: Duration = .milliseconds(500), observer: Observer? = nil
    ) throws(PostgresError) -> QueryResult {
        let connection = try live()
        try refuseIfInterrupted()
        let sent: Int32 = withOptionalCStrings(parameters) { pointers in
            PQsendQueryParams(connection, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        guard sent == 1 else { throw lostConnection() }
        let results = try collectResults(tick: tick, observer: observer, cancelOnInterruption: true)
        guard let last = results.last else {
            throw PostgresError(code: .connectionLost, message: "the server sent no result")
        }
        return last
    }

    public var transactionStatus: TransactionStatus {
        guard let connection else { return .unknown }
        switch PQtransactionStatus(connection) {
        case PQTRANS_IDLE: return .idle
        case PQTRANS_ACTIVE: return .active
        case PQTRANS_INTRANS: return .inTransaction
        case PQTRANS_INERROR: return .inFailedTransaction
        default: return .unknown
        }
    }

    public var backendPID: Int32 { connection.map { PQbackendPID($0) } ?? 0 }

    // MARK: internals

    private func live() throws(PostgresError) -> OpaquePointer {
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            throw PostgresError(code: .connectionLost, message: "the database connection is closed")
        }
        return connection
    }

    private func refuseIfInterrupted() throws(PostgresError) {
        if interruption?.isTriggered == true {
            throw PostgresError(code: .cancelled, message: "not sent: the run was interrupted")
        }
    }

    private func lostConnection() -> PostgresError {
        PostgresError(code: .connectionLost, message: connection.map(Self.errorMessage) ?? "connection closed")
    }

    private func collectResults(
        tick: Duration, observer: Observer?, cancelOnInterruption: Bool
    ) throws(PostgresError) -> [QueryResult] {
        let connection = try live()
        let started = ContinuousClock.now
        var nextTick = started + tick
        var results: [QueryResult] = []
        var firstError: PostgresError?
        var cancelSent = false
        completedResults = 0
        while true {
            while PQisBusy(connection) == 1 {
                if cancelOnInterruption && !cancelSent && interruption?.isTriggered == true {
                    // The query may have been sent just after the stop request cancelled what was running.
                    cancelSent = true
                    cancelHandle.cancelStatement()
                }
                let now = ContinuousClock.now
                if now >= nextTick {
                    observer?(now - started)
                    nextTick = now + tick
                }
                // Short waits, so a stop request that raced with the send is noticed well within the 2 s budget.
                let wait = min(now.duration(to: nextTick), .milliseconds(100))
                _ = Self.waitForSocket(PQsocket(connection), events: Int16(POLLIN), timeout: wait)
                if PQconsumeInput(connection) == 0 { throw lostConnection() }
            }
            guard let result = PQgetResult(connection) else { break }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
                results.append(QueryResult(result))
                completedResults += 1
            case PGRES_COPY_IN:
                // A migration cannot stream data to us; end the COPY with an error the server reports.
                _ = PQputCopyEnd(connection, "COPY FROM STDIN is not supported in a migration file")
            case PGRES_COPY_OUT:
                var buffer: UnsafeMutablePointer<CChar>?
                while PQgetCopyData(connection, &buffer, 0) > 0 { PQfreemem(buffer) }
            default:
                if firstError == nil { firstError = Self.serverError(result, connection: connection) }
            }
        }
        if PQstatus(connection) == CONNECTION_BAD {
            // Whatever the server said last (57P01 on a restart, or nothing), the session is gone.
            throw firstError.map { error in
                var error = error
                error.code = .connectionLost
                return error
            } ?? lostConnection()
        }
        if let firstError { throw firstError }
        return results
    }

    private static func serverError(_ result: OpaquePointer, connection: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let primary = field(PG_DIAG_MESSAGE_PRIMARY) ?? errorMessage(connection)
        return PostgresError(
            code: field(PG_DIAG_SQLSTATE) == nil ? .connectionLost : .server,
            message: primary,
            sqlState: field(PG_DIAG_SQLSTATE),
            severity: field(PG_DIAG_SEVERITY_NONLOCALIZED) ?? field(PG_DIAG_SEVERITY),
            detail: field(PG_DIAG_MESSAGE_DETAIL),
            hint: field(PG_DIAG_MESSAGE_HINT),
            position: field(PG_DIAG_STATEMENT_POSITION).flatMap { Int($0) },
            context: field(PG_DIAG_CONTEXT))
    }

    static func errorMessage(_ connection: OpaquePointer) -> String {
        guard let raw = PQerrorMessage(connection) else { return "unknown libpq error" }
        // libpq's messages span lines ("...failed: ...\n\tIs the server running..."); logs want one.
        return String(cString: raw).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters() }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }

    static func waitForSocket(_ socket: Int32, events: Int16, timeout: Duration) -> Bool {
        guard socket >= 0 else { return true }
        var descriptor = pollfd(fd: socket, events: events, revents: 0)
        return poll(&descriptor, 1, max(0, Int32(clamping: timeout.milliseconds))) != 0
    }
}

private final class NoticeBox: @unchecked Sendable {
    var handler: (@Sendable (Notice) -> Void)?
}

private let noticeReceiver: PQnoticeReceiver = { context, result in
    guard let context, let result else { return }
    let box = Unmanaged<NoticeBox>.fromOpaque(context).takeUnretainedValue()
    guard let handler = box.handler else { return }
    func field(_ code: Int32) -> String? {
        guard let value = PQresultErrorField(result, code) else { return nil }
        return String(cString: value)
    }
    handler(
        Notice(
            severity: field(PG_DIAG_SEVERITY_NONLOCALIZED) ?? field(PG_DIAG_SEVERITY) ?? "NOTICE",
            message: field(PG_DIAG_MESSAGE_PRIMARY) ?? "",
            sqlState: field(PG_DIAG_SQLSTATE)))
}

extension Substring {
    fileprivate func trimmingCharacters() -> String { String(self).trimmingWhitespace() }
}

func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    return body(duplicates.map { UnsafePointer($0) } + [nil])
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let duplicates = strings.map { $0.map { strdup($0) } ?? nil }
    defer { duplicates.forEach { free($0) } }
    return body(duplicates.map { UnsafePointer($0) })
}
