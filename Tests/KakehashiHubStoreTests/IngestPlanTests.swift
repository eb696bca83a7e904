import KakehashiHubCore
import KakehashiHubTestSupport
import KakehashiModel
import Testing

/// The ingest plan is pure: what a batch means for a store, checked without a database.
@Suite("Ingest plan")
struct IngestPlanTests {
    static let t0 = Readings.t0
    static func at(_ minutes: Int64?) -> Timestamp? { minutes.map { t0.advanced(byMilliseconds: $0 * 60_000) } }

    static func property(_ value: PropertyValue, _ minutes: Int64?, unit: MeasurementUnit? = nil) -> NGSIAttribute {
        .property(NGSIProperty(value, unitCode: unit, observedAt: at(minutes)))
    }

    /// Which attributes are observations (NGSIEntity.observedValue, the one rule).
    @Test(
        arguments: [
            ("number with observedAt", property(.number(1.5), 0, unit: .metre), true),
            ("text with observedAt", property(.text("ok"), 0), true),
            ("boolean with observedAt", property(.boolean(true), 0), true),
            ("number without observedAt (a threshold)", property(.number(4.2), nil), false),
            ("date-time with observedAt", property(.dateTime(Readings.t0), 0), false),
            ("list with observedAt", property(.list(["a"]), 0), false),
            ("structured with observedAt", property(.structured(.object(["a": .number(1)])), 0), false),
            ("GeoProperty with observedAt", NGSIAttribute.geoProperty(try! GeoPoint(latitude: 33, longitude: 130), observedAt: at(0)), false),
        ] as [(String, NGSIAttribute, Bool)]
    )
    func observationRule(_ name: String, _ attribute: NGSIAttribute, _ isObservation: Bool) throws {
        let entity = try NGSIEntity(id: Readings.gauge("r"), attributes: ["reading": attribute])
        let plan = IngestPlan(Readings.batch([entity]))
        #expect(plan.readings.count == (isObservation ? 1 : 0), "\(name)")
        #expect(entity.observations().count == (isObservation ? 1 : 0), "the model's observations follow the same rule: \(name)")
        #expect(plan.changes.count == 1 && plan.changes[0].updates.map(\.name) == ["reading"], "every attribute updates the latest state")
    }

    /// The latest value after merging, in batch order, into what is stored: an attribute replaces
    /// the stored one unless that was observed later. Minutes of observedAt; nil: none.
    @Test(
        arguments: [
            ("newer replaces", 5 as Int64?, [6] as [Int64?], 6 as Int64?),
            ("late does not hide newer", 5, [4], 5),
            ("equal time: the incoming one", 5, [5], 5),
            ("in-batch order: a late one after a newer one", nil, [3, 9, 4], 9),
            ("no observedAt replaces", 5, [nil], nil),
            ("after one without observedAt, any replaces", 5, [nil, 2], 2),
            ("nothing stored", nil, [2, 1], 2),
        ] as [(String, Int64?, [Int64?], Int64?)]
    )
    func mergeOrder(_ name: String, stored: Int64?, incoming: [Int64?], expected: Int64?) throws {
        let id = Readings.gauge("m")
        func entity(_ minutes: Int64?, _ value: Double) throws -> NGSIEntity {
            try NGSIEntity(id: id, attributes: ["waterLevel": Self.property(.number(value), minutes, unit: .metre)])
        }
        let batch = Readings.batch(try incoming.enumerated().map { try entity($0.element, Double($0.offset)) })
        let state = try IngestPlan(batch).changes[0].merged(into: stored.map { EntityState(try! entity($0, -1)) })
        #expect(state.entity.attributes["waterLevel"]?.observedAt == Self.at(expected), "\(name)")
        #expect(state.body == state.entity.serialized(.normalized), "the assembled body is the entity's normalized JSON: \(name)")
    }

    /// Readings before `oldestAccepted` are counted as expired, not planned.
    @Test func expiredReadingsAreCountedNotPlanned() {
        let entities = (0..<6).map { Readings.level("e", Double($0), minutes: Int64($0) * 10) }
        let batch = IngestBatch(tenant: Readings.kurume, gateway: nil, entities: entities, receivedAt: Self.t0, oldestAccepted: Self.at(25))
        let plan = IngestPlan(batch)
        #expect(plan.expired == 3)
        #expect(plan.readings.map(\.observedAt) == [30, 40, 50].map { Self.at($0)! })
        #expect(plan.series.count == 1, "one series however many readings")
    }

