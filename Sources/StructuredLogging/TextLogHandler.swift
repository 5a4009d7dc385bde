import Logging

/// The same events for people: `15:04:05.123 INFO  migration.applied  message  key=value …`.
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let writer: LineWriter

    public init(writer: LineWriter = .standardOutput, logLevel: Logger.Level = .info) {
        self.writer = writer
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let name = fields.removeValue(forKey: "event")?.description ?? "log"
        fields.removeValue(forKey: "_aws")  // metric plumbing, noise for people
        let time = rfc3339Timestamp().dropFirst(11).dropLast()
        let level = JSONLogHandler.levelName(event.level).uppercased()
        var line = "\(time) \(level.padding(to: 7)) \(name.padding(to: 22)) \(event.message)"
        for key in fields.keys.sorted() {
            let value = fields[key]!.description
            line += " \(key)=" + (value.contains(" ") ? JSONLogHandler.jsonString(value) : value)
        }
        writer.write(line: Redaction.shared.scrub(line))
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
