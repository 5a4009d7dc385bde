import Foundation
import Testing

@testable import AWS

/// One case folder of the SigV4 suites: the input request and what signing it must produce.
struct SigV4Vector: CustomTestStringConvertible, Sendable {
    struct Context: Decodable {
        struct Credentials: Decodable {
            var access_key_id: String
            var secret_access_key: String
            var token: String?
        }
        var credentials: Credentials
        var region: String
        var service: String
        var timestamp: String
        var normalize: Bool
        var sign_body: Bool
        var omit_session_token: Bool?
        var expiration_in_seconds: Int?
    }

    /// request.txt taken apart: the raw header lines are kept for the signed-request comparison.
    struct ParsedRequest: Equatable {
        var requestLine: String
        var method: String
        var path: String
        var query: String
        /// Logical header lines, continuation lines joined to their header with `\n`.
        var headerLines: [String]
        var body: [UInt8]

        var headers: [HTTPHeader] {
            headerLines.map { line in
                let colon = line.firstIndex(of: ":")!
                return HTTPHeader(String(line[..<colon]), String(line[line.index(after: colon)...]))
            }
        }

        init(_ text: String) {
            let bytes = Array(text.utf8)
            var headEnd = bytes.count
            var bodyStart = bytes.count
            for index in 0..<max(0, bytes.count - 1) where bytes[index] == 0x0A && bytes[index + 1] == 0x0A {
                headEnd = index
                bodyStart = index + 2
                break
            }
            body = Array(bytes[bodyStart...])
            var lines = String(decoding: bytes[..<headEnd], as: UTF8.self).split(
                separator: "\n", omittingEmptySubsequences: false
            )
            .map(String.init)
            if lines.last == "" { lines.removeLast() }
            requestLine = lines.removeFirst()
            let firstSpace = requestLine.firstIndex(of: " ")!
            method = String(requestLine[..<firstSpace])
            let target = String(requestLine[requestLine.index(after: firstSpace)...].dropLast(" HTTP/1.1".count))
            if let question = target.firstIndex(of: "?") {
                path = String(target[..<question])
                query = String(target[target.index(after: question)...])
            } else {
                path = target
                query = ""
            }
            var headerLines: [String] = []
            for line in lines {
                if line.first == " " || line.first == "\t", !headerLines.isEmpty {
                    headerLines[headerLines.count - 1] += "\n" + line
                } else {
                    headerLines.append(line)
                }
            }
            self.headerLines = headerLines
        }

        /// Same request with other headers, rendered the way the vector files are written.
        func rendered(requestLine: String? = nil, extraHeaders: [HTTPHeader] = []) -> String {
            var text = (requestLine ?? self.requestLine) + "\n"
            for line in headerLines { text += line + "\n" }
            for header in extraHeaders { text += "\(header.name):\(header.value)\n" }
            return text + "\n" + String(decoding: body, as: UTF8.self)
        }
    }

    let suite: String
    let name: String

    var folder: URL { TestPaths.sigv4.appendingPathComponent(suite).appendingPathComponent(name) }
    var testDescription: String { "\(suite)/\(name)" }

    func file(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    func hasFile(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path)
    }

    func context() throws -> Context {
        try JSONDecoder().decode(Context.self, from: Data(contentsOf: folder.appendingPathComponent("context.json")))
    }

    func request() throws -> ParsedRequest { ParsedRequest(try file("request.txt")) }

    func signer() throws -> (SigV4Signer, Date, SigV4Signer.Options) {
        let context = try context()
        let credentials = AWSCredentials(
            accessKeyId: context.credentials.access_key_id, secretAccessKey: context.credentials.secret_access_key,
            sessionToken: context.credentials.token)
        let date = try #require(ISO8601DateFormatter().date(from: context.timestamp))
        let options = SigV4Signer.Options(
            normalizePath: context.normalize, signBodyHash: context.sign_body,
            omitSessionTokenFromSignature: context.omit_session_token ?? false)
        return (SigV4Signer(credentials: credentials, region: context.region, service: context.service), date, options)
    }

