import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

extension HubAPI {
    static let temporalQueryParameters: Set<String> = [
        "type", "id", "attrs", "timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "options", "format", "aggrMethods",
        "aggrPeriodDuration", "limit", "offset", "count",
    ]

    /// `GET /ngsi-ld/v1/temporal/entities` and `/temporal/entities/{id}`.
    /// `query` stands for the URL's parameters (`POST /temporal/entityOperations/query`).
    func queryTemporal(_ request: Request, id text: String?, query given: QueryString? = nil) async throws -> Response {
        // Whose data: the caller's tenant, or for one entity shared with it, its owner's.
        var tenant = try tenant(of: request)
        let query = try given ?? QueryString(request.uri.query)
        try query.allow(
            text == nil ? Self.temporalQueryParameters : Self.temporalQueryParameters.subtracting(["type", "id", "limit", "offset", "count"])
        )
        _ = try query.options
        let jsonLD = try Self.wantsJSONLD(request)
        let temporal: TemporalRequest
        do { temporal = try TemporalRequest(parameters: query.values) } catch { throw NGSIProblem(error) }

        var entities: [NGSIEntity]
        var total = 0
        var headers = HTTPFields()
        if let text {
            let id = try Self.entityID(text, parameter: "id", tenant: tenant)
            var found = try await stored({ () async throws(StorageError) in try await store.entity(tenant: tenant, id: id) })
            if found == nil, let (entity, grant) = try await sharedEntity(id, for: tenant) {
                if grant.precision == .hourly {
                    guard case .aggregated(_, let period) = temporal.representation, period > 0, period % 3_600_000 == 0 else {
                        throw NGSIProblem(
                            .forbidden,
                            "\(grant.owner) shares \(grant.type) with \(tenant) as hourly aggregates only: "
                                + "ask with options=aggregatedValues and aggrPeriodDuration of whole hours (PT1H)"
                        )
                    }
                }
                found = entity
                tenant = grant.owner
            }
            if found == nil {
                // A deleted entity's history stays (until retention): answered from its series.
                let series = try await stored { () async throws(StorageError) in try await store.series(tenant: tenant, entity: id) }
                if let type = series.first?.entityType, let past = try? EntityID(uri: id.rawValue, type: type, tenant: tenant) {
                    found = try? NGSIEntity(id: past)
                }
            }
            guard let entity = found else {
                throw NGSIProblem(.resourceNotFound, "entity \(id) was not found for tenant \(tenant)")
            }
            entities = [entity]
        } else {
            guard query["type"] != nil || query["id"] != nil || query["attrs"] != nil else {
                throw NGSIProblem(.badRequestData, "too broad: give at least one of type, id or attrs")
            }
            let (types, ids) = try Self.typesAndIDs(query, tenant: tenant)
            let (limit, offset) = try page(query)
            let all = try await stored { () async throws(StorageError) in try await store.entities(tenant: tenant, types: types, ids: ids) }
            total = all.count
            entities = Array(all.dropFirst(offset).prefix(limit))
            if query["count"] == "true" { headers[Self.countHeader] = String(total) }
        }

        let engine = TemporalEngine(store: store, maxInstances: configuration.limits.maxTemporalInstances)
        var results = [JSONValue]()
        var cut: (first: Timestamp, last: Timestamp)?
        for entity in entities {
            var members: [String: JSONValue] = ["id": .string(entity.id.rawValue), "type": .string(entity.type)]
            if entity.id.tenant != tenant || entity.attributes[ShareGrant.sharedByAttribute] != nil {
                members[ShareGrant.sharedByAttribute] = ["type": "Property", "value": .string(entity.id.tenant.name)]
            }
            if jsonLD { members["@context"] = .array(Self.contexts(for: entity.type).map { .string($0) }) }
            let series = try await stored { () async throws(StorageError) in try await store.series(tenant: tenant, entity: entity.id) }
            // Each instance of a multi-attribute has its own series: gathered under the attribute below.
            var byDataset = [String: [(datasetId: String?, json: JSONValue)]]()
            for info in series where temporal.attributes?.contains(NGSIEntity.splitName(info.attribute).attribute) ?? true {
                switch temporal.representation {
                case .aggregated(let methods, let period):
                    let periods = try await stored { () async throws(StorageError) in
                        try await engine.periods(tenant: tenant, entity: entity.id, series: info, period: period, request: temporal)
                    }
                    let (base, dataset) = NGSIEntity.splitName(info.attribute)
                    byDataset[base, default: []].append((dataset, Self.aggregatedJSON(periods, methods: methods, numeric: info.numeric)))
                case .normalized, .temporalValues:
                    let (values, truncated) = try await stored { () async throws(StorageError) in
                        try await engine.instances(tenant: tenant, entity: entity.id, attribute: info.attribute, request: temporal)
                    }
                    if truncated, let first = values.first, let last = values.last { cut = (first.observedAt, last.observedAt) }
                    let (base, dataset) = NGSIEntity.splitName(info.attribute)
                    byDataset[base, default: []].append(
                        (
                            dataset,
                            temporal.representation == .temporalValues
                                ? [
                                    "type": "Property",
                                    "values": .array(values.map { .array([$0.value.plainJSON, .string($0.observedAt.iso8601)]) }),
                                ]
                                : .array(values.map { Self.instanceJSON($0, unit: info.unitCode) })
                        )
                    )
                }
            }
            for (base, list) in byDataset { members[base] = Self.gathered(list) }
            results.append(.object(members))
        }
        if let cut {
            headers[Self.contentRange] = "date-time \(cut.first.iso8601)-\(cut.last.iso8601)/*"
            // One entity asked by id is answered as the entity, as without the cut.
            return Self.json(text == nil ? .array(results) : results[0], status: .partialContent, jsonLD: jsonLD, extra: headers)
        }
        return Self.json(text == nil ? .array(results) : results[0], jsonLD: jsonLD, extra: headers)
    }

