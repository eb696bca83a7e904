/// A number at a fixed place in a binary payload.
public struct BinaryField: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case u8, i8, u16, i16, u32, i32, u64, i64, f32, f64

        public var size: Int {
            switch self {
            case .u8, .i8: 1
            case .u16, .i16: 2
            case .u32, .i32, .f32: 4
            case .u64, .i64, .f64: 8
            }
        }
    }

    public enum Endianness: String, Sendable, Hashable {
        case big, little
    }

    public let offset: Int
    public let kind: Kind
    public let endianness: Endianness

    public init(offset: Int, kind: Kind, endianness: Endianness = .big) {
        self.offset = offset
        self.kind = kind
        self.endianness = endianness
    }

    public var description: String { "\(kind.rawValue) at byte \(offset)" }

    /// The field's value, or nil when the payload is too short.
    public func read(_ bytes: [UInt8]) -> Double? {
        guard offset >= 0, offset + kind.size <= bytes.count else { return nil }
        var raw: UInt64 = 0
        for i in 0..<kind.size {
            let byte = UInt64(bytes[offset + (endianness == .big ? i : kind.size - 1 - i)])
            raw = raw << 8 | byte
        }
        switch kind {
        case .u8, .u16, .u32, .u64: return Double(raw)
        case .i8: return Double(Int8(truncatingIfNeeded: raw))
        case .i16: return Double(Int16(truncatingIfNeeded: raw))
        case .i32: return Double(Int32(truncatingIfNeeded: raw))
        case .i64: return Double(Int64(bitPattern: raw))
        case .f32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
        case .f64: return Double(bitPattern: raw)
        }
    }
}
