import Synchronization
import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Process-wide list of values that must never reach any output (passwords, secret strings, tokens,
/// signatures), with the pieces and spellings in which other code may print them.
///
/// The log handlers pass every value (never a key or the event name) through `scrub(_:)`, so a
/// secret that slips into an error message from a library we do not control (libpq, libcurl, the
/// server) is still masked. Register a value as soon as it is known, before anything can log it; text
/// that is cut (to a line, to 300 characters) must be scrubbed before it is cut, since a cut secret no
/// longer matches.
public final class Redaction: Sendable {
    public static let shared = Redaction()

    /// Byte strings to mask, longest first so that a secret holding another is masked whole.
    private let secrets = Mutex<[[UInt8]]>([])

    public init() {}

    /// Registers a secret (password, key, token, signature): the value, each piece between the
    /// characters at which libpq's URL parser cuts (`:` `/` `@` `?` `&` `=` `,`) that is at least 4
    /// characters long, and every piece's JSON-escaped, percent-encoded, percent-decoded and
    /// SQL-quoted spellings. (Not at white space or quotes: libpq's messages that quote a piece of a
    /// keyword string are retold without it, see `ConnectionInfo`, and a piece that is an ordinary
    /// word would be masked in all other text.)
    ///
    /// Shorter values are ignored: masking them would mangle ordinary words while protecting almost
    /// nothing (and a 3-character password is not protected by anything).
    public func register(_ secret: String) {
        guard secret.unicodeScalars.count >= 4 else { return }
        if secret.contains("X-Amz-Signature=") {
            registerPresigned(secret)
            return
        }
        var values = Set<String>()
        for piece in [secret] + Self.pieces(of: secret) {
            values.formUnion(Self.spellings(of: piece))
            if piece.contains("%") {
                let decoded = String(decoding: PercentEncoding.decode(piece), as: UTF8.self)
                values.formUnion(Self.spellings(of: decoded))
                values.formUnion(Self.pieces(of: decoded).flatMap(Self.spellings))
            }
        }
        add(values)
    }

    /// An RDS IAM token (a presigned URL without its scheme): its host, port, user, region and date are
    /// public and printed elsewhere, so its pieces are not masked; it is registered whole, and its
    /// signature and session token with their pieces.
    private func registerPresigned(_ token: String) {
        registerWhole(token)
        guard let query = token.firstIndex(of: "?").map({ token[token.index(after: $0)...] }) else { return }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "X-Amz-Signature" || parts[0] == "X-Amz-Security-Token" {
                register(parts[1])
            }
        }
    }

    /// Registers a value that is secret only as a whole, such as a whole secret document: a piece of
    /// it (a host name, a port) is not. Its JSON-escaped spelling is registered too.
    public func registerWhole(_ value: String) {
        guard value.unicodeScalars.count >= 4 else { return }
        add([value, Self.jsonEscaped(value)])
    }

    /// Registers a database connection string before anyone parses it: the whole string, and for a
    /// URL its user-info part (`user:password`) and its password with all its pieces. The user-info
    /// ends at the last `@` before any `?`, which is where a person meant it to end even when an
    /// unencoded `/` or `@` in the password makes libpq split the URL elsewhere.
    public func register(connectionString: String) {
        registerWhole(connectionString)
        guard let schemeEnd = connectionString.firstRange(of: "://") else {
            // A keyword string: the value after `password=`, up to white space, quotes removed.
            if let key = connectionString.firstRange(of: "password=") {
                let value = connectionString[key.upperBound...].prefix { !$0.isWhitespace }
                register(String(value.trimmingPrefix("'").reversed().drop { $0 == "'" }.reversed()))
            }
            return
        }
        let rest = connectionString[schemeEnd.upperBound...]
        let authority = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
        guard let at = authority.lastIndex(of: "@") else { return }
        let userInfo = authority[..<at]
        registerWhole(String(userInfo))
        if let colon = userInfo.firstIndex(of: ":") {
            register(String(userInfo[userInfo.index(after: colon)...]))
        }
    }

    /// Registers each argument that looks like a connection string (`://`, `password=`): an operator
    /// who forgets `--database-url` puts the URL where the argument parser's error quotes it.
    public func register(connectionStringsIn arguments: [String]) {
        for argument in arguments where argument.contains("://") || argument.contains("password=") {
            register(connectionString: argument)
        }
    }

    /// `text` with every registered value replaced by `***`. For one value (a message, a field), or
    /// for free text that has no keys (a line on stderr).
    public func scrub(_ text: String) -> String {
        let list = secrets.withLock { $0 }
        guard !list.isEmpty else { return text }
        var result = text
        for secret in list {
            if let masked = Self.masking(secret, in: result) { result = masked }
        }
        return result
    }

    private func add(_ values: Set<String>) {
        secrets.withLock { list in
            for value in values where value.unicodeScalars.count >= 4 {
                let bytes = Array(value.utf8)
                if !list.contains(bytes) { list.append(bytes) }
            }
            list.sort { $0.count > $1.count }
        }
    }

    static let separators: Set<Character> = [":", "/", "@", "?", "&", "=", ","]

    /// The pieces between separators that are at least 4 characters long.
    static func pieces(of secret: String) -> [String] {
        secret.split(whereSeparator: { separators.contains($0) })
            .map(String.init)
            .filter { $0.unicodeScalars.count >= 4 && $0 != secret }
    }

    /// How a value may be spelled where it is echoed: as is, inside a JSON string, percent-encoded in
    /// a URL, and inside an SQL string literal (quotes doubled).
    static func spellings(of value: String) -> [String] {
        [value, jsonEscaped(value), percentEncoded(value), value.replacing("'", with: "''")]
    }

    /// The inside of a JSON string literal, escaped as `JSONLogHandler` writes it.
    static func jsonEscaped(_ value: String) -> String {
        String(JSONLogHandler.jsonString(value).dropFirst().dropLast())
    }

    /// Every byte but RFC 3986's unreserved characters as `%XX` (upper-case hex, as URL builders write).
    static func percentEncoded(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` with every occurrence of `secret` replaced by `***`, or nil when there is none.
    ///
    /// Compares UTF-8 bytes, not Characters: `String.contains`/`replacing` cost about as much per log
    /// line as rendering it. A byte match can only mask more (also inside a grapheme cluster), never less.
    static func masking(_ needle: [UInt8], in text: String) -> String? {
        var text = text
        return text.withUTF8 { haystack in
            needle.withUnsafeBufferPointer { needle -> String? in
                guard let first = needle.first, haystack.count >= needle.count,
                    let base = haystack.baseAddress, let pattern = needle.baseAddress
                else { return nil }
                var out: [UInt8] = []
                var copied = 0
                var index = 0
                let last = haystack.count - needle.count
                while index <= last, let hit = memchr(base + index, Int32(first), last - index + 1) {
                    let position = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + position, pattern, needle.count) == 0 {
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: haystack[copied..<position]))
                        out.append(contentsOf: "***".utf8)
                        index = position + needle.count
                        copied = index
                    } else {
                        index = position + 1
                    }
                }
                guard copied > 0 else { return nil }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: haystack[copied...]))
                return String(decoding: out, as: UTF8.self)
            }
        }
    }
}
