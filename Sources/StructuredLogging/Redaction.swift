import Synchronization

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
        secrets.withLock { list in
            if !list.contains(secret) {
                list.append(secret)
                // Longest first, so a secret that contains another is masked whole.
                list.sort { $0.utf8.count > $1.utf8.count }
            }
        }
    }

    public func scrub(_ text: String) -> String {
        let list = secrets.withLock { $0 }
        guard !list.isEmpty else { return text }
        var result = text
        for secret in list where result.contains(secret) {
            result = result.replacing(secret, with: "***")
        }
        return result
    }
}
