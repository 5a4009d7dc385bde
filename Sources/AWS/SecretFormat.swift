import StructuredLogging

/// Turns a `SecretString` into a database URL. Three shapes are accepted (contract, "The secret"):
/// a JSON object with the configured key, an RDS-style JSON object, or a bare PostgreSQL URL.
///
/// Error messages name keys and types, never values: a key's value might be the password.
enum SecretFormat {
    enum Shape: String, Sendable {
        case jsonKey = "json-key"
        case rds
        case url
    }

    /// `passwordOptional`: an RDS-style secret may lack `password` (IAM login, where the token is the password).
    static func databaseURL(secretString: String, key: String, passwordOptional: Bool = false) throws(AWSError) -> (
        url: String, shape: Shape
    ) {
        Redaction.shared.register(secretString)
        let trimmed = secretString.trimmingCharacters(in: " \t\r\n")
        if isPostgresURL(trimmed) {
            registerPassword(inURL: trimmed)
            return (trimmed, .url)
        }
        guard let json = JSONValue.parse(trimmed) else {
            throw AWSError(
                code: .secretFormat,
                message: "the secret is neither JSON nor a postgres:// or postgresql:// URL")
        }
        guard case .object(let object) = json else {
            throw AWSError(code: .secretFormat, message: "the secret is a JSON \(json.typeName), not an object")
        }

        if let value = object[key] {
            guard case .string(let url) = value, !url.isEmpty else {
                throw AWSError(
                    code: .secretFormat,
                    message: "key \(quoted(key)) in the secret holds a \(value.typeName), not a non-empty string")
            }
            Redaction.shared.register(url)
            registerPassword(inURL: url)
            return (url.trimmingCharacters(in: " \t\r\n"), .jsonKey)
        }
        if object["host"] != nil || object["username"] != nil || object["password"] != nil {
            return (try rdsURL(object, passwordOptional: passwordOptional), .rds)
        }
        throw AWSError(
            code: .secretFormat,
            message: "the secret has no key \(quoted(key)) and is not an RDS-style secret "
                + "(host, port, username, password, dbname); keys found: \(keyList(object))")
    }

    static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.prefix(16).lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// `postgresql://user:password@host:port/dbname`, each part percent-encoded.
    static func rdsURL(_ object: [String: JSONValue], passwordOptional: Bool = false) throws(AWSError) -> String {
        if case .string(let password)? = object["password"] { Redaction.shared.register(password) }
        func string(_ name: String, required: Bool) throws(AWSError) -> String? {
            switch object[name] {
            case .string(let value) where !value.isEmpty:
                return value
            case nil, .null, .string:
                guard !required else {
                    throw AWSError(
                        code: .secretFormat,
                        message: "RDS-style secret has no \(name); keys found: \(keyList(object))")
                }
                return nil
            case let value?:
                throw AWSError(
                    code: .secretFormat, message: "RDS-style secret: \(name) is a \(value.typeName), not a string")
            }
        }
        if let engine = try string("engine", required: false) {
            guard ["postgres", "postgresql", "aurora-postgresql"].contains(engine.lowercased()) else {
                throw AWSError(
                    code: .secretFormat, message: "RDS-style secret: engine is not postgres or aurora-postgresql")
            }
        }
        let host = try string("host", required: true)!
        let username = try string("username", required: true)!
        let password = try string("password", required: !passwordOptional)
        // AWS's own PostgreSQL rotation function falls back to `postgres` when dbname is absent; libpq
        // would fall back to the user name instead, which is rarely what an RDS secret means.
        let dbname = try string("dbname", required: false) ?? "postgres"
        let port: Int
        switch object["port"] {
        case nil, .null:
            port = 5432
        case .number(let number) where number == number.rounded() && number >= 1 && number <= 65535:
            port = Int(number)
        case .string(let text) where Int(text.trimmingCharacters(in: " ")).map({ (1...65535).contains($0) }) == true:
            port = Int(text.trimmingCharacters(in: " "))!
        default:
            throw AWSError(code: .secretFormat, message: "RDS-style secret: port is not a port number (1-65535)")
        }
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : percentEncode(host)
        let address = "@\(hostPart):\(port)/\(percentEncode(dbname))"
        guard let password else { return "postgresql://\(percentEncode(username))" + address }
        Redaction.shared.register(password)
        let encodedPassword = percentEncode(password)
        Redaction.shared.register(encodedPassword)
        return "postgresql://\(percentEncode(username)):\(encodedPassword)" + address
    }

    /// Everything but RFC 3986 unreserved characters is encoded, so no user name, password or database
    /// name can change the URL's structure.
    static func percentEncode(_ text: String) -> String {
        SigV4Signer.uriEncode(text)
    }

    /// The password of a URL found in the secret, raw and decoded, so logs mask it even when the URL is
    /// later printed in pieces.
    private static func registerPassword(inURL url: String) {
        guard let schemeEnd = url.firstRange(of: "://") else { return }
        let rest = url[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return }
        let password = String(userInfo[userInfo.index(after: colon)...])
        Redaction.shared.register(password)
        Redaction.shared.register(String(decoding: SigV4Signer.percentDecode(password), as: UTF8.self))
    }

    private static func keyList(_ object: [String: JSONValue]) -> String {
        guard !object.isEmpty else { return "none" }
        let keys = object.keys.sorted().prefix(20).map(quoted)
        return keys.joined(separator: ", ") + (object.count > 20 ? ", …" : "")
    }

    /// A key name for a message: shortened and stripped of control characters, since it is untrusted text.
    private static func quoted(_ key: String) -> String {
        "\"" + AWSError.singleLine(key, limit: 64) + "\""
    }
}
