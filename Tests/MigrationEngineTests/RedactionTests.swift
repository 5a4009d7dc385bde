import Logging
import PostgresClient
import StructuredLogging
import Testing

/// Values registered in the shared redaction here are made of rare letters: it is process-wide, and
/// a word registered in it would be masked in other tests' messages.
///
/// Issue 14, findings 1 and 2: a URL libpq would misread is named by its problem, never by its value;
/// secrets are masked in every piece and spelling in which they can be echoed, in values only.
@Suite("redaction")
struct RedactionTests {
    struct BadURL: CustomStringConvertible, Sendable {
        var url: String
        /// Must appear in the message.
        var problem: String
        /// Must not appear in the message.
        var secrets: [String]
        var description: String { problem }
    }

    static let badURLs: [BadURL] = [
        // The red team's URL: libpq reads host `app`, port `k3J9`, database `xQ+abcDEF@127.0.0.1:5432/app`.
        BadURL(
            url: "postgres://app:k3J9/xQ+abcDEF@127.0.0.1:5432/app", problem: "an '@' comes after the first '/'",
            secrets: ["k3J9", "xQ+abcDEF", "abcDEF"]),
        BadURL(
            url: "postgres://app:k3J9\"/xQ+abcDEF@127.0.0.1/app", problem: "an '@' comes after the first '/'",
            secrets: ["k3J9", "xQ+abcDEF"]),
        BadURL(
            url: "postgres://app:Kq7v@Wz9x@127.0.0.1:5432/app", problem: "more than one '@'", secrets: ["Wz9x"]),
        BadURL(
            url: "postgres://app:pw-secret@127.0.0.1:notaport/app", problem: "the port is not a number",
            secrets: ["pw-secret"]),
        BadURL(
            url: "postgres://app:100%zz-secret@127.0.0.1/app",
            problem: "a '%' is not followed by two hexadecimal digits", secrets: ["zz-secret", "100%"]),
        BadURL(
            url: "postgres://app:pw-secret@127.0.0.1/app?sslmdoe=require", problem: "(did you mean sslmode?)",
            secrets: ["pw-secret", "sslmdoe"]),
        BadURL(
            url: "postgres://app:pw-secret@127.0.0.1/app?sslmode", problem: "a parameter after '?' has no '='",
            secrets: ["pw-secret"]),
        BadURL(
            url: "postgres://app:pw-secret@[::1/app", problem: "'[' has no closing ']'", secrets: ["pw-secret"]),
        BadURL(
            url: "host=127.0.0.1 password='pw secret", problem: "a single-quoted value is not closed",
            secrets: ["pw secret", "secret"]),
        BadURL(
            url: "mysql//app:pw-secret@127.0.0.1/app", problem: "neither a postgresql:// URL nor key=value pairs",
            secrets: ["pw-secret"]),
    ]

    @Test("a URL libpq refuses or would misread: named by its problem, no piece of it", arguments: badURLs)
    func badURL(_ bad: BadURL) {
        do {
            let info = try ConnectionInfo(parsing: bad.url)
            Issue.record("parsed as \(info.redacted)")
        } catch {
            #expect(error.code == .invalidConnectionString)
            #expect(error.message.hasPrefix("invalid database URL: "), "\(error.message)")
            #expect(error.message.contains(bad.problem), "\(error.message)")
            for secret in bad.secrets {
                #expect(!error.message.contains(secret), "\(error.message)")
                #expect(!error.description.contains(secret), "\(error.description)")
            }
        }
    }

    @Test("a well-formed URL with an encoded password parses, and its password is masked in every piece")
    func encodedPassword() throws {
        let info = try ConnectionInfo(parsing: "postgres://app:Zq9v%2FxQ%2Bcipher%40w@127.0.0.1:5432/app")
        #expect(info.redacted == "app@127.0.0.1:5432/app")
        #expect(info.password == "Zq9v/xQ+cipher@w")
        for echo in ["Zq9v/xQ+cipher@w", "Zq9v", "xQ+cipher", "Zq9v%2FxQ%2Bcipher%40w", "app:Zq9v%2FxQ%2Bcipher%40w"] {
            #expect(!Redaction.shared.scrub("port \"\(echo)\" x").contains(echo), "\(echo)")
        }
    }