    static let awsCAuth: [SigV4Vector] = TestPaths.caseNames(
        in: TestPaths.sigv4.appendingPathComponent("aws-c-auth/v4")
    )
    .map { SigV4Vector(suite: "aws-c-auth/v4", name: $0) }
    static let secretsManager: [SigV4Vector] = TestPaths.caseNames(
        in: TestPaths.sigv4.appendingPathComponent("secretsmanager")
    )
    .map { SigV4Vector(suite: "secretsmanager", name: $0) }
    static let all = awsCAuth + secretsManager
}

/// Every case of aws-c-auth's v4 suite and of our Secrets Manager suite, byte for byte.
///
/// Skipped cases: none. The signer is general (path normalisation and encoding, query canonicalisation,
/// header folding, duplicate headers, `omit_session_token`, `sign_body`, presigning), so the cases that
/// the README allows a Secrets-Manager-only signer to skip are all run here too.
@Suite("SigV4 test vectors")
struct SigV4VectorTests {
    @Test("the vector folders are all there")
    func suitesArePresent() {
        #expect(SigV4Vector.awsCAuth.count == 38, "expected 38 aws-c-auth cases under \(TestPaths.sigv4.path)")
        #expect(SigV4Vector.secretsManager.count == 4, "expected 4 secretsmanager cases under \(TestPaths.sigv4.path)")
    }

    @Test("header signing", arguments: SigV4Vector.all)
    func headerSigning(_ vector: SigV4Vector) throws {
        let request = try vector.request()
        let (signer, date, options) = try vector.signer()
        let result = signer.signHeaders(
            SigningRequest(
                method: request.method, path: request.path, query: request.query, headers: request.headers,
                body: request.body),
            date: date, options: options)

        #expect(result.canonicalRequest == (try vector.file("header-canonical-request.txt")))
        #expect(result.stringToSign == (try vector.file("header-string-to-sign.txt")))
        #expect(result.signature == (try vector.file("header-signature.txt")))

        // Header order is not significant in header-signed-request.txt; everything else is compared exactly.
        let expected = SigV4Vector.ParsedRequest(try vector.file("header-signed-request.txt"))
        let actual = SigV4Vector.ParsedRequest(request.rendered(extraHeaders: result.addedHeaders))
        #expect(actual.requestLine == expected.requestLine)
        #expect(actual.headerLines.sorted() == expected.headerLines.sorted())
        #expect(actual.body == expected.body)
    }

    @Test("query signing (presigned URL)", arguments: SigV4Vector.awsCAuth)
    func querySigning(_ vector: SigV4Vector) throws {
        let request = try vector.request()
        let (signer, date, options) = try vector.signer()
        let expires = try #require(try vector.context().expiration_in_seconds)
        let result = signer.presign(
            SigningRequest(
                method: request.method, path: request.path, query: request.query, headers: request.headers,
                body: request.body),
            date: date, expiresIn: expires, options: options)

        #expect(result.canonicalRequest == (try vector.file("query-canonical-request.txt")))
        #expect(result.stringToSign == (try vector.file("query-string-to-sign.txt")))
        #expect(result.signature == (try vector.file("query-signature.txt")))

        // The README warns that the parameter order of query-signed-request.txt is not canonical; we append
        // in botocore's order, which is the file's order, so the whole file compares exactly.
        let target = request.path + "?" + result.signedQuery(original: request.query)
        let rendered = request.rendered(requestLine: "\(request.method) \(target) HTTP/1.1")
        #expect(rendered == (try vector.file("query-signed-request.txt")))
    }

    @Test("secretsmanager vectors have no query files, aws-c-auth ones all do")
    func queryFilesWhereExpected() {
        for vector in SigV4Vector.awsCAuth { #expect(vector.hasFile("query-signature.txt"), "\(vector.name)") }
        for vector in SigV4Vector.secretsManager { #expect(!vector.hasFile("query-signature.txt"), "\(vector.name)") }
    }
}
