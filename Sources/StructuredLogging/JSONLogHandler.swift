import Logging

/// One JSON object per line: `timestamp`, `level`, `message`, `event`, then the event's fields in
/// key order. This is the contract's log shape, read by CloudWatch Logs Insights.
public struct JSONLogHandler: LogHandler {
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
        writer.write(line: Self.render(event: event, handlerMetadata: metadata))
    }

    public static func render(event: LogEvent, handlerMetadata: Logger.Metadata) -> String {
        var fields = handlerMetadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line = "{\"timestamp\":\"\(rfc3339Timestamp())\",\"level\":\(jsonString(levelName(event.level)))"
        line += ",\"message\":\(jsonString(event.message.description))"
        line += ",\"event\":\(jsonValue(fields.removeValue(forKey: "event") ?? .string("log")))"
        for key in fields.keys.sorted() {
            line += ",\(jsonString(key)):\(jsonValue(fields[key]!))"
        }
        line += "}"
        return Redaction.shared.scrub(line)
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }

    static func jsonValue(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return jsonString(text)
        case .stringConvertible(let value):
            if let number = value as? JSONNumber { return String(number.value) }
            if let flag = value as? JSONBool { return flag.value ? "true" : "false" }
            return jsonString(value.description)
        case .array(let values): return "[" + values.map(jsonValue).joined(separator: ",") + "]"
        case .dictionary(let fields):
            return "{" + fields.keys.sorted().map { "\(jsonString($0)):\(jsonValue(fields[$0]!))" }
                .joined(separator: ",") + "}"
        }
    }

    public static func jsonString(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
