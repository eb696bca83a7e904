import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import KakehashiTraces
import Testing

/// Temporal queries over the real 2026-06-02 storm trace (simulators/traces/river-jp), checked
/// against values computed here straight from the CSV rows, not through the hub.
@Suite("Temporal API on the storm trace", .serialized)
struct TemporalStormTests {
    static let traceFile = "river-jp/storm-2026-06-02.csv"
    static let stationsFile = "river-jp/storm-2026-06-02-stations.csv"
    static let station = "3100000017"

    /// The trace rows of one station, (ms, level), straight from the CSV text.
    static func rows(_ code: String) throws -> [(Int64, Double)] {
        let text = try RepositoryPaths.text(RepositoryPaths.trace(traceFile))
        var rows = [(Int64, Double)]()
        for line in text.split(separator: "\n").dropFirst() {
            let cells = line.split(separator: ",")
            guard cells.count == 3, cells[0] == code else { continue }
            rows.append((try Timestamp(iso8601: String(cells[1])).millisecondsSinceEpoch, Double(cells[2])!))
        }
        return rows.sorted { $0.0 < $1.0 }
    }

    /// Loads the whole trace into a hub (through the store's ingest, in gateway-sized batches).
    static func load(_ hub: Hub) async throws {
        let stations = try RiverGaugeStations(text: RepositoryPaths.text(RepositoryPaths.trace(stationsFile)), file: stationsFile)
        let trace = try RiverGaugeTrace(text: RepositoryPaths.text(RepositoryPaths.trace(traceFile)), file: traceFile)
        let entities = RiverTraceNormalizer(tenant: Readings.kurume, stations: stations).normalize(trace, file: traceFile).entities.map(\.ngsiEntity)
        var stored = 0
        for start in stride(from: 0, to: entities.count, by: 500) {
            stored += try await hub.store.ingest(Readings.batch(Array(entities[start..<min(start + 500, entities.count)]))).stored
        }
        #expect(stored >= entities.count, "every level (and its status) is stored")
    }

    static func expectClose(_ a: Double?, _ b: Double, _ what: String) {
        #expect(a != nil && abs(a! - b) < 1e-9, "\(what): \(String(describing: a)) vs \(b)")
    }

    @Test func rawLastNAndAggregatesMatchTheTrace() async throws {
        let rows = try Self.rows(Self.station)
        #expect(rows.count == 42)
        #expect(Set(rows.map(\.0)).count == rows.count, "one reading per time in the trace")
        try await HubHarness.withHub { hub, client in
            try await Self.load(hub)
            let id = "urn:ngsi-ld:WaterObserved:kurume:\(Self.station)"
            let base = "/ngsi-ld/v1/temporal/entities/\(id)"

            // Raw, whole window.
            let raw = try await client.call(.get, base + "?attrs=waterLevel")
            let instances = raw.json["waterLevel"]?.arrayValue ?? []
            #expect(instances.count == rows.count)
            #expect(instances.compactMap { $0["value"]?.numberValue } == rows.map(\.1))
            #expect(instances.first?["observedAt"]?.stringValue == Timestamp(millisecondsSinceEpoch: rows[0].0).iso8601)
            #expect(instances.first?["unitCode"]?.stringValue == "MTR")

            // between, half-open.
            let from = rows[10].0, to = rows[20].0
            let between = try await client.call(
                .get,
                base
                    + "?attrs=waterLevel&timerel=between&timeAt=\(Timestamp(millisecondsSinceEpoch: from).iso8601)"
                    + "&endTimeAt=\(Timestamp(millisecondsSinceEpoch: to).iso8601)"
            )
            #expect(between.json["waterLevel"]?.arrayValue?.compactMap { $0["value"]?.numberValue } == rows[10..<20].map(\.1))

            // lastN in simplified form.
            let last = try await client.call(.get, base + "?attrs=waterLevel&lastN=5&options=temporalValues")
            let values = last.json["waterLevel"]?["values"]?.arrayValue ?? []
            #expect(values.compactMap { $0.arrayValue?.first?.numberValue } == rows.suffix(5).map(\.1))

            // Hourly and daily aggregates, aligned (answered from rollups) and not (from raw rows).
            let start = try Timestamp(iso8601: "2026-06-01T00:00:00Z").millisecondsSinceEpoch
            let end = try Timestamp(iso8601: "2026-06-04T00:00:00Z").millisecondsSinceEpoch
            for (origin, period, duration) in [
                (start, Int64(3_600_000), "PT1H"), (start, 86_400_000, "P1D"), (start + 30 * 60_000, 3_600_000, "PT1H"),
                (start, 10 * 60_000, "PT10M"),
            ] {
                var expected = [Int64: (n: Int, sum: Double, min: Double, max: Double)]()
                for (t, level) in rows where t >= origin && t < end {
                    let key = (t - origin) / period
                    let e = expected[key] ?? (0, 0, .infinity, -.infinity)
                    expected[key] = (e.n + 1, e.sum + level, min(e.min, level), max(e.max, level))
                }
                let uri =
                    base + "?attrs=waterLevel&timerel=between&timeAt=\(Timestamp(millisecondsSinceEpoch: origin).iso8601)"
                    + "&endTimeAt=\(Timestamp(millisecondsSinceEpoch: end).iso8601)&options=aggregatedValues"
                    + "&aggrMethods=totalCount,sum,avg,min,max&aggrPeriodDuration=\(duration)"
                let reply = try await client.call(.get, uri)
                #expect(reply.status == .ok, "\(reply.text)")
                let attribute = reply.json["waterLevel"]
                let keys = expected.keys.sorted()
                let counts = attribute?["totalCount"]?.arrayValue ?? []
                #expect(counts.count == keys.count, "\(duration) from \(origin)")
                for (i, key) in keys.enumerated() where i < counts.count {
                    let e = expected[key]!
                    #expect(counts[i].arrayValue?.first?.numberValue == Double(e.n))
                    #expect(counts[i].arrayValue?[1].stringValue == Timestamp(millisecondsSinceEpoch: origin + key * period).iso8601)
                    #expect(counts[i].arrayValue?[2].stringValue == Timestamp(millisecondsSinceEpoch: origin + (key + 1) * period).iso8601)
                    Self.expectClose(attribute?["sum"]?.arrayValue?[i].arrayValue?.first?.numberValue, e.sum, "sum \(duration) #\(i)")
                    Self.expectClose(attribute?["avg"]?.arrayValue?[i].arrayValue?.first?.numberValue, e.sum / Double(e.n), "avg \(duration) #\(i)")
                    Self.expectClose(attribute?["min"]?.arrayValue?[i].arrayValue?.first?.numberValue, e.min, "min \(duration) #\(i)")
                    Self.expectClose(attribute?["max"]?.arrayValue?[i].arrayValue?.first?.numberValue, e.max, "max \(duration) #\(i)")
                }
            }
        }
    }

    @Test func typeQueryPagesThroughGaugesWithCount() async throws {
        try await HubHarness.withHub { hub, client in
            try await Self.load(hub)
            let reply = try await client.call(.get, "/ngsi-ld/v1/temporal/entities?type=WaterObserved&attrs=waterLevel&lastN=1&limit=3&count=true")
            #expect(reply.headers[.init("NGSILD-Results-Count")!] == "1415")
            #expect(reply.json.arrayValue?.count == 3)
            #expect(reply.json.arrayValue?.allSatisfy { $0["waterLevel"]?.arrayValue?.count == 1 } == true)
            let stats = try await hub.store.statistics()
            #expect(stats.entities == 1415)
        }
    }
}
