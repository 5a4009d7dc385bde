/// An `http`/`https` URL as the AWS endpoints and the metadata services use it. Parsed by hand, with
/// only the parts we need, so the same text that was validated is the text libcurl receives.
struct EndpointURL: Sendable, Equatable {
    var scheme: String
    /// Without brackets for IPv6 (`fd00:ec2::23`), lower-cased.
    var host: String
    var port: Int?
    /// Raw path, `/` when the URL has none.
    var path: String
    var query: String

    init?(_ text: String) {
        guard let schemeEnd = text.firstRange(of: "://") else { return nil }
        scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var rest = Substring(text[schemeEnd.upperBound...])
        guard !rest.contains("#"), !rest.contains(where: { $0.isWhitespace || $0.isNewline }) else { return nil }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        guard !authority.contains("@") else { return nil }  // credentials in a URL would end up in logs

        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close].lowercased()
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0].lowercased()
            guard !host.isEmpty,
                host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") })
            else { return nil }
            if parts.count == 2 { portText = parts[1] }
        }
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else { return nil }
            port = number
        }
        if let questionMark = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: questionMark)...])
            rest = rest[..<questionMark]
        } else {
            query = ""
        }
        path = rest.isEmpty ? "/" : String(rest)
    }

    var isIPv6: Bool { host.contains(":") }

    private var defaultPort: Int { scheme == "https" ? 443 : 80 }

    /// `Host` header value: the port only when it is not the scheme's default, as browsers, curl and
    /// the AWS SDKs send it (and so as the server recomputes the signature).
    var hostHeader: String {
        let bracketed = isIPv6 ? "[\(host)]" : host
        guard let port, port != defaultPort else { return bracketed }
        return "\(bracketed):\(port)"
    }

    var string: String {
        let bracketed = isIPv6 ? "[\(host)]" : host
        let portPart = port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(bracketed)\(portPart)\(path)" + (query.isEmpty ? "" : "?\(query)")
    }

    /// This URL with `suffix` appended to its path (`/` between them exactly once).
    func appendingPath(_ suffix: String) -> EndpointURL {
        var copy = self
        let base = path.hasSuffix("/") ? String(path.dropLast()) : path
        copy.path = base + (suffix.hasPrefix("/") ? suffix : "/" + suffix)
        return copy
    }

    var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
