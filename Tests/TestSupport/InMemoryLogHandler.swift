import Foundation
import Logging

/// swift-log handler that keeps events in memory, for library-level tests (swift-log's own test idiom).
public final class LogCapture: @unchecked Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var event: String
        public var metadata: [String: String]
    }

    private let lock = NSLock()
    private var _entries: [Entry] = []

    public init() {}

    public var entries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return _entries
    }

    public func events(_ name: String) -> [Entry] { entries.filter { $0.event == name } }

    public func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ entry: Entry) {
        lock.lock()
        _entries.append(entry)
        lock.unlock()
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
            var fields = metadata
            if let extra = event.metadata { fields.merge(extra) { _, new in new } }
            let name = fields.removeValue(forKey: "event")?.description ?? ""
            capture.append(
                Entry(
                    level: event.level, message: event.message.description, event: name,
                    metadata: fields.mapValues(\.description)))
        }
    }
}
