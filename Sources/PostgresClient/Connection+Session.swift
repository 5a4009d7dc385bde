import CLibPQ

/// What the live session is: its protection, its name, its settings.
extension Connection {
    /// How the session is protected, for the `database.connected` line and the unverified warning.
    public var tls: TLSState {
        guard let connection, PQsslInUse(connection) == 1 else { return .none }
        switch setting("sslmode") {
        case "verify-full": return .verified
        case "verify-ca": return .certificateOnly
        default: return .unverified
        }
    }

    /// The database the session is in, as the server named it (`PQdb`), for logs.
    public var databaseName: String { connection.flatMap { PQdb($0) }.map { String(cString: $0) } ?? "?" }

    /// `user@host:port/dbname` of the live session: no password can be in it, whatever the URL held.
    public var displayName: String {
        guard let connection else { return "?" }
        func text(_ value: UnsafeMutablePointer<CChar>?) -> String { value.map { String(cString: $0) } ?? "?" }
        var host = text(PQhost(connection))
        if host.contains(":") { host = "[\(host)]" }
        return "\(text(PQuser(connection)))@\(host):\(text(PQport(connection)))/\(databaseName)"
    }

    /// The value libpq used for one connection keyword (`sslmode`, `host` ...).
    public func setting(_ keyword: String) -> String? {
        guard let connection, let options = PQconninfo(connection) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let name = option.pointee.keyword {
            if String(cString: name) == keyword { return option.pointee.val.map { String(cString: $0) } }
            option += 1
        }
        return nil
    }
    public var serverVersion: Int32 { connection.map { PQserverVersion($0) } ?? 0 }
}
