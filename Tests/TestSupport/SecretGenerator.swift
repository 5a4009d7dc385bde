import Foundation

/// Generated passwords for the secret-leak property tests: the characters that break URLs, quoting
/// and JSON (`/ : @ % " ' \` and spaces), non-ASCII text, and common words, from a fixed seed so a
/// failure is reproducible. Random segments draw from letters that ordinary output rarely holds
/// (`Q X Z J K V W Y`, non-ASCII), so that a 4-character window of them found in an output is a leak,
/// not a coincidence with a timestamp, a hash or an English word.
public struct SecretGenerator: Sequence, IteratorProtocol {
    public static let words = ["postgres", "wrong", "password", "secret", "admin", "public", "error", "info"]
    static let rare: [Character] = ["Q", "X", "Z", "J", "K", "V", "W", "Y", "é", "ß", "ø", "日", "本", "🔑", "Ω", "ж"]
    static let special: [Character] = ["/", ":", "@", "%", "\"", "'", "\\", " ", "?", "#", "&", "=", "+", ","]

    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// SplitMix64: small, fast and the same on every platform.
    mutating func nextRandom() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(nextRandom() % UInt64(bound)) }

    /// One password of 1 to 5 segments (rare letters, specials, common words), at least 6 characters.
    /// About every seventh is a bare common word, the case where masking must not touch keys and event
    /// names.
    public mutating func next() -> String? {
        if below(7) == 0 { return Self.words[below(Self.words.count)] }
        var password = ""
        for _ in 0..<(1 + below(5)) {
            switch below(3) {
            case 0: password += Self.words[below(Self.words.count)]
            case 1: for _ in 0..<(1 + below(3)) { password.append(Self.special[below(Self.special.count)]) }
            default: for _ in 0..<(2 + below(7)) { password.append(Self.rare[below(Self.rare.count)]) }
            }
        }
        // At least one rare letter, so that the password has windows a leak check can look for, and at
        // least 6 characters: shorter secrets are not masked (nothing could tell them from ordinary text).
        repeat { password.append(Self.rare[below(Self.rare.count)]) } while password.count < 6
        return password
    }

    public static func isRare(_ character: Character) -> Bool { rare.contains(character) }

    /// What must appear in no output: the password, its percent-encoded form, and every 4-character
    /// window holding at least two rare letters (a window of a word or of punctuation alone would be
    /// found in ordinary output by coincidence).
    public static func forbiddenFragments(of password: String) -> [String] {
        var result = [password]
        let encoded = urlEncoded(password)
        if encoded != password { result.append(encoded) }
        let characters = Array(password)
        if characters.count >= 4 {
            for start in 0...(characters.count - 4) {
                let window = characters[start..<start + 4]
                if window.filter(isRare).count >= 2 { result.append(String(window)) }
            }
        }
        return result
    }

    /// The password as an SQL string literal (`'` doubled; standard_conforming_strings keeps `\` as is).
    public static func sqlLiteral(_ password: String) -> String {
        "'" + password.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// Percent-encoded for a URL's user-info: everything but letters and digits.
    public static func urlEncoded(_ password: String) -> String {
        password.addingPercentEncoding(withAllowedCharacters: asciiAlphanumerics) ?? password
    }

    static let asciiAlphanumerics = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
}
