/// What protects a session, as far as the client checked it.
public enum TLSState: String, Sendable {
    /// Plaintext: libpq's default `sslmode=prefer` falls back to it silently.
    case none
    /// Encrypted, but the server's certificate was not checked (`require`, `prefer`).
    case unverified
    /// The certificate chains to a trusted root, but the host name was not checked (`verify-ca`).
    case certificateOnly = "verify-ca"
    /// Certificate and host name checked (`verify-full`).
    case verified
}
