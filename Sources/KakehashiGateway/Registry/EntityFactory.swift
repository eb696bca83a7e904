import KakehashiModel

/// Turns a decoded reading of a registered sensor into complete NGSI-LD entities.
public struct EntityFactory: Sendable {
    public let tenant: Tenant
    public let registry: DeviceRegistry

    public init(tenant: Tenant, registry: DeviceRegistry) {
        self.tenant = tenant
        self.registry = registry
    }

    /// The entities for `reading`; unknown sensors, attributes the entity type lacks, and values the
    /// model refuses are rejections.
    public func entities(for reading: DecodedReading) throws(Rejection) -> (DeviceRecord, [NGSIEntity]) {
        guard let record = registry[reading.sensor] else {
            throw Rejection(.unknownSensor, "sensor '\(reading.sensor.prefix(64))' is not in the device registry")
        }
        if let allowed = record.kind.attributes {
            for value in reading.values where !allowed.contains(value.attribute) {
                throw Rejection(
                    .unsupportedAttribute,
                    "\(record.kind.rawValue) has no attribute '\(value.attribute)' (it has \(allowed.joined(separator: ", ")))"
                )
            }
        }
        do {
            let id = try EntityID(type: record.kind.rawValue, tenant: tenant, localID: record.localID)
            switch record.kind {
            case .waterObserved:
                guard let location = record.location else {
                    throw Rejection(.invalidEntity, "sensor '\(record.sensor)' has no location in the device registry")
                }
                let entity = try WaterObserved(
                    id: id,
                    location: location,
                    dateObserved: reading.observedAt,
                    waterLevel: quantity(reading, "waterLevel", default: .metre),
                    flow: quantity(reading, "flow", default: .cubicMetrePerSecond),
                    name: record.name,
                    thresholds: record.thresholds
                )
                return (record, [entity.ngsiEntity])
            case .crowdFlowObserved:
                var occupancy = number(reading, "occupancy")
                if let value = reading.values.first(where: { $0.attribute == "occupancy" }), value.unit == .percent, let o = occupancy {
                    occupancy = o / 100
                }
                var count: Int?
                if let value = number(reading, "peopleCount") {
                    guard value >= 0, value == value.rounded(), value < 1e9 else {
                        throw Rejection(.outOfRange, "peopleCount \(value) is not a count")
                    }
                    count = Int(value)
                }
                let entity = try CrowdFlowObserved(
                    id: id,
                    location: record.location,
                    dateObservedFrom: reading.observedAt.advanced(byMilliseconds: -record.intervalMilliseconds),
                    dateObservedTo: reading.observedAt,
                    peopleCount: count,
                    occupancy: occupancy,
                    congested: number(reading, "congested").map { $0 != 0 },
                    name: record.name
                )
                return (record, [entity.ngsiEntity])
            case .deviceMeasurement:
                var entities = [NGSIEntity]()
                for value in reading.values {
                    let measurementID = try EntityID(type: record.kind.rawValue, tenant: tenant, localID: "\(record.localID)-\(value.attribute)")
                    let entity = try DeviceMeasurement(
                        id: measurementID,
                        controlledProperty: value.attribute,
                        value: .quantity(Quantity(value.number, value.unit ?? .one, field: value.attribute)),
                        dateObserved: reading.observedAt,
                        location: record.location
                    )
                    entities.append(entity.ngsiEntity)
                }
                return (record, entities)
            }
        } catch let rejection as Rejection {
            throw rejection
        } catch {
            throw Rejection(.invalidEntity, "sensor '\(record.sensor)': \(error)")
        }
    }

    private func number(_ reading: DecodedReading, _ attribute: String) -> Double? {
        reading.values.first { $0.attribute == attribute }?.number
    }

    private func quantity(_ reading: DecodedReading, _ attribute: String, default unit: MeasurementUnit) throws(ModelError) -> Quantity? {
        guard let value = reading.values.first(where: { $0.attribute == attribute }) else { return nil }
        return try Quantity(value.number, value.unit ?? unit, field: attribute)
    }
}
