import KakehashiBLE
import KakehashiModel

/// One advertising report as the JSON object `kakehashi-gateway ble decode` prints: `time`,
/// `address` (or its pseudonym), `addressType`, `rssi`, `extended`, `name`, and `beacon` with
/// `kind` and the decoded fields when the report carries one. What was not understood is kept:
/// `serviceData` of a report without a beacon (`beaconProblem` says why none was read), `unknown`
/// AD structures by type and `unreadable` ones with the reason, their bytes in hex (left out when
/// pseudonymizing, as they may identify the device).
public enum AdvertisementJSON {
    /// The JSON object of `advertisement`; identities are pseudonymized when `pseudonymizer` is set.
    public static func object(_ advertisement: DecodedAdvertisement, pseudonymizer: Pseudonymizer?) -> JSONValue {
        let report = advertisement.report
        var members: [String: JSONValue] = [
            "time": .string(advertisement.timestamp.iso8601),
            "address": .string(pseudonymizer?.pseudonym(for: report.address) ?? report.address.description),
            "addressType": .number(Double(report.addressType)),
            "rssi": report.rssi.map { .number(Double($0)) } ?? .null,
            "extended": .bool(report.extended),
        ]
        if let name = advertisement.data.localName { members["name"] = .string(name) }
        if let tx = report.txPower { members["txPower"] = .number(Double(tx)) }
        if let beacon = advertisement.beacon { members["beacon"] = beaconObject(beacon, pseudonymizer: pseudonymizer) }
        let raw = pseudonymizer == nil
        if let problem = advertisement.beaconProblem {
            members["beaconProblem"] = .string(problem.description)
        }
        if advertisement.beacon == nil && !advertisement.data.serviceData.isEmpty {
            members["serviceData"] = .array(
                advertisement.data.serviceData.map { item in
                    var entry: [String: JSONValue] = ["uuid": .string(item.uuid.description), "length": .number(Double(item.data.count))]
                    if raw { entry["data"] = .string(Hex.string(item.data)) }
                    return .object(entry)
                }
            )
        }
        if !advertisement.data.other.isEmpty {
            members["unknown"] = .array(
                advertisement.data.other.map { item in
                    var entry: [String: JSONValue] = ["type": .string("0x" + Hex.byte(item.type)), "length": .number(Double(item.data.count))]
                    if raw { entry["data"] = .string(Hex.string(item.data)) }
                    return .object(entry)
                }
            )
        }
        if !advertisement.data.unreadable.isEmpty {
            members["unreadable"] = .array(
                advertisement.data.unreadable.map { item in
                    var entry: [String: JSONValue] = [
                        "type": item.type.map { .string("0x" + Hex.byte($0)) } ?? .null, "reason": .string(item.reason),
                        "length": .number(Double(item.data.count)),
                    ]
                    if raw { entry["data"] = .string(Hex.string(item.data)) }
                    return .object(entry)
                }
            )
        }
        return .object(members)
    }

    static func beaconObject(_ beacon: Beacon, pseudonymizer: Pseudonymizer?) -> JSONValue {
        var members: [String: JSONValue] = ["kind": .string(beacon.kind)]
        if let pseudonymizer {
            // Identities are replaced by one pseudonym; measurements stay.
            if let id = pseudonymizer.pseudonym(for: beacon) { members["id"] = .string(id) }
        }
        switch beacon {
        case .iBeacon(let uuid, let major, let minor, let power):
            if pseudonymizer == nil {
                members["uuid"] = .string(BluetoothUUID.format128(uuid))
                members["major"] = .number(Double(major))
                members["minor"] = .number(Double(minor))
            }
            members["txPower"] = .number(Double(power))
        case .altBeacon(let manufacturer, let id, let rssi, _):
            if pseudonymizer == nil {
                members["manufacturer"] = .number(Double(manufacturer))
                members["beaconId"] = .string(Hex.string(id))
            }
            members["txPower"] = .number(Double(rssi))
        case .eddystoneUID(let tx, let namespace, let instance):
            if pseudonymizer == nil {
                members["namespace"] = .string(Hex.string(namespace))
                members["instance"] = .string(Hex.string(instance))
            }
            members["txPower"] = .number(Double(tx))
        case .eddystoneURL(let tx, let url):
            members["url"] = .string(url)
            members["txPower"] = .number(Double(tx))
        case .eddystoneTLM(let battery, let temperature, let count, let uptime):
            members["batteryMillivolts"] = battery.map { .number(Double($0)) } ?? .null
            members["temperature"] = temperature.map(JSONValue.number) ?? .null
            members["advertisingCount"] = .number(Double(count))
            members["uptimeSeconds"] = .number(Double(uptime) / 10)
        case .eddystoneEncryptedTLM:
            members["encrypted"] = true
        case .eddystoneEID(let tx, let eid):
            if pseudonymizer == nil { members["eid"] = .string(Hex.string(eid)) }
            members["txPower"] = .number(Double(tx))
        }
        return .object(members)
    }
}
