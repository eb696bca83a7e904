import Testing

@testable import KakehashiModel

struct QuantityTests {
    static let exact: [(Double, MeasurementUnit, MeasurementUnit, Double)] = [
        (1.14, .metre, .centimetre, 114),
        (114, .centimetre, .metre, 1.14),
        (1017.28, .metre, .millimetre, 1_017_280),
        (0.07, .metre, .millimetre, 70),
        (10, .foot, .metre, 3.048),
        (3.048, .metre, .foot, 10),
        (1, .foot, .centimetre, 30.48),
        (7.5, .inch, .millimetre, 190.5),
        (100, .degreeCelsius, .degreeFahrenheit, 212),
        (212, .degreeFahrenheit, .degreeCelsius, 100),
        (-40, .degreeCelsius, .degreeFahrenheit, -40),
        (98.6, .degreeFahrenheit, .degreeCelsius, 37),
        (50, .percent, .one, 0.5),
        (0.75, .one, .percent, 75),
        (3300, .millivolt, .volt, 3.3),
        (2.95, .volt, .millivolt, 2950),
        (1, .cubicFootPerSecond, .cubicMetrePerSecond, 0.028316846592),
        (-0.82, .metre, .centimetre, -82),
        (-73, .decibelMilliwatt, .decibelMilliwatt, -73),
    ]

    @Test(arguments: exact)
    func convertsExactly(value: Double, from: MeasurementUnit, to: MeasurementUnit, expected: Double) throws {
        let converted = try Quantity(value, from).converted(to: to)
        #expect(converted.value == expected)
        #expect(converted.unit == to)
    }

    @Test func conversionRoundTripsOnRealGaugeLevels() throws {
        // Decimal factors round-trip exactly; metres → feet is not a finite decimal, so the way
        // back is within one unit in the last place.
        for level in [1.14, 715.07, 0.67, 0.09, -0.82, 1017.28, 86.63, 273.83, 5.79] {
            let viaCentimetres = try Quantity(level, .metre).converted(to: .centimetre).converted(to: .metre)
            let viaFeet = try Quantity(level, .metre).converted(to: .foot).converted(to: .metre)
            #expect(viaCentimetres.value == level)
            #expect(abs(viaFeet.value - level) <= level.ulp)
        }
    }

    @Test func rejectsConversionAcrossDimensions() {
        #expect(throws: ModelError(field: "unitCode", .wrongDimension(unit: "MTR", expected: "voltage"))) {
            try Quantity(1, .metre).converted(to: .volt)
        }
        #expect(throws: ModelError.self) { try Quantity(-70, .decibelMilliwatt).converted(to: .one) }
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func rejectsNonFinite(value: Double) {
        #expect(throws: ModelError(field: "waterLevel", .notFinite)) { try Quantity(value, .metre, field: "waterLevel") }
    }

    @Test func unitCodesAreUNCEFACT() throws {
        let codes: [String: MeasurementUnit] = [
            "MTR": .metre, "CMT": .centimetre, "MMT": .millimetre, "FOT": .foot, "INH": .inch, "CEL": .degreeCelsius,
            "FAH": .degreeFahrenheit, "P1": .percent, "C62": .one, "IE": .person, "VLT": .volt, "2Z": .millivolt,
            "DBM": .decibelMilliwatt, "MQS": .cubicMetrePerSecond, "E17": .cubicFootPerSecond,
        ]
        for (code, unit) in codes { #expect(try MeasurementUnit(code: code) == unit) }
        #expect(codes.count == MeasurementUnit.allCases.count)
        #expect(throws: ModelError(field: "unitCode", .unknownUnit("m"))) { try MeasurementUnit(code: "m") }
        #expect(throws: ModelError(field: "unitCode", .unknownUnit("mtr"))) { try MeasurementUnit(code: "mtr") }
    }
}
