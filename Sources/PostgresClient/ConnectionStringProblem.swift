import CLibPQ

/// What is wrong with a connection string, named by its problem and never by its value: the value
/// may be the password, or, when an unencoded `/` or `@` in the password made libpq split the URL
/// elsewhere, a host, port or database name made of pieces of the password.
enum ConnectionStringProblem {
    static let encodingHint =
        "percent-encode '/', ':', '@', '?' and '%' in the user name and password (%2F, %3A, %40, %3F, %25)"

    /// A URL that libpq would accept but read differently from the way it was meant: libpq ends the
    /// user-info at the first `@` and the host at the first `/`, so `app:k3J9/xQ@host:5432/app` has
    /// host `app`, port `k3J9` and database `xQ@host:5432/app`.
    static func misreadURL(_ text: String) -> String? {
        guard let rest = urlRemainder(text) else { return nil }
        guard let firstAt = rest.firstIndex(of: "@") else { return nil }
        if let slash = rest.firstIndex(of: "/"), slash < firstAt {
            // Also an '@' in a database name or a parameter, which libpq would read right; %40 says it
            // unambiguously, and refusing is cheaper than guessing which one was meant.
            return "an '@' comes after the first '/', so libpq would read a piece of the user name or "
                + "password as the host, port or database; \(encodingHint), and '@' in a database name or "
                + "parameter (%40)"
        }
        let afterAt = rest[rest.index(after: firstAt)...]
        let host = afterAt[..<(afterAt.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterAt.endIndex)]
        if host.contains("@") {
            return "it has more than one '@' before the host ends, so libpq would read a piece of the "
                + "password as the host; \(encodingHint)"
        }
        return nil
    }

    /// The part after `postgresql://` or `postgres://` (libpq matches the scheme case-sensitively).
    static func urlRemainder(_ text: String) -> Substring? {
        for scheme in ["postgresql://", "postgres://"] where text.hasPrefix(scheme) {
            return text.dropFirst(scheme.count)
        }
        return nil
    }

    /// Ports libpq would refuse at connect time, quoting them: each of a comma-separated list must be
    /// empty (the default) or a number.
    static func badPort(_ port: String?) -> String? {
        guard let port else { return nil }
        for piece in port.split(separator: ",", omittingEmptySubsequences: false) {
            let digits = piece.trimmingWhitespace()
            guard digits.isEmpty || (digits.count <= 5 && digits.allSatisfy(\.isASCIIDigit)) else {
                return "the port is not a number; \(encodingHint)"
            }
        }
        return nil
    }

    /// libpq's reason for refusing a string, retold without the quoted part (which may be the password).
    static func describe(libpqReason reason: String) -> String {
        let quoted = reason.firstQuotedPart()
        let known: [(String, String)] = [
            (
                "missing \"=\" after",
                "it is neither a postgresql:// URL nor key=value pairs (a word has no '=' after it)"
            ),
            ("invalid connection option", "it names an option libpq does not know" + suggestion(for: quoted)),
            ("unterminated quoted string", "a single-quoted value is not closed"),
            ("invalid URI query parameter", "a parameter after '?' is not a libpq option" + suggestion(for: quoted)),
            ("extra key/value separator", "a parameter after '?' holds a second '=' (write it as %3D)"),
            ("missing key/value separator", "a parameter after '?' has no '='"),
            ("unexpected character", "an unexpected character follows the host (expected ':', '/' or '?')"),
            ("end of string reached when looking for matching", "an IPv6 address's '[' has no closing ']'"),
            ("IPv6 host address may not be empty", "the IPv6 address between '[' and ']' is empty"),
            ("invalid percent-encoded token", "a '%' is not followed by two hexadecimal digits; \(encodingHint)"),
            ("forbidden value %00", "it holds %00, which no value may hold"),
            ("invalid URI propagated", "it is not a postgresql:// or postgres:// URL"),
        ]
        for (prefix, description) in known where reason.hasPrefix(prefix) { return description }
        return reason.trimmingWhitespace().removingQuotedParts()
    }

    /// " (did you mean sslmode?)" when `word` is one or two edits from an option libpq knows. Only the
    /// known name is printed, never the word itself.
    static func suggestion(for word: String?) -> String {
        guard let word = word?.lowercased(), !word.isEmpty, word.count <= 40 else { return "" }
        guard let defaults = PQconndefaults() else { return "" }
        defer { PQconninfoFree(defaults) }
        var best: (name: String, distance: Int)?
        var option = defaults
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            let distance = editDistance(word, name)
            if distance <= 2, distance < (best?.distance ?? .max) { best = (name, distance) }
            option += 1
        }
        return best.map { " (did you mean \($0.name)?)" } ?? ""
    }

    static func editDistance(_ first: String, _ second: String) -> Int {
        let first = Array(first.unicodeScalars)
        let second = Array(second.unicodeScalars)
        var previous = Array(0...second.count)
        for (row, a) in first.enumerated() {
            var current = [row + 1] + Array(repeating: 0, count: second.count)
            for (column, b) in second.enumerated() {
                current[column + 1] = min(
                    previous[column + 1] + 1, current[column] + 1, previous[column] + (a == b ? 0 : 1))
            }
            previous = current
        }
        return previous[second.count]
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    /// The text between the first pair of double quotes, if any.
    func firstQuotedPart() -> String? {
        guard let open = firstIndex(of: "\"") else { return nil }
        let rest = self[index(after: open)...]
        guard let close = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<close])
    }

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
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