    /// Rollups sum only what the store inserted, numbers only, per bucket.
    @Test func rollupsCountOnlyInsertedNumbers() throws {
        let entities = [
            Readings.level("a", 1, minutes: 0), Readings.level("a", 3, minutes: 30), Readings.level("a", 10, minutes: 61),
            Readings.level("a", 100, minutes: 62),
            try NGSIEntity(id: Readings.gauge("a"), attributes: ["status": Self.property(.text("high"), 1)]),
        ]
        let plan = IngestPlan(Readings.batch(entities))
        #expect(plan.readings.count == 5)
        // The reading at minute 62 was a duplicate.
        let sums = plan.rollups(inserted: [true, true, true, false, true], resolutions: [.hour])
        let level = plan.series.firstIndex { $0.key.attribute == "waterLevel" }!
        let first = IngestPlan.RollupKey(series: level, resolution: .hour, bucket: RollupResolution.hour.bucket(of: Self.t0))
        let second = IngestPlan.RollupKey(series: level, resolution: .hour, bucket: RollupResolution.hour.bucket(of: Self.at(61)!))
        #expect(sums == [first: Aggregate(count: 2, min: 1, max: 3, sum: 4), second: Aggregate(count: 1, min: 10, max: 10, sum: 10)])
        #expect(plan.rollups(inserted: [false, false, false, false, false], resolutions: [.hour]).isEmpty)
    }

    /// A batch read from a payload keeps each attribute's JSON as received: written by the
    /// gateway's encoder it is byte for byte the normalized form; written by someone else (spaces,
    /// members in another order) it is kept as it came and still reads back as the same entity.
    @Test func receivedBytesAreKept() throws {
        let entity = Readings.level("k", 2.5, minutes: 3)
        let encoded = try WireBatch(tenant: Readings.kurume, gateway: GatewayID("gw-01"), entries: [.init(sequence: 1, entity: entity)]).payload()
        let decoded = try WireBatch(payload: encoded)
        #expect(decoded.entries[0].receivedAttributes == entity.attributes.mapValues(NGSIEntity.normalizedFragment))

        let level = #"{ "observedAt" : "2026-06-02T00:03:00.000Z", "type":"Property", "unitCode":"MTR", "value": 2.5 }"#
        let handWritten =
            #"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":1,"entity":{"id":"\#(entity.id.rawValue)","type":"WaterObserved","#
            + #""waterLevel":\#(level)}}]}"#
        let other = try WireBatch(payload: Array(handWritten.utf8))
        #expect(other.entries[0].receivedAttributes == ["waterLevel": Array(level.utf8)])
        let batch = IngestBatch(
            tenant: Readings.kurume,
            gateway: nil,
            entities: other.entries.map(\.entity),
            received: other.entries.map(\.receivedAttributes),
            receivedAt: Self.t0
        )
        let state = try IngestPlan(batch).changes[0].merged(into: nil)
        #expect(try NGSIEntity(bytes: state.body, form: .normalized).attributes["waterLevel"] == entity.attributes["waterLevel"])
    }

    /// Only the members of each entry's `entity` object are kept, never those of another object
    /// of the same shape beside it.
    @Test func onlyTheEntitysMembersAreKept() throws {
        let entity = Readings.level("k", 2.5, minutes: 3)
        let fragment = String(decoding: NGSIEntity.normalizedFragment(entity.attributes["waterLevel"]!), as: UTF8.self)
        let decoy = #"{"waterLevel":{"type":"Property","value":99}}"#
        let text =
            #"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"x":\#(decoy),"seq":1,"entity":{"id":"\#(entity.id.rawValue)","#
            + #""type":"WaterObserved","waterLevel":\#(fragment)}}]}"#
        let withDecoy = try WireBatch(payload: Array(text.utf8))
        #expect(withDecoy.entries[0].receivedAttributes == ["waterLevel": Array(fragment.utf8)])
        let valid =
            #"{"v":1,"tenant":"kurume","gateway":"gw-01","entities":[{"seq":1,"entity":{"id":"\#(entity.id.rawValue)","type":"WaterObserved","#
            + #""waterLevel":\#(fragment)}},{"seq":2,"entity":{"id":"\#(entity.id.rawValue)","type":"WaterObserved","waterLevel":\#(fragment)}}]}"#
        let batch = try WireBatch(payload: Array(valid.utf8))
        #expect(batch.entries.map(\.receivedAttributes) == [["waterLevel": Array(fragment.utf8)], ["waterLevel": Array(fragment.utf8)]])
    }
}
