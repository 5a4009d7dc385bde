import CFastHMAC
import Foundation
import PostgresClient
import TestSupport
import Testing

/// The HMAC-SHA-256 that libpq's SCRAM login binds to (Sources/CFastHMAC), and the background
/// connection attempt that overlaps the login with reading the folder.
@Suite("login")
struct LoginTests {
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    static func mac(_ digest: String, key: [UInt8], data: [UInt8]) -> String? {
        var out = [UInt8](repeating: 0, count: 64)
        let length = migrator_hmac_through_openssl_api(digest, key, Int32(key.count), data, data.count, &out)
        return length == 0 ? nil : hex(out.prefix(Int(length)))
    }

    /// RFC 4231 cases 1-4, 6 and 7 (keys shorter than, equal to and longer than the block), and an
    /// empty key and message.
    @Test(
        "HMAC-SHA-256 on the fast path matches RFC 4231",
        arguments: [
            (
                String(repeating: "0b", count: 20), Array("Hi There".utf8),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
            ),
            (
                hex("Jefe".utf8), Array("what do ya want for nothing?".utf8),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            ),
            (
                String(repeating: "aa", count: 20), bytes(String(repeating: "dd", count: 50)),
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
            ),
            (
                hex(1...25), bytes(String(repeating: "cd", count: 50)),
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
            ),
            (
                String(repeating: "aa", count: 131),
                Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            ),
            (
                String(repeating: "aa", count: 131),
                Array(
                    ("This is a test using a larger than block-size key and a larger than block-size data. The key "
                        + "needs to be hashed before being used by the HMAC algorithm.").utf8),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
            ),
            ("", [], "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"),
        ])
    func sha256(key: String, data: [UInt8], expected: String) {
        let before = migrator_fast_hmac_keys()
        #expect(Self.mac("SHA256", key: Self.bytes(key), data: data) == expected)
        #expect(migrator_fast_hmac_keys() > before)
    }

    @Test("other digests are handed to libcrypto's own HMAC")
    func otherDigests() {
        let key = [UInt8](repeating: 0x0b, count: 20)
        #expect(
            Self.mac("SHA1", key: key, data: Array("Hi There".utf8)) == "b617318655057264e28bc0b6fb378c8ef146be00")
        #expect(
            Self.mac("SHA512", key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
                == "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        )
        #expect(Self.mac("NO-SUCH-DIGEST", key: key, data: []) == nil)
    }

    @Test(
        "a SCRAM login through libpq runs on the fast path, and a wrong password is still refused",
        .enabled(if: TestEnvironment.postgresTestsEnabled))
    func scramLogin() throws {
        let database = try TestDatabase.create(prefix: "login")
        defer { database.drop() }
        let method = try database.query(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND address = '127.0.0.1' LIMIT 1")
        // Logins from several threads at once: the fast path keeps no state between contexts. The
        // key counter is per thread, so each login is checked on its own: one key per PBKDF2
        // iteration (4096 on PostgreSQL 15, more where the server asks for more).
        let logins = 6
        let failures = Locked(0)
        DispatchQueue.concurrentPerform(iterations: logins) { _ in
            let before = migrator_fast_hmac_keys()
            do {
                let connection = try database.connect()
                defer { connection.close() }
                if try connection.query("SELECT 1").scalar != "1" || migrator_fast_hmac_keys() - before < 4096 {
                    failures.mutate { $0 += 1 }
                }
            } catch {
                failures.mutate { $0 += 1 }
            }
        }
        #expect(failures.value == 0)
        // The test cluster asks for SCRAM over TCP (scripts/lib/common.sh).
        #expect(method.first?.first == "scram-sha-256")
        let wrong = database.url(withPassword: database.password + "x")
        #expect {
            try Connection.connect(to: wrong, deadline: .now + .seconds(10)).close()
        } throws: { error in
            (error as? PostgresError)?.sqlState == "28P01"
        }
    }

    /// Without TLS, with TLS 1.3 and with TLS 1.2, whose PRF runs through libcrypto's own HMAC
    /// contexts (made, copied and freed through the functions this executable defines).
    @Test(
        "a SCRAM login without TLS, over TLS 1.3 and over TLS 1.2 runs on the fast path",
        .enabled(if: TestEnvironment.postgresTestsEnabled),
        arguments: [
            ("sslmode=disable", "f", ""), ("sslmode=require&ssl_min_protocol_version=TLSv1.3", "t", "TLSv1.3"),
            ("sslmode=require&ssl_max_protocol_version=TLSv1.2", "t", "TLSv1.2"),
        ])
    func scramLoginTransports(parameters: String, ssl: String, version: String) throws {
        let database = try TestDatabase.create(prefix: "login")
        defer { database.drop() }
        let before = migrator_fast_hmac_keys()
        let separator = database.url.contains("?") ? "&" : "?"
        let connection = try Connection.connect(
            to: database.url + separator + parameters, deadline: .now + .seconds(10))
        defer { connection.close() }
        let row = try connection.query(
            "SELECT ssl::text, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).rows.first
        #expect(row == [ssl == "t" ? "true" : "false", version])
        #expect(migrator_fast_hmac_keys() - before >= 4096)
    }

    @Test(
        "a background attempt hands over a working connection, once; a later abandon leaves it open",
        .enabled(if: TestEnvironment.postgresTestsEnabled))
    func handOverOnce() throws {
        let database = try TestDatabase.create(prefix: "login")
        defer { database.drop() }
        let attempt = ConnectAttempt(
            to: database.url, applicationName: "migrator-tests", deadline: .now + .seconds(10), interruption: nil)
        let connection = try attempt.wait()
        defer { connection.close() }
        #expect(try connection.query("SELECT current_database()").scalar == database.name)
        #expect(throws: PostgresError.self) { try attempt.wait() }
        attempt.abandon()
        #expect(try connection.query("SELECT 1").scalar == "1")
    }

    @Test("abandoning an attempt to a server that never answers returns within a poll interval")
    func abandonSilentServer() throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let attempt = ConnectAttempt(
            to: "postgres://u:secret@127.0.0.1:\(listener.port)/db?sslmode=disable", applicationName: "migrator-tests",
            deadline: .now + .seconds(30), interruption: nil)
        Thread.sleep(forTimeInterval: 0.05)
        let started = ContinuousClock.now
        attempt.abandon()
        #expect(ContinuousClock.now - started < .milliseconds(500))
    }
}

/// A value shared between threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
