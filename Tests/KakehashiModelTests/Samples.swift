@testable import KakehashiModel

/// One complete and one minimal entity of every Smart Data Model, built from values of the real
/// traces (the first storm reading of gauge 3100000017; Melbourne sensor 1; a horizon-74 tag).
enum Samples {
    static let tenant = try! Tenant("kurume")

    static func id(_ type: String, _ local: String) -> EntityID {
        try! EntityID(type: type, tenant: tenant, localID: local)
    }

    static func time(_ text: String) -> Timestamp { try! Timestamp(iso8601: text) }

    static let gauge = try! WaterObserved(
        id: id("WaterObserved", "3100000017"),
        location: GeoPoint(latitude: 35.474224, longitude: 133.75763),
        dateObserved: time("2026-06-01T03:07:00.000Z"),
        waterLevel: Quantity(1.14, .metre),
        flow: Quantity(12.5, .cubicMetrePerSecond),
        name: "亀谷川（北栄町西穂波）",
        address: PostalAddress(addressCountry: "JP", addressRegion: "鳥取県", addressLocality: "鳥取県東伯郡北栄町"),
        refDevice: "urn:ngsi-ld:Device:kurume:gauge-3100000017",
        thresholds: FloodThresholds(observationStartLevel: 0.96, alertLevel: 1.47, dangerLevel: 2.39)
    )

    static let gaugeMinimal = try! WaterObserved(
        id: id("WaterObserved", "1600000042"),
        location: GeoPoint(latitude: 36.7, longitude: 137.2),
        dateObserved: time("2026-06-01T04:30:00Z"),
        waterLevel: Quantity(-0.82, .metre)
    )

    static let crowd = try! CrowdFlowObserved(
        id: id("CrowdFlowObserved", "melbourne-1"),
        location: GeoPoint(latitude: -37.81349441, longitude: 144.96515323),
        dateObservedFrom: time("2010-01-01T00:00:00Z"),
        dateObservedTo: time("2010-01-01T01:00:00Z"),
        peopleCount: 1285,
        occupancy: 0.25,
        congested: false,
        direction: .inbound,
        name: "Bourke Street Mall (North)",
        refDevice: "urn:ngsi-ld:Device:kurume:counter-1"
    )

    static let crowdMinimal = try! CrowdFlowObserved(
        id: id("CrowdFlowObserved", "melbourne-2"),
        dateObservedFrom: time("2010-01-01T01:00:00Z"),
        dateObservedTo: time("2010-01-01T02:00:00Z"),
        peopleCount: 0
    )

    static let beacon = try! BeaconDevice(
        id: id("Device", "tag-7f3a9c2e51d04b88"),
        dateLastValueReported: time("2026-06-01T03:07:12.345Z"),
        rssi: -73,
        batteryLevel: 0.8,
        location: GeoPoint(latitude: 33.3193, longitude: 130.5083),
        name: "見守りタグ 12",
        deviceState: "present"
    )

    static let beaconMinimal = try! BeaconDevice(
        id: id("Device", "tag-0000000000000001"),
        dateLastValueReported: time("2026-06-01T03:07:13Z")
    )

    static let measurement = try! DeviceMeasurement(
        id: id("DeviceMeasurement", "gauge-3100000017-battery"),
        controlledProperty: "batteryVoltage",
        value: .quantity(Quantity(3.62, .volt)),
        dateObserved: time("2026-06-01T03:07:00Z"),
        refDevice: "urn:ngsi-ld:Device:kurume:gauge-3100000017",
        deviceType: "sensor",
        measurementType: "battery",
        location: GeoPoint(latitude: 35.474224, longitude: 133.75763),
        outlier: false
    )

    static let measurementText = try! DeviceMeasurement(
        id: id("DeviceMeasurement", "gauge-3100000017-state"),
        controlledProperty: "state",
        value: .text("door open"),
        dateObserved: time("2026-06-01T03:08:00Z")
    )

    static let alert = try! Alert(
        id: id("Alert", "3100000017-danger-1"),
        category: .naturalDisaster,
        subCategory: "flood",
        severity: .high,
        dateIssued: time("2026-06-02T01:10:00Z"),
        validFrom: time("2026-06-02T01:10:00Z"),
        validTo: time("2026-06-02T07:10:00Z"),
        alertSource: "urn:ngsi-ld:WaterObserved:kurume:3100000017",
        description: "亀谷川 above its flood-start level (氾濫開始水位 2.39 m): 2.52 m",
        location: GeoPoint(latitude: 35.474224, longitude: 133.75763),
        name: "氾濫発生"
    )

    static let alertMinimal = try! Alert(
        id: id("Alert", "2"),
        category: .weather,
        dateIssued: time("2026-06-02T01:10:00Z"),
        alertSource: "https://www.jma.go.jp/bosai/warning/"
    )

    /// A sample: its generic entity, its context, and a check that JSON decodes back to it.
    struct Sample: Sendable {
        let name: String
        let entity: NGSIEntity
        let context: [String]
        /// Decodes `json` in `form` as the sample's type and says whether it equals the sample.
        let decodesBack: @Sendable (JSONValue, NGSIForm) throws -> Bool
    }

    /// Every sample.
    static let all: [Sample] = [
        entry("WaterObserved", gauge), entry("WaterObserved minimal", gaugeMinimal),
        entry("CrowdFlowObserved", crowd), entry("CrowdFlowObserved minimal", crowdMinimal),
        entry("Device beacon", beacon), entry("Device beacon minimal", beaconMinimal),
        entry("DeviceMeasurement", measurement), entry("DeviceMeasurement text", measurementText),
        entry("Alert", alert), entry("Alert minimal", alertMinimal),
    ]

    static func entry<M: SmartDataModel>(_ name: String, _ model: M) -> Sample {
        Sample(name: name, entity: model.ngsiEntity, context: M.context) { json, form in try M(json: json, form: form) == model }
    }
}
