import Testing

@testable import KakehashiModel

/// Bad input is rejected with an error that names the field and says why.
struct RejectionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let form: NGSIForm
        let json: String
        let field: String
        let why: String
        var testDescription: String { name }
    }

    static let id = #""id":"urn:ngsi-ld:WaterObserved:kurume:3100000017","type":"WaterObserved""#
    static let loc = #""location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[133.75763,35.474224]}}"#
    static let date = #""dateObserved":{"type":"Property","value":{"@type":"DateTime","@value":"2026-06-01T03:07:00Z"}}"#
    static func level(_ body: String) -> String { #""waterLevel":{"type":"Property",\#(body)}"# }

    static let cases: [Case] = [
        Case(name: "not JSON", form: .normalized, json: "{\"id\":", field: "", why: "is not valid JSON"),
        Case(name: "not an object", form: .normalized, json: "[1,2]", field: "", why: "must be a JSON object"),
        Case(name: "missing id", form: .normalized, json: #"{"type":"WaterObserved"}"#, field: "id", why: "is required but missing"),
        Case(name: "id of wrong type", form: .normalized, json: #"{"id":42,"type":"WaterObserved"}"#, field: "id", why: "must be a string"),
        Case(
            name: "bad id",
            form: .normalized,
            json: #"{"id":"WaterObserved-1","type":"WaterObserved"}"#,
            field: "id",
            why: "must start with \"urn:ngsi-ld:\""
        ),
        Case(name: "missing type", form: .normalized, json: #"{"id":"urn:ngsi-ld:WaterObserved:kurume:1"}"#, field: "type", why: "is required"),
        Case(
            name: "type mismatch",
            form: .normalized,
            json: #"{"id":"urn:ngsi-ld:WaterObserved:kurume:1","type":"Alert"}"#,
            field: "type",
            why: "does not match the id's type"
        ),
        Case(
            name: "attribute not an object",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"waterLevel\":1.14}",
            field: "waterLevel",
            why: "must be an object with \"type\""
        ),
        Case(
            name: "unknown attribute kind",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"waterLevel\":{\"type\":\"Value\",\"value\":1}}",
            field: "waterLevel.type",
            why: "is not \"Property\""
        ),
        Case(
            name: "property without value",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\(level("\"unitCode\":\"MTR\""))}",
            field: "waterLevel.value",
            why: "is required"
        ),
        Case(
            name: "value of wrong type",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\(level("\"value\":\"high\""))}",
            field: "waterLevel",
            why: "must be a number"
        ),
        Case(
            name: "null value",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\(level("\"value\":null"))}",
            field: "waterLevel.value",
            why: "not null"
        ),
        Case(
            name: "unknown unit",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\(level("\"value\":1.14,\"unitCode\":\"XYZ\""))}",
            field: "waterLevel.unitCode",
            why: "unknown unit code \"XYZ\""
        ),
        Case(
            name: "unit of another dimension",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\(level("\"value\":1.14,\"unitCode\":\"CEL\""))}",
            field: "waterLevel.unitCode",
            why: "does not measure length"
        ),
        Case(
            name: "unit on text",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"name\":{\"type\":\"Property\",\"value\":\"x\",\"unitCode\":\"MTR\"}}",
            field: "name.unitCode",
            why: "only allowed on a numeric value"
        ),
        Case(
            name: "malformed observedAt",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\(level("\"value\":1.14,\"observedAt\":\"2026-06-01 3pm\""))}",
            field: "waterLevel.observedAt",
            why: "malformed timestamp"
        ),
        Case(
            name: "observedAt without zone",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\(level("\"value\":1.14,\"observedAt\":\"2026-06-01T03:07:00\""))}",
            field: "waterLevel.observedAt",
            why: "has no time zone"
        ),
        Case(
            name: "malformed DateTime",
            form: .normalized,
            json: "{\(id),\(loc),\"dateObserved\":{\"type\":\"Property\",\"value\":{\"@type\":\"DateTime\",\"@value\":\"2026-02-30T00:00:00Z\"}}}",
            field: "dateObserved.value.@value",
            why: "has day 30"
        ),
        Case(name: "missing location", form: .normalized, json: "{\(id),\(date)}", field: "location", why: "is required"),
        Case(
            name: "latitude 91",
            form: .normalized,
            json: "{\(id),\(date),\"location\":{\"type\":\"GeoProperty\",\"value\":{\"type\":\"Point\",\"coordinates\":[133.7,91]}}}",
            field: "location.value.coordinates[1]",
            why: "91.0 is outside -90...90"
        ),
        Case(
            name: "coordinate as string",
            form: .normalized,
            json: "{\(id),\(date),\"location\":{\"type\":\"GeoProperty\",\"value\":{\"type\":\"Point\",\"coordinates\":[\"133.7\",35]}}}",
            field: "location.value.coordinates[0]",
            why: "must be a number"
        ),
        Case(
            name: "polygon location",
            form: .normalized,
            json: "{\(id),\(date),\"location\":{\"type\":\"GeoProperty\",\"value\":{\"type\":\"Polygon\",\"coordinates\":[]}}}",
            field: "location.value.type",
            why: "only GeoJSON Point"
        ),
        Case(name: "missing dateObserved", form: .normalized, json: "{\(id),\(loc)}", field: "dateObserved", why: "is required"),
        Case(
            name: "oversize string",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"name\":{\"type\":\"Property\",\"value\":\"\(String(repeating: "水", count: 1025))\"}}",
            field: "name.value",
            why: "text of 1025 characters exceeds the limit of 1024"
        ),
        Case(
            name: "bad attribute name",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"water level\":{\"type\":\"Property\",\"value\":1}}",
            field: "water level",
            why: "attribute names are a letter"
        ),
        Case(name: "huge number", form: .normalized, json: "{\(id),\(loc),\(date),\(level("\"value\":1e999"))}", field: "", why: "JSON"),
        Case(
            name: "bad floodLevelStatus",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"floodLevelStatus\":{\"type\":\"Property\",\"value\":\"Flooding\"}}",
            field: "floodLevelStatus",
            why: "is not one of Normal, Alert, Danger"
        ),
        Case(
            name: "relationship without object",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"refDevice\":{\"type\":\"Relationship\"}}",
            field: "refDevice.object",
            why: "is required"
        ),
        Case(
            name: "relationship to non-URI",
            form: .normalized,
            json: "{\(id),\(loc),\(date),\"refDevice\":{\"type\":\"Relationship\",\"object\":\"gauge 1\"}}",
            field: "refDevice.object",
            why: "is not a URI"
        ),
        Case(
            name: "keyValues wrong type",
            form: .keyValues,
            json:
                "{\(id),\"location\":{\"type\":\"Point\",\"coordinates\":[133.7,35.4]},\"dateObserved\":\"2026-06-01T03:07:00Z\","
                + "\"waterLevel\":\"1.14\"}",
            field: "waterLevel",
            why: "must be a number"
        ),
        Case(
            name: "keyValues latitude 91",
            form: .keyValues,
            json: "{\(id),\"location\":{\"type\":\"Point\",\"coordinates\":[133.7,91]},\"dateObserved\":\"2026-06-01T03:07:00Z\"}",
            field: "location.coordinates[1]",
            why: "outside -90...90"
        ),
        Case(
            name: "keyValues malformed date",
            form: .keyValues,
            json: "{\(id),\"location\":{\"type\":\"Point\",\"coordinates\":[133.7,35.4]},\"dateObserved\":\"01/06/2026\"}",
            field: "dateObserved",
            why: "malformed timestamp"
        ),
    ]

    @Test(arguments: cases)
    func waterObservedRejects(_ c: Case) {
        expectModelError(field: c.field, containing: c.why) {
            _ = try WaterObserved(json: JSONValue(parsing: c.json), form: c.form)
        }
    }

    static let otherTypes: [(String, String, String)] = [
        (
            #"{"id":"urn:ngsi-ld:CrowdFlowObserved:k:1","type":"CrowdFlowObserved","dateObserved":"2010-01-01T02:00:00Z/2010-01-01T01:00:00Z"}"#,
            "dateObserved", "is not before its end"
        ),
        (
            #"{"id":"urn:ngsi-ld:CrowdFlowObserved:k:1","type":"CrowdFlowObserved","dateObserved":"2010-01-01T00:00:00Z/2010-01-01T01:00:00Z","#
                + #""peopleCount":-3}"#,
            "peopleCount", "outside 0...∞"
        ),
        (
            #"{"id":"urn:ngsi-ld:CrowdFlowObserved:k:1","type":"CrowdFlowObserved","dateObserved":"2010-01-01T00:00:00Z/2010-01-01T01:00:00Z","#
                + #""peopleCount":2.5}"#,
            "peopleCount", "a whole number"
        ),
        (
            #"{"id":"urn:ngsi-ld:CrowdFlowObserved:k:1","type":"CrowdFlowObserved","dateObserved":"2010-01-01T00:00:00Z/2010-01-01T01:00:00Z","#
                + #""occupancy":1.5}"#,
            "occupancy", "outside 0.0...1.0"
        ),
        (
            #"{"id":"urn:ngsi-ld:CrowdFlowObserved:k:1","type":"CrowdFlowObserved","dateObserved":"yesterday"}"#, "dateObserved",
            "not an ISO 8601 interval"
        ),
        (
            #"{"id":"urn:ngsi-ld:Device:k:1","type":"Device","deviceCategory":["sensor"],"dateLastValueReported":"2026-06-01T00:00:00Z"}"#,
            "deviceCategory", "a beacon Device"
        ),
        (
            #"{"id":"urn:ngsi-ld:Device:k:1","type":"Device","deviceCategory":["beacon"],"dateLastValueReported":"2026-06-01T00:00:00Z","#
                + #""rssi":-200}"#,
            "rssi", "outside -127.0...20.0"
        ),
        (
            #"{"id":"urn:ngsi-ld:Device:k:1","type":"Device","deviceCategory":["beacon"],"dateLastValueReported":"2026-06-01T00:00:00Z","#
                + #""batteryLevel":1.2}"#,
            "batteryLevel", "outside 0.0...1.0"
        ),
        (#"{"id":"urn:ngsi-ld:Device:k:1","type":"Device","deviceCategory":["beacon"]}"#, "dateLastValueReported", "is required"),
        (
            #"{"id":"urn:ngsi-ld:DeviceMeasurement:k:1","type":"DeviceMeasurement","controlledProperty":"v","dateObserved":"2026-06-01T00:00:00Z"}"#,
            "numValue", "needs numValue or textValue"
        ),
        (
            #"{"id":"urn:ngsi-ld:DeviceMeasurement:k:1","type":"DeviceMeasurement","controlledProperty":"v","numValue":3.3,"#
                + #""dateObserved":"2026-06-01T00:00:00Z"}"#,
            "unit", "is required"
        ),
        (
            #"{"id":"urn:ngsi-ld:DeviceMeasurement:k:1","type":"DeviceMeasurement","controlledProperty":"v","numValue":3.3,"unit":"volts","#
                + #""dateObserved":"2026-06-01T00:00:00Z"}"#,
            "unit", "unknown unit code \"volts\""
        ),
        (
            #"{"id":"urn:ngsi-ld:Alert:k:1","type":"Alert","category":"flooding","dateIssued":"2026-06-01T00:00:00Z","alertSource":"urn:x:y"}"#,
            "category", "is not one of traffic"
        ),
        (
            #"{"id":"urn:ngsi-ld:Alert:k:1","type":"Alert","category":"weather","severity":"extreme","dateIssued":"2026-06-01T00:00:00Z","#
                + #""alertSource":"urn:x:y"}"#,
            "severity", "is not one of informational"
        ),
        (
            #"{"id":"urn:ngsi-ld:Alert:k:1","type":"Alert","category":"weather","subCategory":"meteor","dateIssued":"2026-06-01T00:00:00Z","#
                + #""alertSource":"urn:x:y"}"#,
            "subCategory", "not a Smart Data Models alert sub-category"
        ),
        (#"{"id":"urn:ngsi-ld:Alert:k:1","type":"Alert","category":"weather","dateIssued":"2026-06-01T00:00:00Z"}"#, "alertSource", "is required"),
        (
            #"{"id":"urn:ngsi-ld:Alert:k:1","type":"Alert","category":"weather","dateIssued":"2026-06-01T00:00:00Z","alertSource":"urn:x:y","#
                + #""validFrom":"2026-06-02T00:00:00Z","validTo":"2026-06-01T00:00:00Z"}"#,
            "validTo", "is before validFrom"
        ),
    ]

    @Test(arguments: otherTypes)
    func otherModelsReject(json: String, field: String, why: String) throws {
        let value = try JSONValue(parsing: json)
        let type = value["type"]?.stringValue ?? ""
        expectModelError(field: field, containing: why) {
            switch type {
            case "CrowdFlowObserved": _ = try CrowdFlowObserved(json: value, form: .keyValues)
            case "Device": _ = try BeaconDevice(json: value, form: .keyValues)
            case "DeviceMeasurement": _ = try DeviceMeasurement(json: value, form: .keyValues)
            default: _ = try Alert(json: value, form: .keyValues)
            }
        }
    }

    @Test func typedModelRejectsAnotherType() throws {
        let json = Samples.alert.json(.normalized)
        #expect(throws: ModelError(field: "type", .invalid("expected a WaterObserved entity, got Alert"))) {
            try WaterObserved(json: json, form: .normalized)
        }
    }

    @Test func constructorsRejectNonFiniteAndOversize() throws {
        #expect(throws: ModelError(field: "occupancy", .notFinite)) {
            try CrowdFlowObserved(
                id: Samples.id("CrowdFlowObserved", "x"),
                dateObservedFrom: Timestamp(millisecondsSinceEpoch: 0),
                dateObservedTo: Timestamp(millisecondsSinceEpoch: 1),
                occupancy: .nan
            )
        }
        #expect(throws: ModelError(field: "name", .tooLong(length: 2000, limit: 1024))) {
            try BeaconDevice(
                id: Samples.id("Device", "x"),
                dateLastValueReported: Timestamp(millisecondsSinceEpoch: 0),
                name: String(repeating: "a", count: 2000)
            )
        }
        #expect(throws: ModelError.self) {
            try WaterObserved(
                id: Samples.id("Alert", "x"),
                location: GeoPoint(latitude: 0, longitude: 0),
                dateObserved: Timestamp(millisecondsSinceEpoch: 0)
            )
        }
    }
}
