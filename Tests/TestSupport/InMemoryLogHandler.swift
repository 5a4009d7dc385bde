import Foundation
import Logging

/// swift-log handler that keeps every log line in memory (swift-log's own test idiom), for library tests:
/// keeps every log line (message and metadata rendered as text) so tests can look for events and make
/// sure no secret ever reaches a log.
public final class LogCapture: @unchecked Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
        public var rendered: String
    }

    private let lock = NSLock()
    private var _entries: [Entry] = []

    public init() {}

    public var entries: [Entry] { lock.withLock { _entries } }
    /// Event names in order.
    public var events: [String] { entries.compactMap { $0.metadata["event"] } }
    /// Everything logged, as text: what no-secret assertions search.
    public var allText: String { entries.map(\.rendered).joined(separator: "\n") }

    public var logger: Logger {
        var logger = Logger(label: "aws-tests") { _ in Handler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ entry: Entry) {
        lock.withLock { _entries.append(entry) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged: [String: String] = [:]
            for (key, value) in metadata { merged[key] = "\(value)" }
            for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
            let rendered =
                "\(event.level) \(event.message) "
                + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append(Entry(level: event.level, message: "\(event.message)", metadata: merged, rendered: rendered))
        }
    }
}
