extension Duration {
    /// Whole milliseconds, rounded up so that 1µs never becomes "0 = no timeout" in PostgreSQL or
    /// libcurl. The one conversion every layer uses.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
