/// A batch of readings from a gateway's outbox to the hub, published at QoS 1 on
/// `kakehashi/v1/<tenant>/<gateway>/obs`.
///
/// ```json
/// {"v":1,"tenant":"kurume","gateway":"gw-01","entities":[
///   {"seq":41,"entity":{"id":"urn:ngsi-ld:WaterObserved:kurume:3100000017","type":"WaterObserved",
///                       "waterLevel":{"type":"Property","value":1.14,"unitCode":"MTR",
///                                     "observedAt":"2026-06-01T03:07:00.000Z"}, …}}]}
/// ```
///
/// Entities are NGSI-LD normalized fragments without `@context` (the type implies it). Each carries
/// the sequence number the outbox gave the reading when it was committed: strictly increasing per
/// gateway, and so strictly increasing within a batch. Every entity belongs to the batch's tenant.
public struct WireBatch: Sendable, Hashable {
    /// The wire format version this code writes and reads.
    public static let version = 1

    /// One reading in a batch.
    public struct Entry: Sendable, Hashable {
        /// The outbox sequence number (1...2⁵³−1).
        public let sequence: UInt64
        /// The entity fragment.
        public let entity: NGSIEntity
        /// Each attribute's normalized JSON as it was received (read from a payload), so that a
        /// store keeps those bytes instead of writing the attribute again; empty for an entry
        /// built in code. Not part of the entry's identity.
        public let receivedAttributes: [String: [UInt8]]

        /// Creates an entry.
        public init(sequence: UInt64, entity: NGSIEntity, receivedAttributes: [String: [UInt8]] = [:]) {
            self.sequence = sequence
            self.entity = entity
            self.receivedAttributes = receivedAttributes
        }