    @Test("pieces and spellings: URL pieces, JSON-escaped, percent-encoded, SQL-quoted")
    func spellings() {
        let redaction = Redaction()
        redaction.register("k3J9/xQ+abc\"DEF:it's-mine")
        for echo in [
            "k3J9", "xQ+abc\"DEF", "xQ+abc\\\"DEF", "it's-mine", "it''s-mine", "k3J9%2FxQ%2Babc%22DEF%3Ait%27s-mine",
        ] {
            let masked = redaction.scrub("before \(echo) after")
            #expect(masked == "before *** after", "\(echo) -> \(masked)")
        }
        // Fewer than 4 characters: not a piece (masking it would mangle ordinary text); white space is
        // no cut, so a word after a line break is not a piece either.
        redaction.register("bad\ntoken")
        #expect(redaction.scrub("DEF token") == "DEF token")
    }

    @Test("an RDS IAM token: masked whole, with its signature and session token, but not its host or user")
    func iamToken() {
        let redaction = Redaction()
        let host = "prod-instance.us-east-1.rds.amazonaws.com"
        let signature = "d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61"
        let sessionToken = "IQoJb3JpZ2luX2VjEKv/session+Token=="
        let encodedToken = "IQoJb3JpZ2luX2VjEKv%2Fsession%2BToken%3D%3D"
        let token =
            "\(host):3306/?Action=connect&DBUser=someusername&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            + "&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20161107T173933Z"
            + "&X-Amz-Expires=900&X-Amz-Security-Token=\(encodedToken)&X-Amz-SignedHeaders=host"
            + "&X-Amz-Signature=\(signature)"
        redaction.register(token)
        #expect(redaction.scrub("password \(token) sent") == "password *** sent")
        for secret in [signature, sessionToken, encodedToken, "IQoJb3JpZ2luX2VjEKv"] {
            #expect(redaction.scrub("x \(secret) y") == "x *** y", "\(secret)")
        }
        let publicText = "connected to someusername@\(host):3306/app (us-east-1, rds-db, aws4_request)"
        #expect(redaction.scrub(publicText) == publicText)
    }

    static func render(_ redaction: Redaction, event: String, message: String, fields: Logger.Metadata) -> String {
        var metadata = fields
        metadata["event"] = .string(event)
        return JSONLogHandler.render(
            event: LogEvent(
                level: .info, message: "\(message)", metadata: metadata, source: "t", file: "f", function: "g", line: 1),
            handlerMetadata: [:], redaction: redaction)
    }

    @Test("a password that is a common word: values masked, keys, level and event name intact")
    func commonWordPassword() {
        let redaction = Redaction()
        redaction.register("postgres")
        redaction.register("info")
        let line = Self.render(
            redaction, event: "postgres.notice", message: "invalid input syntax for type integer: \"postgres\"",
            fields: ["postgres_severity": "NOTICE", "detail": .array([.string("echo postgres")])])
        #expect(line.contains(#""event":"postgres.notice""#), "\(line)")
        #expect(line.contains(#""level":"info""#), "\(line)")
        #expect(line.contains(#""postgres_severity":"NOTICE""#), "\(line)")
        #expect(line.contains(#""message":"invalid input syntax for type integer: \"***\"""#), "\(line)")
        #expect(line.contains(#""detail":["echo ***"]"#), "\(line)")
    }

    @Test("the shared redaction, as the executable uses it, leaves event names alone")
    func sharedEventName() {
        Redaction.shared.register("zebrafence")
        let line = Self.render(
            .shared, event: "zebrafence.notice", message: "echo zebrafence", fields: ["zebrafence": "zebrafence"])
        #expect(line.contains(#""event":"zebrafence.notice""#), "\(line)")
        #expect(line.contains(#""zebrafence":"***""#), "\(line)")
        #expect(line.contains(#""message":"echo ***""#), "\(line)")
    }
}
