import Foundation
import TestSupport
import Testing

/// SIGTERM while the secret is being fetched (a retry's backoff, a transfer that hangs) ends the run
/// with 143 within a second, not at the HTTP timeout or after the last retry (issue 13). Runs the real
/// binary against the fault-injecting server; no database is involved (nothing is reached).
@Suite("a stop request while fetching the secret")
struct StopDuringSecretTests {
    enum Fault: String, CaseIterable, CustomStringConvertible, Sendable {
        /// 503 on every try, with a long backoff between them.
        case retryBackoff
        /// The server accepts the request and never answers.
        case hungTransfer
        var description: String { rawValue }
    }

    @Test("SIGTERM during a Secrets Manager retry or a hung transfer exits 143 within 1 s", arguments: Fault.allCases)
    func stopWhileFetching(fault: Fault) throws {
        let server = try LocalHTTPServer { _ in
            switch fault {
            case .retryBackoff:
                return .respond(status: 503, body: awsErrorBody("ServiceUnavailable", "try later"))
            case .hungTransfer:
                return .hang(seconds: 30)
            }
        }
        defer { server.stop() }
        let folder = try DrizzleFolder.generated(count: 1)
        defer { folder.remove() }
        let process = try MigratorProcess(
            ["up"],
            environment: Harness.isolatedEnvironment.merging(Harness.exampleKeys) { $1 }.merging([
                "DATABASE_SECRET_ID": "staging/bcos-secrets", "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": server.url, "AWS_MAX_ATTEMPTS": "10", "MIGRATIONS_DIR": folder.path,
            ]) { $1 })
        // Wait until the fault is under way: a retry has been asked for, or the request is hanging.
        try MigratorProcess.waitUntil(timeout: .seconds(20)) {
            server.requests.count >= (fault == .retryBackoff ? 3 : 1)
        }
        Thread.sleep(forTimeInterval: 0.2)
        let signalled = ContinuousClock.now
        process.signal(SIGTERM)
        let result = try process.wait(timeout: .seconds(20))
        let stopped = ContinuousClock.now - signalled
        #expect(result.exitCode == 143, "\(result.output)")
        #expect(stopped < .seconds(1), "took \(stopped) to stop: \(result.output)")
        let last = try #require(result.lastLine)
        #expect(last["event"] as? String == "run.finished")
        #expect(last["forced"] == nil, "the watchdog had to end it: \(result.output)")
        #expect(!result.output.contains(Harness.exampleKeys["AWS_SECRET_ACCESS_KEY"]!))
    }
}