        public static func == (a: Entry, b: Entry) -> Bool { a.sequence == b.sequence && a.entity == b.entity }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(sequence)
            hasher.combine(entity)
        }
    }

    /// The largest sequence number (JSON numbers are exact up to 2⁵³).
    public static let maxSequence: UInt64 = (1 << 53) - 1

    /// The tenant of the gateway and of every entity.
    public let tenant: Tenant
    /// The gateway that sent the batch.
    public let gateway: GatewayID
    /// The readings, by increasing sequence.
    public let entries: [Entry]

    /// Validates a batch: 1...``ModelLimits/maxBatchEntries`` entries, sequences strictly
    /// increasing in 1...``maxSequence``, every entity of `tenant`.
    public init(tenant: Tenant, gateway: GatewayID, entries: [Entry]) throws(ModelError) {
        guard !entries.isEmpty else { throw ModelError(field: "entities", .invalid("a batch holds at least one entity")) }
        guard entries.count <= ModelLimits.maxBatchEntries else {
            throw ModelError(field: "entities", .invalid("\(entries.count) entities exceed the batch limit of \(ModelLimits.maxBatchEntries)"))
        }
        var previous: UInt64 = 0
        for (i, entry) in entries.enumerated() {
            guard entry.sequence >= 1, entry.sequence <= Self.maxSequence else {
                throw ModelError(field: "entities[\(i)].seq", .outOfRange(value: Double(entry.sequence), range: "1...\(Self.maxSequence)"))
            }
            guard entry.sequence > previous else {
                throw ModelError(
                    field: "entities[\(i)].seq",
                    .invalid("sequence \(entry.sequence) does not follow \(previous): sequences must strictly increase")
                )
            }
            guard entry.entity.id.tenant == tenant else {
                throw ModelError(
                    field: "entities[\(i)].entity.id",
                    .invalid("entity of tenant \(entry.entity.id.tenant) in a batch of tenant \(tenant)")
                )
            }
            previous = entry.sequence
        }
        self.tenant = tenant
        self.gateway = gateway
        self.entries = entries
    }

    /// The topic this batch is published on.
    public var topic: WireTopic { WireTopic(tenant: tenant, gateway: gateway, kind: .observations) }

    /// The batch as JSON.
    public var json: JSONValue {
        var list = [JSONValue]()
        list.reserveCapacity(entries.count)
        for entry in entries {
            var entity = entry.entity
            entity.context = []
            list.append(.object(["seq": .number(Double(entry.sequence)), "entity": entity.json(.normalized)]))
        }
        return .object([
            "v": .number(Double(Self.version)), "tenant": .string(tenant.name), "gateway": .string(gateway.rawValue),
            "entities": .array(list),
        ])
    }

    /// The MQTT payload: compact UTF-8 JSON, written by ``encode(tenant:gateway:entries:)``.
    public func payload() -> [UInt8] {
        Self.encode(
            tenant: tenant,
            gateway: gateway,
            entries: entries.map { entry in
                var entity = entry.entity
                entity.context = []
                return (entry.sequence, entity.json(.normalized).serialized())
            }
        )
    }

    /// The one writer of the wire format: a batch from entity fragments already serialized
    /// (normalized NGSI-LD without `@context`), copied as they are, in the order given. The gateway
    /// sends its outbox rows with it without parsing them again.
    public static func encode(tenant: Tenant, gateway: GatewayID, entries: [(sequence: UInt64, entity: [UInt8])]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(entries.reduce(64) { $0 + $1.entity.count + 24 })
        out.append(contentsOf: #"{"v":"#.utf8)
        out.append(contentsOf: String(version).utf8)
        out.append(contentsOf: #","tenant":"#.utf8)
        JSONValue.string(tenant.name).write(into: &out)
        out.append(contentsOf: #","gateway":"#.utf8)
        JSONValue.string(gateway.rawValue).write(into: &out)
        out.append(contentsOf: #","entities":["#.utf8)
        for (index, entry) in entries.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"seq":"#.utf8)
            out.append(contentsOf: String(entry.sequence).utf8)
            out.append(contentsOf: #","entity":"#.utf8)
            out.append(contentsOf: entry.entity)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// Decodes and validates a payload.
    public init(payload: some Collection<UInt8>) throws(ModelError) {
        try self.init(bytes: payload as? [UInt8] ?? Array(payload))
    }

    private init(bytes: [UInt8]) throws(ModelError) {
        // Entity objects are at depth 4: batch {entities: [ {seq, entity: {…}} ]}.
        let (json, spans) = try JSONParser.parse(bytes, spansOf: (depth: 4, key: "entity"))
        try self.init(
            json: json,
            kept: { i in
                // One span per entry's entity object, in order (an entity that is not an object fails
                // to decode, so entry i's is span i).
                guard i < spans.count else { return [:] }
                var kept = [String: [UInt8]](minimumCapacity: spans[i].count)
                for (name, range) in spans[i] where name != "id" && name != "type" && name != "@context" { kept[name] = Array(bytes[range]) }
                return kept
            }
        )
    }

    /// Decodes and validates a batch from JSON; errors name the field, e.g.
    /// `entities[3].entity.waterLevel.value: must be a finite number`.
    public init(json: JSONValue) throws(ModelError) {
        try self.init(json: json, kept: { _ in [:] })
    }

    /// Decodes `json`; `kept(i)` gives the received bytes of entity `i`'s members.
    private init(json: JSONValue, kept: (Int) -> [String: [UInt8]]) throws(ModelError) {
        guard case .object(let members) = json else {
            throw ModelError(field: "", .wrongType(expected: "a JSON object (a wire batch), not \(json.typeName)"))
        }
        guard let version = members["v"] else { throw ModelError(field: "v", .missing) }
        guard case .number(let number) = version, number == Double(Self.version) else {
            throw ModelError(field: "v", .invalid("unsupported wire version \(version.jsonText) (this hub reads version \(Self.version))"))
        }
        guard case .string(let tenantName)? = members["tenant"] else {
            throw ModelError(field: "tenant", members["tenant"] == nil ? .missing : .wrongType(expected: "a string"))
        }
        guard case .string(let gatewayName)? = members["gateway"] else {
            throw ModelError(field: "gateway", members["gateway"] == nil ? .missing : .wrongType(expected: "a string"))
        }
        guard let list = members["entities"] else { throw ModelError(field: "entities", .missing) }
        guard case .array(let elements) = list else { throw ModelError(field: "entities", .wrongType(expected: "an array")) }
        guard elements.count <= ModelLimits.maxBatchEntries else {
            throw ModelError(field: "entities", .invalid("\(elements.count) entities exceed the batch limit of \(ModelLimits.maxBatchEntries)"))
        }
        var entries = [Entry]()
        entries.reserveCapacity(elements.count)
        for (i, element) in elements.enumerated() {
            let path = "entities[\(i)]"
            guard case .object(let entryMembers) = element else { throw ModelError(field: path, .wrongType(expected: "an object {seq, entity}")) }
            guard let seqValue = entryMembers["seq"] else { throw ModelError(field: path + ".seq", .missing) }
            guard case .number(let seq) = seqValue, seq == seq.rounded(), seq >= 1, seq <= Double(Self.maxSequence) else {
                throw ModelError(field: path + ".seq", .invalid("\(seqValue.jsonText) is not a whole number in 1...\(Self.maxSequence)"))
            }
            guard let entityJSON = entryMembers["entity"] else { throw ModelError(field: path + ".entity", .missing) }
            do {
                let entity = try NGSIEntity(json: entityJSON, form: .normalized)
                entries.append(Entry(sequence: UInt64(seq), entity: entity, receivedAttributes: kept(i)))
            } catch {
                throw error.nested(under: path + ".entity")
            }
        }
        try self.init(tenant: Tenant(tenantName), gateway: GatewayID(gatewayName), entries: entries)
    }
}
