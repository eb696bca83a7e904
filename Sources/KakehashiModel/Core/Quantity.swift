import FoundationEssentials

/// A finite number with its unit.
///
/// ```swift
/// let level = try Quantity(114, .centimetre)
/// try level.converted(to: .metre).value // 1.14
/// ```
public struct Quantity: Sendable, Hashable, CustomStringConvertible {
    /// The number, always finite.
    public let value: Double
    /// Its unit.
    public let unit: MeasurementUnit

    /// Creates a quantity; NaN and infinity are rejected with an error naming `field`.
    public init(_ value: Double, _ unit: MeasurementUnit, field: String = "value") throws(ModelError) {
        self.value = try ModelLimits.checkFinite(value, field: field)
        self.unit = unit
    }

    /// The same quantity in `target`, computed exactly (see ``MeasurementUnit``).
    ///
    /// Throws `.wrongDimension` when `target` measures something else (metres to volts).
    public func converted(to target: MeasurementUnit, field: String = "unitCode") throws(ModelError) -> Quantity {
        if target == unit { return self }
        guard target.dimension == unit.dimension else {
            throw ModelError(field: field, .wrongDimension(unit: unit.code, expected: target.dimension.rawValue))
        }
        return try Quantity(Self.convert(value, from: unit, to: target), target, field: field)
    }

    /// Whether this quantity measures `dimension`.
    public func measures(_ dimension: MeasurementUnit.Dimension) -> Bool { unit.dimension == dimension }

    static func convert(_ value: Double, from source: MeasurementUnit, to target: MeasurementUnit) -> Double {
        // The shortest decimal that round-trips to `value` is what the sensor reported.
        guard let decimal = Decimal(string: value.description) else { return .nan }
        let from = source.toBase, to = target.toBase
        // The same arithmetic without its identities: Decimal division is the gateway's costliest
        // step per reading, and most conversions (cm or mm to the base metre) need none.
        var result = decimal * from.factor
        if from.offset != 0 { result += from.offset }
        if source.baseDivisor != 1 { result /= source.baseDivisor }
        if target.baseDivisor != 1 { result *= target.baseDivisor }
        if to.offset != 0 { result -= to.offset }
        if to.factor != 1 { result /= to.factor }
        return Double(result.description) ?? .nan
    }

    public var description: String { "\(value) \(unit.symbol)" }
}
