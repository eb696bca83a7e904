import FoundationEssentials

/// The units Kakehashi's sensors report, identified by their UN/CEFACT common code
/// (UNECE Recommendation 20), which NGSI-LD carries in `unitCode`.
///
/// Conversions between units of one ``Dimension`` are exact: they are done in decimal arithmetic on
/// the shortest decimal form of the value, with factors that are exact by definition
/// (1 ft = 0.3048 m), so `1.14 m` is `114 cm`, not `113.99999999999999 cm`.
///
/// ```swift
/// let unit = try MeasurementUnit(code: "CMT") // .centimetre
/// unit.symbol                                 // "cm"
/// ```
public enum MeasurementUnit: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Metre (`MTR`), the canonical unit of water levels.
    case metre = "MTR"
    /// Centimetre (`CMT`).
    case centimetre = "CMT"
    /// Millimetre (`MMT`).
    case millimetre = "MMT"
    /// International foot (`FOT`), 0.3048 m exactly; USGS gage heights.
    case foot = "FOT"
    /// Inch (`INH`), 0.0254 m exactly; USGS precipitation.
    case inch = "INH"
    /// Degree Celsius (`CEL`).
    case degreeCelsius = "CEL"
    /// Degree Fahrenheit (`FAH`).
    case degreeFahrenheit = "FAH"
    /// Percent (`P1`).
    case percent = "P1"
    /// One (`C62`): a plain ratio or count, dimensionless.
    case one = "C62"
    /// Person (`IE`): people counts.
    case person = "IE"
    /// Volt (`VLT`).
    case volt = "VLT"
    /// Millivolt (`2Z`).
    case millivolt = "2Z"
    /// Decibel-milliwatt (`DBM`): received signal strength.
    case decibelMilliwatt = "DBM"
    /// Cubic metre per second (`MQS`): discharge.
    case cubicMetrePerSecond = "MQS"
    /// Cubic foot per second (`E17`): USGS discharge.
    case cubicFootPerSecond = "E17"

    /// What a unit measures; only units of the same dimension convert into each other.
    public enum Dimension: String, Sendable, Hashable {
        case length, temperature, ratio, people, voltage, signalPower = "signal power", flowRate = "flow rate"
    }

    /// Looks up a UN/CEFACT code; unknown codes are an error naming `field`.
    public init(code: String, field: String = "unitCode") throws(ModelError) {
        guard let unit = MeasurementUnit(rawValue: code) else { throw ModelError(field: field, .unknownUnit(code)) }
        self = unit
    }

    /// The UN/CEFACT common code.
    public var code: String { rawValue }

    public var description: String { rawValue }

    /// The usual symbol, for display.
    public var symbol: String {
        switch self {
        case .metre: "m"
        case .centimetre: "cm"
        case .millimetre: "mm"
        case .foot: "ft"
        case .inch: "in"
        case .degreeCelsius: "°C"
        case .degreeFahrenheit: "°F"
        case .percent: "%"
        case .one: "1"
        case .person: "persons"
        case .volt: "V"
        case .millivolt: "mV"
        case .decibelMilliwatt: "dBm"
        case .cubicMetrePerSecond: "m³/s"
        case .cubicFootPerSecond: "ft³/s"
        }
    }

    /// What this unit measures.
    public var dimension: Dimension {
        switch self {
        case .metre, .centimetre, .millimetre, .foot, .inch: .length
        case .degreeCelsius, .degreeFahrenheit: .temperature
        case .percent, .one: .ratio
        case .person: .people
        case .volt, .millivolt: .voltage
        case .decibelMilliwatt: .signalPower
        case .cubicMetrePerSecond, .cubicFootPerSecond: .flowRate
        }
    }

    /// `value(in base unit) = value * factor + offset`, with exact decimal factors.
    var toBase: (factor: Decimal, offset: Decimal) {
        switch self {
        case .metre, .degreeCelsius, .one, .person, .volt, .decibelMilliwatt, .cubicMetrePerSecond: (1, 0)
        case .centimetre, .percent: (Decimal(sign: .plus, exponent: -2, significand: 1), 0)
        case .millimetre, .millivolt: (Decimal(sign: .plus, exponent: -3, significand: 1), 0)
        case .foot: (Decimal(sign: .plus, exponent: -4, significand: 3048), 0)
        case .inch: (Decimal(sign: .plus, exponent: -4, significand: 254), 0)
        // °F → °C: (F - 32) × 5/9 = F × 5/9 - 160/9; kept as a ratio below for exactness.
        case .degreeFahrenheit: (5, -160)
        // 1 ft³ = 0.3048³ m³ = 0.028316846592 m³ exactly.
        case .cubicFootPerSecond: (Decimal(sign: .plus, exponent: -12, significand: 28_316_846_592), 0)
        }
    }

    /// A divisor applied after `toBase` (only °F needs one: ×5/9 is not a finite decimal).
    var baseDivisor: Decimal { self == .degreeFahrenheit ? 9 : 1 }
}