    static func instanceJSON(_ value: StoredValue, unit: MeasurementUnit?) -> JSONValue {
        var members: [String: JSONValue] = [
            "type": "Property", "value": value.value.plainJSON, "observedAt": .string(value.observedAt.iso8601),
            "instanceId": .string(instanceID(value.observedAt)),
        ]
        if let unit, case .number = value.value { members["unitCode"] = .string(unit.code) }
        return .object(members)
    }

    /// One attribute's temporal JSON from its instances' (one per datasetId): as it is for a
    /// lone default instance; else each instance's items (or its object) marked with its datasetId,
    /// in one array.
    static func gathered(_ list: [(datasetId: String?, json: JSONValue)]) -> JSONValue {
        if list.count == 1, list[0].datasetId == nil { return list[0].json }
        var items = [JSONValue]()
        for (dataset, json) in list.sorted(by: { ($0.datasetId ?? "") < ($1.datasetId ?? "") }) {
            func marked(_ item: JSONValue) -> JSONValue {
                guard let dataset, case .object(var fields) = item else { return item }
                fields["datasetId"] = .string(dataset)
                return .object(fields)
            }
            if case .array(let instances) = json { items += instances.map(marked) } else { items.append(marked(json)) }
        }
        return .array(items)
    }

    static func aggregatedJSON(_ periods: [TemporalEngine.Period], methods: [TemporalRequest.AggregationMethod], numeric: Bool) -> JSONValue {
        var members: [String: JSONValue] = ["type": "Property"]
        for method in methods {
            if !numeric && method != .totalCount { continue }
            members[method.rawValue] = .array(
                periods.map { period in
                    let a = period.aggregate
                    let value: Double
                    switch method {
                    case .totalCount: value = Double(a.count)
                    case .sum: value = a.sum
                    case .avg: value = a.sum / Double(a.count)
                    case .min: value = a.min
                    case .max: value = a.max
                    }
                    return .array([.number(value), .string(period.start.iso8601), .string(period.end.iso8601)])
                }
            )
        }
        return .object(members)
    }
}
