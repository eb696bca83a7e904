/// Hexadecimal text for bytes (lowercase), without Foundation.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Two hex digits of `value`.
    public static func byte(_ value: UInt8) -> String {
        String(decoding: [digits[Int(value >> 4)], digits[Int(value & 0xF)]], as: UTF8.self)
    }

    /// The hex digits of `bytes`, joined by `separator`.
    public static func string(_ bytes: some Sequence<UInt8>, separator: String = "") -> String {
        bytes.map(byte).joined(separator: separator)
    }
}
