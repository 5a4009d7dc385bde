import Foundation

enum TestPaths {
    /// The package root, from this file's location (Tests/AWSTests/Support/TestPaths.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `shared/` lives beside the repository, in development and in CI alike.
    static let sharedTestData = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")

    static let sigv4 = sharedTestData.appendingPathComponent("sigv4")

    static func caseNames(in folder: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(
                atPath: folder.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
    }

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "false" } ?? false }
}
