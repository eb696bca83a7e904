import KakehashiTestSupport
import Testing

@testable import KakehashiModel
@testable import KakehashiTraces

/// The real storm trace (MLIT crisis-management gauges, 2026-06-01 12:00 to 06-04 12:00 JST),
/// normalized reading by reading into WaterObserved entities.
struct StormTraceTests {
    static let traceFile = "river-jp/storm-2026-06-02.csv"
    static let stationsFile = "river-jp/storm-2026-06-02-stations.csv"

    struct Loaded: Sendable {
        let stations: RiverGaugeStations
        let result: RiverTraceNormalizer.Result
    }

    static let loaded: Loaded = {
        let stations = try! RiverGaugeStations(text: RepositoryPaths.text(RepositoryPaths.trace(stationsFile)), file: stationsFile)
        let trace = try! RiverGaugeTrace(text: RepositoryPaths.text(RepositoryPaths.trace(traceFile)), file: traceFile)
        let result = RiverTraceNormalizer(tenant: try! Tenant("demo"), stations: stations).normalize(trace, file: traceFile)
        return Loaded(stations: stations, result: result)
    }()

    @Test func everyReadingBecomesOneEntity() {
        let result = Self.loaded.result
        #expect(Self.loaded.stations.byCode.count == 1415)
        #expect(Self.loaded.stations.rejected.isEmpty)
        #expect(result.entities.count == 12438)
        #expect(result.rejected.isEmpty, "\(result.rejected.prefix(3))")
        #expect(result.duplicates == 0)
        #expect(Set(result.entities.map(\.id)).count == 1415)
    }

    @Test func firstReadingHasItsGaugesThresholdsAndLocation() throws {
        let first = try #require(Self.loaded.result.entities.first)
        #expect(first.id.rawValue == "urn:ngsi-ld:WaterObserved:demo:3100000017")
        #expect(first.dateObserved.iso8601 == "2026-06-01T03:07:00.000Z")
        #expect(first.waterLevel == (try Quantity(1.14, .metre)))
        #expect(first.location.latitude == 35.474224 && first.location.longitude == 133.75763)
        #expect(first.name == "亀谷川（北栄町西穂波）")
        #expect(first.address?.addressRegion == "鳥取県")
        #expect(first.address?.addressLocality == "鳥取県東伯郡北栄町")
        #expect(first.thresholds == (try FloodThresholds(observationStartLevel: 0.96, alertLevel: 1.47, dangerLevel: 2.39)))
        #expect(first.floodLevelStatus == .normal)
    }

    @Test func exactValuesOfChosenReadings() throws {
        let byKey = Dictionary(
            Self.loaded.result.entities.map { ("\($0.id.localID)@\($0.dateObserved.iso8601)", $0) },
            uniquingKeysWith: { a, _ in a }
        )
        // The highest gauge of the trace, in the mountains: 1017.28 m on its datum.
        let high = try #require(byKey["1900000281@2026-06-02T21:57:00.000Z"])
        #expect(high.waterLevel?.value == 1017.28)
        // Below datum near the sea: kept, negative.
        let low = try #require(byKey["1600000042@2026-06-01T04:30:00.000Z"])
        #expect(low.waterLevel?.value == -0.82)
        // The gauge whose published danger level lies above its flood-start level.
        let odd = try #require(Self.loaded.stations.byCode["8500000172"])
        #expect(odd.thresholds.alertLevel == 86.63 && odd.thresholds.dangerLevel == 86.39)
    }

    @Test func summaryCountsStagesReached() {
        let summary = RiverTraceSummary(Self.loaded.result, stations: Self.loaded.stations)
        #expect(summary.entities == 12438)
        #expect(summary.gauges == 1415)
        #expect(summary.firstObserved?.iso8601 == "2026-06-01T03:07:00.000Z")
        #expect(summary.lastObserved?.iso8601 == "2026-06-04T01:47:00.000Z")
        // Counted independently from the CSV: 78 gauges at or above flood-start (氾濫開始水位); 174 at
        // alert stage or higher (117 at or above a danger level 危険水位, plus danger gauges without one).
        #expect(summary.gaugesAtDanger == 78)
        #expect(summary.gaugesAtAlert == 174)
        #expect(summary.belowDatum == 267)
        #expect(summary.inconsistentGauges == ["8500000172: alert level 86.63 m is above the danger level 86.39 m"])
        #expect(summary.worst.first?.code == "3600000041")
        #expect(summary.worst.first?.margin == 2.82)
    }

    @Test(.enabled(if: SlowTests.enabled, "slow: deploy/test --fast skips it"), arguments: NGSIForm.allCases)
    func everyEntityValidatesAgainstTheSmartDataModelsSchema(form: NGSIForm) async throws {
        let outputs = Self.loaded.result.entities.map { $0.json(form) }
        let report = try await SmartDataModelValidator.validate(outputs, form: form)
        #expect(report.checked == 12438)
        #expect(report.failures.isEmpty, "\(report.failures.prefix(3))")
        #expect(report.deviations == ["WaterObserved.waterLevel below the gauge datum (schema minimum 0)": 267])
    }

    @Test func wireBatchesCarryEveryReadingOnce() throws {
        let entities = Self.loaded.result.entities
        let tenant = try Tenant("demo"), gateway = try GatewayID("sim-river")
        var sequence: UInt64 = 0
        var decoded = [WaterObserved]()
        for start in stride(from: 0, to: entities.count, by: 500) {
            let entries = entities[start..<min(start + 500, entities.count)].map { entity -> WireBatch.Entry in
                sequence += 1
                return WireBatch.Entry(sequence: sequence, entity: entity.ngsiEntity)
            }
            let batch = try WireBatch(payload: WireBatch(tenant: tenant, gateway: gateway, entries: entries).payload())
            decoded += try batch.entries.map { try WaterObserved(ngsiEntity: $0.entity) }
        }
        #expect(decoded == entities)
    }
}
