import Foundation
import Logging
import StructuredLogging
import TestSupport
import Testing

@testable import AWS

/// Secrets Manager answers that echo the secret key and the request signature (a proxy, a broken
/// endpoint, a service that quotes the string to sign), in-process through the real client, libcurl,
/// the local fault-injecting server and both log handlers at trace level. The echo sits around the
/// 300th character, where the message is cut: it must be masked before the cut, or its first part
/// is printed.
@Suite("secrets: AWS error text echoing the secret key or signature")
struct SecretEchoTests {
    /// Passwords from the shared generator used as secret access keys, those without a common word:
    /// the shared redaction is process-wide, and a word registered here (`secret`) would be masked in
    /// other tests' messages. Words are the binary tests' business (SecretLeakPropertyTests).
    static let keys = Array(
        SecretGenerator(seed: 41).lazy.filter { key in !SecretGenerator.words.contains { key.contains($0) } }.prefix(
            160))

    /// A log file written by both real handlers, at trace level.
    final class LogFile {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("echo-\(UUID().uuidString).log").path
        let descriptor: Int32
        init() { descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600) }
        var logger: Logger {
            let writer = LineWriter(descriptor: descriptor)
            var logger = Logger(label: "echo") { _ in
                MultiplexLogHandler([
                    JSONLogHandler(writer: writer, logLevel: .trace), TextLogHandler(writer: writer, logLevel: .trace),
                ])
            }
            logger.logLevel = .trace
            return logger
        }
        var text: String {
            close(descriptor)
            defer { unlink(path) }
            return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        }
    }

    /// The reply that echoes `key` and the request's signature, in one of three shapes.
    static func echo(_ request: LocalHTTPServer.Request, key: String, shape: Int) -> LocalHTTPServer.Reply {
        let signature = request.header("Authorization")?.components(separatedBy: "Signature=").last ?? ""
        let padding = String(repeating: "p", count: 270 + shape * 7)
        let text = "\(padding) key=\(key) sig=\(signature) end"
        switch shape {
        case 0:
            return .respond(status: 400, body: awsErrorBody("InvalidSignatureException", jsonEscaped(text)))
        case 1:
            return .respond(
                status: 403,
                body:
                    "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>\(text)</Message></Error></ErrorResponse>"
            )
        default:
            // Retried: each attempt logs `secret.retry` with the error.
            return .respond(status: 500, body: awsErrorBody("InternalServiceError", jsonEscaped(text)))
        }
    }

    static func jsonEscaped(_ text: String) -> String {
        let escaped = JSONLogHandler.jsonString(text)
        return String(escaped.dropFirst().dropLast())
    }

    @Test("generated secret keys echoed at the cut: no key, no 4-character window, no signature piece")
    func echoedAtTheCut() throws {
        for (index, key) in Self.keys.enumerated() {
            let server = try LocalHTTPServer { Self.echo($0, key: key, shape: index % 3) }
            defer { server.stop() }
            let log = LogFile()
            var context = Harness().context([
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.url, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                "AWS_SECRET_ACCESS_KEY": key,
            ])
            context.logger = log.logger
            let error = awsError {
                try SecretsManagerDatabaseURL(context: context).resolve(secretId: "app/db", key: "DATABASE_URL")
            }
            #expect(error?.code == .service, "key #\(index)")
            // As the executable ends a run: the error's description in `run.finished`.
            context.logger.event(
                .error, "run.finished", "\(error?.description ?? "")", ["error": "\(error?.description ?? "")"])
            let output = log.text
            #expect(output.contains("run.finished"), "key #\(index): \(output)")
            for fragment in SecretGenerator.forbiddenFragments(of: key) where output.contains(fragment) {
                Issue.record("key #\(index) \(key.debugDescription): \(fragment.debugDescription) in \(output)")
            }
            let signatures = server.requests.compactMap {
                $0.header("Authorization")?.components(separatedBy: "Signature=").last.map(Array.init)
            }
            #expect(!signatures.isEmpty)
            for signature in signatures {
                #expect(!output.contains("sig=" + String(signature.prefix(4))), "key #\(index): \(output)")
                for start in 0...(signature.count - 8) {
                    let window = String(signature[start..<start + 8])
                    guard window.contains(where: { $0.isLetter }) else { continue }
                    #expect(!output.contains(window), "key #\(index): signature piece \(window) in \(output)")
                }
            }
        }
    }

    @Test("a message cut at 300 characters is scrubbed before the cut")
    func scrubbedBeforeTheCut() {
        let key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYCUTKEY"
        Redaction.shared.register(key)
        let message = String(repeating: "x", count: 276) + key
        let cut = AWSError.singleLine(message)
        #expect(!cut.contains("wJalrXUtnFEMI"), "\(cut)")
        #expect(!cut.contains("K7MD"), "\(cut)")
    }
}
