import Testing

@testable import AWS

/// libcurl is opened with dlopen on the first AWS request, not linked. These tests name a library that
/// does not exist, through the transport's test-only `CurlLibrary.named`, to see what a runtime image
/// without libcurl4 would give.
@Suite("libcurl loaded at run time")
struct CurlLoadingTests {
    static let missingLibrary = "libcurl-migrator-test-missing.so.4"

    func resolver(_ harness: Harness, _ environment: [String: String]) -> SecretsManagerDatabaseURL {
        var context = harness.context(environment)
        context.transport = CurlTransport(library: .named(Self.missingLibrary))
        return SecretsManagerDatabaseURL(context: context)
    }

    func expectLibraryError(_ error: AWSError?) {
        #expect(error?.code == .configuration)
        let text = error?.description ?? ""
        #expect(text.hasPrefix("AWS configuration error: cannot load libcurl (\(Self.missingLibrary);"))
        #expect(text.contains("the package libcurl4"))
        #expect(text.contains("cannot open shared object file"))
        #expect(!text.contains("\n"))
        #expect(error?.httpStatus == nil)
    }

    @Test("a missing libcurl is an AWSError naming the library and the Debian package")
    func missingLibrary() {
        let harness = Harness()
        let environment = Harness.exampleKeys.merging([
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        ]) { $1 }
        let error = awsError {
            try resolver(harness, environment).resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
        }
        expectLibraryError(error)
        // Reported before the credential chain, and never retried.
        #expect(harness.log.events == ["secret.fetching"])
        #expect(harness.sleeps.values.isEmpty)
    }

    @Test("with only instance metadata to ask, the error is still the library, not 'no credentials'")
    func missingLibraryBeforeInstanceMetadata() {
        let harness = Harness()
        let environment = [
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9",
        ]
        let error = awsError {
            try resolver(harness, environment).resolve(secretId: "staging/bcos-secrets", key: "DATABASE_URL")
        }
        expectLibraryError(error)
        let text = error?.description ?? ""
        #expect(!text.contains("no AWS credentials"))
    }

    @Test("a transport with the missing library fails every request the same way")
    func sendFails() {
        let transport = CurlTransport(library: .named(Self.missingLibrary))
        let request = HTTPRequest(
            method: "GET", url: "http://127.0.0.1:9/", headers: [], body: [], timeouts: .metadata)
        do {
            _ = try transport.send(request)
            Issue.record("send succeeded without libcurl")
        } catch {
            #expect(error.kind == .configuration)
            #expect(!error.isRetryable)
            #expect(error.message.contains(Self.missingLibrary))
        }
    }

    @Test("the process-wide libcurl.so.4 loads")
    func sharedLoads() throws {
        try CurlTransport().prepare()
    }
}
