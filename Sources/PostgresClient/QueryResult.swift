import CLibPQ

/// One result of a query, copied out of libpq's `PGresult` (which is freed right away).
public struct QueryResult: Sendable {
    public var columns: [String]
    public var rows: [[String?]]
    /// The command tag, e.g. `INSERT 0 1`; empty for an empty query.
    public var commandTag: String

    init(_ result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    // libpq knows the length; String(cString:) would measure it again.
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let bytes = UnsafeRawBufferPointer(
                        start: PQgetvalue(result, Int32(row), Int32(column)), count: length)
                    values.append(String(decoding: bytes, as: UTF8.self))
                }
            }
            rows.append(values)
        }
        self.rows = rows
        commandTag = String(cString: PQcmdStatus(result))
    }

    /// The first column of the first row, the common case for `SELECT one_value`.
    public var scalar: String? { rows.first?.first ?? nil }
}

/// A NOTICE or WARNING the server sent while a statement ran.
public struct Notice: Sendable {
    public var severity: String
    public var message: String
    public var sqlState: String?
}

// libpq's PG_DIAG_* macros are character literals, which Swift does not import.
let PG_DIAG_SEVERITY = Int32(UInt8(ascii: "S"))
let PG_DIAG_SEVERITY_NONLOCALIZED = Int32(UInt8(ascii: "V"))
let PG_DIAG_SQLSTATE = Int32(UInt8(ascii: "C"))
let PG_DIAG_MESSAGE_PRIMARY = Int32(UInt8(ascii: "M"))
let PG_DIAG_MESSAGE_DETAIL = Int32(UInt8(ascii: "D"))
let PG_DIAG_MESSAGE_HINT = Int32(UInt8(ascii: "H"))
let PG_DIAG_STATEMENT_POSITION = Int32(UInt8(ascii: "P"))
let PG_DIAG_CONTEXT = Int32(UInt8(ascii: "W"))
