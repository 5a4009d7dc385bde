import Foundation
import Testing

@testable import AWS

/// An HTTPS server on 127.0.0.1 with a certificate made for the test (python's `ssl` module serving a
/// fixed GetSecretValue answer).
final class LocalTLSServer: @unchecked Sendable {
    static let script = """
        import http.server, ssl, sys
        body = sys.argv[3].encode()
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    let process = Process()
    let port: Int

    init(certificate: URL, key: URL, body: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script, certificate.path, key.path, body]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line += byte
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "TLS server did not start"])
        }
        self.port = port
    }

    func stop() {
        // SIGKILL, not terminate(): children of test threads inherit a mask that blocks SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// A self-signed certificate and key for `subjectAltName` (e.g. `IP:127.0.0.1`).
    static func makeCertificate(in directory: URL, name: String, subjectAltName: String) throws -> (cert: URL, key: URL)
    {
        let cert = directory.appendingPathComponent("\(name).pem")
        let key = directory.appendingPathComponent("\(name)-key.pem")
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=migrator-test",
            "-addext", "subjectAltName=\(subjectAltName)", "-keyout", key.path, "-out", cert.path,
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl req failed"])
        }
        return (cert, key)
    }
}

@Suite("TLS verification")
struct TLSTests {
    static let databaseURL = "postgres://app:tls-pass-EXAMPLE@db.internal:5432/app"

    func environment(port: Int, caBundle: String?) -> [String: String] {
        var environment = Harness.exampleKeys.merging([
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "https://127.0.0.1:\(port)",
        ]) { $1 }
        environment["AWS_CA_BUNDLE"] = caBundle
        return environment
    }

    @Test("an untrusted certificate is refused; AWS_CA_BUNDLE makes it trusted; a wrong name is still refused")
    func untrustedCertificate() throws {
        let directory = try temporaryDirectory()
        let good = try LocalTLSServer.makeCertificate(in: directory, name: "loopback", subjectAltName: "IP:127.0.0.1")
        let wrongName = try LocalTLSServer.makeCertificate(
            in: directory, name: "wrong-name", subjectAltName: "DNS:secretsmanager.example.invalid")
        let body = getSecretValueBody("{\"DATABASE_URL\":\"\(Self.databaseURL)\"}")

        let server = try LocalTLSServer(certificate: good.cert, key: good.key, body: body)
        defer { server.stop() }

        // System trust store only: the self-signed certificate must not be accepted, and a verification
        // failure is not something to retry.
        let harness = Harness()
        let refused = try #require(
            awsError {
                try harness.resolver(environment(port: server.port, caBundle: nil)).resolve(
                    secretId: "s", key: "DATABASE_URL")
            })
        #expect(refused.code == .tlsVerification)
        #expect(refused.description.contains("TLS verification failed"), "\(refused.description)")
        #expect(harness.sleeps.values.isEmpty)

        // Trusted through AWS_CA_BUNDLE: the same server now works end to end.
        let url = try Harness().resolver(environment(port: server.port, caBundle: good.cert.path))
            .resolve(secretId: "s", key: "DATABASE_URL")
        #expect(url == Self.databaseURL)

        // Trusted issuer, wrong host name: host verification still refuses.
        let wrong = try LocalTLSServer(certificate: wrongName.cert, key: wrongName.key, body: body)
        defer { wrong.stop() }
        let mismatch = try #require(
            awsError {
                try Harness().resolver(environment(port: wrong.port, caBundle: wrongName.cert.path))
                    .resolve(secretId: "s", key: "DATABASE_URL")
            })
        #expect(mismatch.code == .tlsVerification)
    }

    @Test("an AWS_CA_BUNDLE that cannot be read is a configuration error")
    func missingBundle() throws {
        let directory = try temporaryDirectory()
        let good = try LocalTLSServer.makeCertificate(in: directory, name: "loopback", subjectAltName: "IP:127.0.0.1")
        let server = try LocalTLSServer(certificate: good.cert, key: good.key, body: "{}")
        defer { server.stop() }
        let error = try #require(
            awsError {
                try Harness().resolver(environment(port: server.port, caBundle: "/nonexistent/ca.pem"))
                    .resolve(secretId: "s", key: "DATABASE_URL")
            })
        #expect(error.code == .configuration)
        #expect(error.description.contains("AWS_CA_BUNDLE"))
    }
}
