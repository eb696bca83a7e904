/// Why bytes from a controller or a capture could not be read, and where.
///
/// Parsing never traps or reads out of bounds: every length is checked, and a malformed or
/// truncated structure becomes this error, which names the structure and the byte offset.
public struct BLEParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was being read, e.g. `LE Advertising Report 2 data`.
    public let structure: String
    /// The byte offset in the input where the problem is.
    public let offset: Int
    /// What is wrong.
    public let reason: String

    /// Creates an error.
    public init(_ structure: String, offset: Int, _ reason: String) {
        self.structure = structure
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "\(structure) at byte \(offset): \(reason)" }
}

/// A bounds-checked reader over a byte buffer; every read names what it reads.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    init(_ bytes: [UInt8], from offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { max(0, end - offset) }

    mutating func u8(_ what: String) throws(BLEParseError) -> UInt8 {
        guard offset < end else { throw BLEParseError(what, offset: offset, "truncated: needs 1 byte, none left") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16le(_ what: String) throws(BLEParseError) -> UInt16 {
        let b = try take(2, what)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func take(_ count: Int, _ what: String) throws(BLEParseError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw BLEParseError(what, offset: offset, "truncated: needs \(count) bytes, \(remaining) left")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
}
