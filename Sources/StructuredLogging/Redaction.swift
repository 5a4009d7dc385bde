import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Process-wide list of values that must never reach any output (passwords, secret strings, tokens).
///
/// Every log handler passes its rendered line through `Redaction.shared.scrub(_:)`, so a secret that
/// slips into an error message from a library we do not control (libpq, libcurl, the server) is
/// still masked. Register a value as soon as it is known, before anything can log it.
public final class Redaction: Sendable {
    public static let shared = Redaction()

    private let secrets = Mutex<[String]>([])

    public init() {}

    /// Registers a sensitive value. Values shorter than 4 characters are ignored: masking them would
    /// mangle ordinary words while protecting almost nothing.
    public func register(_ secret: String) {
        guard secret.utf8.count >= 4 else { return }
        // Lines are scrubbed once rendered, where a `"`, `\` or control character of the secret
        // appears JSON-escaped; that form must be masked too.
        let escaped = String(JSONLogHandler.jsonString(secret).dropFirst().dropLast())
        secrets.withLock { list in
            for value in escaped == secret ? [secret] : [secret, escaped] where !list.contains(value) {
                list.append(value)
            }
            // Longest first, so a secret that contains another is masked whole.
            list.sort { $0.utf8.count > $1.utf8.count }
        }
    }

    public func scrub(_ text: String) -> String {
        let list = secrets.withLock { $0 }
        guard !list.isEmpty else { return text }
        var result = text
        for secret in list {
            if let masked = Self.masking(secret, in: result) { result = masked }
        }
        return result
    }

    /// `text` with every occurrence of `secret` replaced by `***`, or nil when there is none.
    ///
    /// Compares UTF-8 bytes, not Characters: `String.contains`/`replacing` cost about as much per log
    /// line as rendering it. A byte match can only mask more (also inside a grapheme cluster), never less.
    static func masking(_ secret: String, in text: String) -> String? {
        var text = text
        var secret = secret
        return text.withUTF8 { haystack in
            secret.withUTF8 { needle -> String? in
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
