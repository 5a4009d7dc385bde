import Foundation
import Testing

/// The moto server that scripts/test.sh starts (scripts/lib/moto.sh): its URL and what
/// scripts/lib/moto_setup.py created in it.
struct MotoFixture: Decodable, Sendable {
    struct Keys: Decodable, Sendable {
        var access_key_id: String
        var secret_access_key: String
        var session_token: String?
    }

    struct Secret: Decodable, Sendable {
        var name: String
        var arn: String
        var value: String
    }

    var endpoint: String
    var region: String
    var user: Keys
    var session: Keys
    var secrets: [String: Secret]

    static let statePath = ProcessInfo.processInfo.environment["MIGRATOR_TEST_MOTO_STATE"]

    static let shared: MotoFixture? = {
        guard let path = statePath, let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(MotoFixture.self, from: data)
    }()

    /// Tests that need moto run when it is there, and in CI, where its absence is a failure.
    static var shouldRun: Bool { shared != nil || TestPaths.isCI }

    /// The fixture, or a recorded failure explaining how to get one.
    static func require() -> MotoFixture? {
        if let shared { return shared }
        let reason =
            "moto is not available (MIGRATOR_TEST_MOTO_STATE unset or unreadable) and CI is set; "
            + "scripts/test.sh starts it with start_moto from scripts/lib/moto.sh"
        Issue.record(Comment(rawValue: reason))
        return nil
    }

    func secret(_ label: String) -> Secret { secrets[label]! }

    /// Environment that points the client at moto with the given keys.
    func environment(_ keys: Keys, region: String? = "us-east-1") -> [String: String] {
        var environment = [
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": keys.access_key_id,
            "AWS_SECRET_ACCESS_KEY": keys.secret_access_key,
        ]
        if let token = keys.session_token { environment["AWS_SESSION_TOKEN"] = token }
        if let region { environment["AWS_REGION"] = region }
        return environment
    }

    /// Stores `value` as secret `name` (created or updated) through boto3, signed with the user's key.
    @discardableResult
    func putSecret(name: String, value: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", TestPaths.packageRoot.appendingPathComponent("scripts/lib/moto_setup.py").path, "put-secret",
            "--state", MotoFixture.statePath!, "--name", name,
        ]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(value.utf8))
        try input.fileHandleForWriting.close()
        let arn = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "put-secret \(name) failed"])
        }
        return arn.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
