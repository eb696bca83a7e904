import Testing

@testable import KakehashiModel

struct RoundTripTests {
    @Test(arguments: Array(0..<Samples.all.count), NGSIForm.allCases)
    func typedEntityRoundTripsThroughJSONText(index: Int, form: NGSIForm) throws {
        let sample = Samples.all[index]
        var entity = sample.entity
        entity.context = sample.context
        let text = entity.json(form).jsonText
        let reparsed = try JSONValue(parsing: text)
        #expect(try sample.decodesBack(reparsed, form), "\(sample.name) \(form)")
        // The generic form also round-trips exactly in normalized form (units, observedAt kept).
        if form == .normalized {
            #expect(try NGSIEntity(json: reparsed, form: .normalized) == entity, "\(sample.name)")
        }
    }

    /// A store puts the latest state together from per-attribute fragments; the bytes must be
    /// those of the whole-entity serialization.
    @Test(arguments: Array(0..<Samples.all.count))
    func assembledFragmentsEqualTheSerialization(index: Int) {
        let entity = Samples.all[index].entity
        let fragments = entity.attributes.mapValues(NGSIEntity.normalizedFragment)
        #expect(NGSIEntity.assembleNormalized(id: entity.id, fragments: fragments) == entity.serialized(.normalized), "\(Samples.all[index].name)")
    }

    @Test func normalizedCarriesUnitCodeObservedAtAndContext() throws {
        let json = Samples.gauge.json(.normalized)
        #expect(json["@context"] == .array([.string(NGSIContext.environment), .string(NGSIContext.core)]))
        #expect(json["waterLevel"] == ["type": "Property", "value": 1.14, "unitCode": "MTR", "observedAt": "2026-06-01T03:07:00.000Z"])
        #expect(json["location"] == ["type": "GeoProperty", "value": ["type": "Point", "coordinates": [133.75763, 35.474224]]])
        #expect(json["dateObserved"] == ["type": "Property", "value": ["@type": "DateTime", "@value": "2026-06-01T03:07:00.000Z"]])
        #expect(json["alertLevel"] == ["type": "Property", "value": 1.47, "unitCode": "MTR"])
        #expect(json["floodLevelStatus"] == ["type": "Property", "value": "Normal", "observedAt": "2026-06-01T03:07:00.000Z"])
        #expect(json["refDevice"] == ["type": "Relationship", "object": "urn:ngsi-ld:Device:kurume:gauge-3100000017"])
        #expect(
            Samples.beacon.json(.normalized)["rssi"] == [
                "type": "Property", "value": -73, "unitCode": "DBM", "observedAt": "2026-06-01T03:07:12.345Z",
            ]
        )
        #expect(Samples.beacon.json(.normalized)["deviceCategory"] == ["type": "Property", "value": ["beacon"]])
        #expect(
            Samples.crowd.json(.normalized)["peopleCount"] == [
                "type": "Property", "value": 1285, "unitCode": "IE", "observedAt": "2010-01-01T01:00:00.000Z",
            ]
        )
        #expect(Samples.alert.json(.normalized)["@context"] == .array([.string(NGSIContext.alert), .string(NGSIContext.core)]))
    }

    @Test func keyValuesAreBareValues() {
        let json = Samples.gauge.json(.keyValues)
        #expect(json["waterLevel"] == 1.14)
        #expect(json["dateObserved"] == "2026-06-01T03:07:00.000Z")
        #expect(json["location"] == ["type": "Point", "coordinates": [133.75763, 35.474224]])
        #expect(json["refDevice"] == "urn:ngsi-ld:Device:kurume:gauge-3100000017")
        #expect(Samples.crowd.json(.keyValues)["dateObserved"] == "2010-01-01T00:00:00.000Z/2010-01-01T01:00:00.000Z")
    }

    @Test func serializationIsCompactStableAndEscaped() throws {
        let value: JSONValue = ["type": "T", "id": "x", "b": [1, 2.5, -0.82, true, nil], "a": "q\"\\/\n\u{1}日本"]
        #expect(value.jsonText == #"{"id":"x","type":"T","a":"q\"\\/\n\u0001日本","b":[1,2.5,-0.82,true,null]}"#)
        #expect(try JSONValue(parsing: value.jsonText) == value)
        #expect(JSONValue.number(1e-7).jsonText == "1e-07")
        #expect(try JSONValue(parsing: JSONValue.number(1e300).jsonText) == .number(1e300))
    }

    @Test func unitsAreCanonicalizedOnTheWayIn() throws {
        let gauge = try WaterObserved(
            id: Samples.id("WaterObserved", "cm-gauge"),
            location: GeoPoint(latitude: 35, longitude: 135),
            dateObserved: Samples.time("2026-06-01T00:00:00Z"),
            waterLevel: Quantity(114, .centimetre)
        )
        #expect(gauge.waterLevel == (try Quantity(1.14, .metre)))
        // A normalized input in feet is read into metres.
        var json = gauge.json(.normalized)
        guard case .object(var members) = json else { Issue.record("not an object"); return }
        members["waterLevel"] = ["type": "Property", "value": 10, "unitCode": "FOT", "observedAt": "2026-06-01T00:00:00Z"]
        json = .object(members)
        #expect(try WaterObserved(json: json, form: .normalized).waterLevel == (try Quantity(3.048, .metre)))
    }

    @Test func floodLevelStatusFollowsThresholds() throws {
        let thresholds = try FloodThresholds(observationStartLevel: 0.96, alertLevel: 1.47, dangerLevel: 2.39)
        #expect(thresholds.status(of: 1.46) == .normal)
        #expect(thresholds.status(of: 1.47) == .alert)
        #expect(thresholds.status(of: 2.39) == .danger)
        // The real gauge 8500000172 lists danger above flood-start: accepted, reported, danger wins.
        let odd = try FloodThresholds(observationStartLevel: 83.2, alertLevel: 86.63, dangerLevel: 86.39)
        #expect(odd.inconsistencies == ["alert level 86.63 m is above the danger level 86.39 m"])
        #expect(odd.status(of: 86.5) == .danger)
        #expect(Samples.gaugeMinimal.floodLevelStatus == nil)
    }
}
