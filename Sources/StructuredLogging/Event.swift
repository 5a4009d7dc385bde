import Logging

extension Logger {
    /// Logs one event: a stable dotted `event` name plus its fields. Every line the tool writes goes
    /// through here, so the contract's log shape (`event` + fields) holds everywhere.
    @inlinable
    public func event(
        _ level: Logger.Level, _ event: String, _ message: @autoclosure () -> String,
        _ fields: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        guard level >= logLevel else { return }
        var metadata = fields()
        metadata["event"] = .string(event)
        log(level: level, "\(message())", metadata: metadata, file: file, function: function, line: line)
    }
}

extension Logger.MetadataValue {
    /// A number that the JSON handler writes as a JSON number, not a string.
    public static func int<T: BinaryInteger & Sendable>(_ value: T) -> Logger.MetadataValue {
        .stringConvertible(JSONNumber(Int64(value)))
    }

    public static func bool(_ value: Bool) -> Logger.MetadataValue {
        .stringConvertible(JSONBool(value))
    }
}

/// Marker types: the JSON handler writes these raw; every other value is a string.
public struct JSONNumber: CustomStringConvertible, Sendable {
    public let value: Int64
    public init(_ value: Int64) { self.value = value }
    public var description: String { String(value) }
}

public struct JSONBool: CustomStringConvertible, Sendable {
    public let value: Bool
    public init(_ value: Bool) { self.value = value }
    public var description: String { value ? "true" : "false" }
}
