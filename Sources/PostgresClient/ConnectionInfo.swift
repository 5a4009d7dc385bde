import CLibPQ
import SystemSupport

/// What a connection string points at, parsed by libpq itself so that URLs, keyword strings and
/// libpq's environment variables mean exactly what they mean to `psql`.
public struct ConnectionInfo: Sendable {
    public var user: String?
    public var host: String?
    public var port: String?
    public var database: String?
    public var sslMode: String?
    /// Kept only so that it can be registered for redaction; never printed.
    public var password: String?

    /// Parses `connectionString` with `PQconninfoParse`. Throws `.invalidConnectionString` with libpq's
    /// reason (which quotes no part of the string).
    public init(parsing connectionString: String) throws(PostgresError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            // libpq quotes the part it could not parse, which may be the password: drop quoted parts.
            throw PostgresError(
                code: .invalidConnectionString,
                message: "invalid database URL: \(reason.trimmingWhitespace().removingQuotedParts())")
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            let value = option.pointee.val.map { String(cString: $0) }
            switch String(cString: keyword) {
            case "user": user = value
            case "host": host = value
            case "hostaddr": if host == nil { host = value }
            case "port": port = value
            case "dbname": database = value
            case "sslmode": sslMode = value
            case "password": password = value
            default: break
            }
            option += 1
        }
    }

    /// A Unix socket or a loopback address: nothing crosses a network, so plaintext is no risk.
    public var isLoopback: Bool {
        let hosts = (host ?? ProcessEnvironment()["PGHOST"] ?? "localhost").split(separator: ",")
        return hosts.allSatisfy { host in
            host.hasPrefix("/") || host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
        }
    }

    /// `user@host:port/dbname`, the only way the database is ever named in output. Missing parts are
    /// what libpq would default to from the environment.
    public var redacted: String {
        let environment = ProcessEnvironment()
        let user = user ?? environment["PGUSER"] ?? ProcessEnvironment.loginName ?? "?"
        let host = host ?? environment["PGHOST"] ?? "localhost"
        let port = port ?? environment["PGPORT"] ?? "5432"
        let database = database ?? environment["PGDATABASE"] ?? user
        return "\(user)@\(host):\(port)/\(database)"
    }
}

extension String {
    func removingQuotedParts() -> String {
        var out = ""
        var inQuote = false
        for character in self {
            if character == "\"" {
                inQuote.toggle()
                if inQuote { out += "\"…\"" }
            } else if !inQuote {
                out.append(character)
            }
        }
        return out
    }

    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
