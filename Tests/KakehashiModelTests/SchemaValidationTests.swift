import KakehashiTestSupport
import Testing

@testable import KakehashiModel

/// NGSI-LD output validates against the official Smart Data Models JSON Schemas.
struct SchemaValidationTests {
    static func outputs(_ form: NGSIForm) -> [JSONValue] {
        Samples.all.map { sample in
            var entity = sample.entity
            entity.context = sample.context
            return entity.json(form)
        }
    }

    @Test(arguments: NGSIForm.allCases)
    func everySampleValidates(form: NGSIForm) async throws {
        let report = try await SmartDataModelValidator.validate(Self.outputs(form), form: form)
        #expect(report.checked == Samples.all.count)
        #expect(report.failures.isEmpty, "\(report.failures)")
        // The documented deviations, each exactly where expected: the minimal gauge reads -0.82 m
        // (below its datum) and both alerts name their source by an id matching both oneOf branches.
        #expect(
            report.deviations == [
                "WaterObserved.waterLevel below the gauge datum (schema minimum 0)": 1,
                "Alert.alertSource matches both branches of the schema's oneOf [uri, EntityIdentifierType]": 1,
            ]
        )
    }

    @Test func validatorCatchesBrokenOutput() async throws {
        // A negative control: the check must fail on output that breaks the schema, else it proves nothing.
        var broken = [JSONValue]()
        for (name, value) in [
            ("waterLevel", JSONValue.string("high")), ("dateObserved", nil), ("location", ["type": "Point", "coordinates": ["x", 1]]),
        ] {
            guard case .object(var members) = Samples.gauge.json(.keyValues) else { continue }
            members[name] = value
            broken.append(.object(members))
        }
        guard case .object(var device) = Samples.beacon.json(.keyValues) else { return }
        device["controlledProperty"] = nil
        broken.append(.object(device))
        guard case .object(var alert) = Samples.alert.json(.keyValues) else { return }
        alert["severity"] = "extreme"
        broken.append(.object(alert))
        let report = try await SmartDataModelValidator.validate(broken, form: .keyValues)
        #expect(report.failures.count == broken.count, "\(report.failures)")
    }
}
