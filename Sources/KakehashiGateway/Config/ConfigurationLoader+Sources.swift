import Foundation
import KakehashiBrokerConfig
import KakehashiConfig
import KakehashiMQTT
import KakehashiModel

extension ConfigurationLoader {
    func sources(_ node: ConfigNode, gateway: GatewayID?) -> [SourceConfiguration]? {
        guard let list = node.sequence() else { return nil }
        if list.isEmpty { node.fail("at least one source is needed") }
        var names = Set<String>()
        var sources = [SourceConfiguration]()
        for item in list {
            guard
                let m = item.mapping(
                    allowed: ConfigNode.brokerKeys + [
                        "name", "kind", "topics", "adapter", "passive", "file", "pipe", "speed", "secret", "secret_env", "window", "location",
                        "broker",
                    ]
                )
            else { continue }
            guard let name = item.required(m, "name")?.string, let kind = item.required(m, "kind")?.string else { continue }
            if !names.insert(name).inserted { m["name"]?.fail("another source is named '\(name)'") }
            switch kind {
            case "mqtt":
                if let source = mqttSource(m, node: item, name: name, gateway: gateway) {
                    sources.append(SourceConfiguration(name: name, kind: .mqtt(source)))
                }
            case "ble", "btsnoop":
                if let source = bleSource(m, node: item, replay: kind == "btsnoop") {
                    sources.append(SourceConfiguration(name: name, kind: .ble(source)))
                }
            default:
                m["kind"]?.fail("unknown source kind '\(kind)' (mqtt, ble or btsnoop)")
            }
        }
        return sources
    }

    func mqttSource(_ m: [String: ConfigNode], node: ConfigNode, name: String, gateway: GatewayID?) -> MQTTSourceConfiguration? {
        for key in ["adapter", "passive", "file", "pipe", "speed", "secret", "secret_env", "window", "location"] where m[key] != nil {
            m[key]?.fail("'\(key)' applies to ble and btsnoop sources, not mqtt")
        }
        guard let brokerNode = node.required(m, "broker"), let brokerMembers = brokerNode.mapping(allowed: ConfigNode.brokerKeys),
            var mqtt = brokerNode.broker(
                brokerMembers,
                baseDirectory: baseDirectory,
                defaultClientID: "\(gateway?.rawValue ?? "kakehashi-gateway")-\(name)"
            )
        else { return nil }
        // Persistent session on the edge broker: readings published while the gateway is down wait there.
        mqtt.session = .persistent
        mqtt.overflowPolicy = .suspendNetwork
        // libmosquitto acknowledges a message before the gateway commits it: a small buffer keeps
        // that window (lost if the process is killed) to a few messages.
        mqtt.bufferCapacity = 64
        guard let topicsNode = node.required(m, "topics"), let topics = topicsNode.sequence() else { return nil }
        if topics.isEmpty { topicsNode.fail("at least one topic is needed") }
        let routes = topics.compactMap(route)
        guard routes.count == topics.count else { return nil }
        return MQTTSourceConfiguration(mqtt: mqtt, routes: routes)
    }

    func route(_ node: ConfigNode) -> MQTTSourceConfiguration.Route? {
        guard let m = node.mapping(allowed: ["pattern", "qos", "format", "sensor", "timestamp", "values", "delimiter"]) else { return nil }
        var pattern: TopicPattern?
        if let text = node.required(m, "pattern")?.string {
            do { pattern = try TopicPattern(text) } catch { m["pattern"]?.fail(error.description) }
        }
        var qos = MQTTQoS.atLeastOnce
        if let q = m["qos"]?.int(in: 0...2) { qos = MQTTQoS(rawValue: Int32(q)) ?? .atLeastOnce }
        guard let formatNode = node.required(m, "format"), let formatText = formatNode.string else { return nil }
        guard let format = PayloadDecoder.Format(rawValue: formatText) else {
            formatNode.fail("unknown format '\(formatText)' (json, csv or binary)")
            return nil
        }
        var delimiter: Character = ","
        if let d = m["delimiter"] {
            if format != .csv { d.fail("delimiter applies to csv only") }
            if let text = d.string { if text.count == 1, let c = text.first { delimiter = c } else { d.fail("a delimiter is one character") } }
        }
        // The sensor: a named topic level by default.
        var sensor: PayloadDecoder.SensorSource?
        if let s = m["sensor"] {
            if case .scalar = s.node, let text = s.string, text.hasPrefix("{"), text.hasSuffix("}") {
                let name = String(text.dropFirst().dropLast())
                if let pattern, !pattern.names.contains(name) { s.fail("the pattern \(pattern) has no level {\(name)}") }
                sensor = .topic(name)
            } else if let location = location(s, format: format, allowedExtra: []) {
                sensor = .payload(location.0)
            }
        } else if let pattern {
            if pattern.names.contains("sensor") {
                sensor = .topic("sensor")
            } else {
                node.fail("say where the sensor id is: a {sensor} level in the pattern, or a 'sensor' key")
            }
        }
        var timestamp: PayloadDecoder.TimestampSource?
        if let t = node.required(m, "timestamp") {
            if case .scalar = t.node, t.string == "arrival" {
                timestamp = .arrival
            } else if let (location, extra) = location(t, format: format, allowedExtra: ["format", "assume_offset"]) {
                let formatName = extra["format"]?.string ?? (format == .json ? "iso8601" : "epoch_s")
                do {
                    let timeFormat = try TimestampFormat(name: formatName, assumedOffset: extra["assume_offset"]?.string)
                    if format == .binary, case .iso8601 = timeFormat { t.fail("a binary timestamp is epoch_s or epoch_ms") }
                    timestamp = .field(location, timeFormat)
                } catch {
                    (extra["format"] ?? t).fail(error.description)
                }
            }
        }
        var values = [PayloadDecoder.ValueSpec]()
        if let valuesNode = node.required(m, "values"), let list = valuesNode.sequence() {
            if list.isEmpty { valuesNode.fail("at least one value is needed") }
            for item in list {
                guard
                    let (location, extra) = location(item, format: format, allowedExtra: ["attribute", "unit", "scale", "add", "range", "optional"])
                else { continue }
                guard let attribute = item.required(extra, "attribute")?.string else { continue }
                var unit: MeasurementUnit?
                if let u = extra["unit"], let code = u.string {
                    do { unit = try MeasurementUnit(code: code) } catch {
                        u.fail("unknown unit code '\(code)' (UN/CEFACT: \(MeasurementUnit.allCases.map(\.code).joined(separator: ", ")))")
                    }
                }
                var range = PayloadDecoder.defaultRange
                if let r = extra["range"], let bounds = r.sequence() {
                    let numbers = bounds.compactMap(\.double)
                    if numbers.count == 2, numbers[0] <= numbers[1] { range = numbers[0]...numbers[1] } else { r.fail("range is [lowest, highest]") }
                }
                values.append(
                    PayloadDecoder.ValueSpec(
                        attribute: attribute,
                        location: location,
                        unit: unit,
                        scale: extra["scale"]?.double ?? 1,
                        offset: extra["add"]?.double ?? 0,
                        range: range,
                        optional: extra["optional"]?.bool ?? false
                    )
                )
            }
        }
        guard let pattern, let sensor, let timestamp, !values.isEmpty else { return nil }
        return MQTTSourceConfiguration.Route(
            pattern: pattern,
            qos: qos,
            decoder: PayloadDecoder(format: format, sensor: sensor, timestamp: timestamp, values: values, delimiter: delimiter)
        )
    }

    /// A place in the payload: `field` (json), `column` (csv), or `offset`+`type`+`endian` (binary),
    /// plus the other keys the caller allows.
    func location(_ node: ConfigNode, format: PayloadDecoder.Format, allowedExtra: [String]) -> (PayloadDecoder.Location, [String: ConfigNode])? {
        let placeKeys: [String] =
            switch format {
            case .json: ["field"]
            case .csv: ["column"]
            case .binary: ["offset", "type", "endian"]
            }
        guard let m = node.mapping(allowed: placeKeys + allowedExtra) else { return nil }
        switch format {
        case .json:
            guard let text = node.required(m, "field")?.string else { return nil }
            do { return (.json(try FieldPath(text)), m) } catch { m["field"]?.fail(error.description); return nil }
        case .csv:
            guard let column = node.required(m, "column")?.int(in: 0...1000) else { return nil }
            return (.column(column), m)
        case .binary:
            guard let offset = node.required(m, "offset")?.int(in: 0...65535),
                let typeNode = node.required(m, "type"), let typeText = typeNode.string
            else { return nil }
            guard let kind = BinaryField.Kind(rawValue: typeText) else {
                typeNode.fail("unknown type '\(typeText)' (\(BinaryField.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
                return nil
            }
            var endianness = BinaryField.Endianness.big
            if let e = m["endian"], let text = e.string {
                if let value = BinaryField.Endianness(rawValue: text) { endianness = value } else { e.fail("endian is big or little") }
            }
            return (.binary(BinaryField(offset: offset, kind: kind, endianness: endianness)), m)
        }
    }

    func bleSource(_ m: [String: ConfigNode], node: ConfigNode, replay: Bool) -> BLESourceConfiguration? {
        for key in ["topics", "broker"] + ConfigNode.brokerKeys where m[key] != nil {
            m[key]?.fail("'\(key)' applies to mqtt sources only")
        }
        let input: BLESourceConfiguration.Input
        if replay {
            if m["adapter"] != nil { m["adapter"]?.fail("a btsnoop source replays a file; adapter applies to kind ble") }
            if let pipe = m["pipe"] {
                if m["file"] != nil { node.fail("a btsnoop source reads a file or a pipe, not both") }
                if m["speed"] != nil { m["speed"]?.fail("a pipe is read as it is written (the writer sets the pace); speed applies to file") }
                guard let path = pipe.string else { return nil }
                let resolved = ConfigDocument.resolve(path, against: stateDirectory)
                // The gateway makes the pipe itself (or reuses one that is there).
                if !FileManager.default.fileExists(atPath: resolved) { pipe.checkWritableFile(resolved, what: "the named pipe") }
                input = .pipe(path: resolved)
            } else {
                guard let file = node.required(m, "file")?.string else { return nil }
                let speed = m["speed"]?.double ?? 1
                if speed < 0 { m["speed"]?.fail("speed is 0 (as fast as possible) or more") }
                let resolved = URL(fileURLWithPath: ConfigDocument.resolve(file, against: baseDirectory)).standardizedFileURL.path
                m["file"]?.checkReadableFile(resolved, what: "the capture")
                input = .btsnoop(path: resolved, speed: speed)
            }
        } else {
            if m["file"] != nil || m["speed"] != nil || m["pipe"] != nil { node.fail("file, pipe and speed apply to kind btsnoop") }
            input = .adapter(m["adapter"]?.string, passive: m["passive"]?.bool ?? false)
        }
        guard let secret = ConfigNode.secret(m, "secret", reader: reader, path: node.path) else {
            if m["secret"] == nil && m["secret_env"] == nil {
                reader.report("a pseudonym secret is required (secret_env: NAME)", key: node.child("secret_env"), mark: node.mark)
            }
            return nil
        }
        if secret.utf8.count < 16 { (m["secret"] ?? m["secret_env"])?.fail("the pseudonym secret must be at least 16 bytes") }
        var source = BLESourceConfiguration(input: input, secret: Array(secret.utf8))
        if let window = m["window"]?.duration {
            if window < .seconds(1) { m["window"]?.fail("the window is at least 1s") } else { source.window = window }
        }
        if let node = m["location"], let members = node.mapping(allowed: ["latitude", "longitude"]) {
            if let latitude = node.required(members, "latitude")?.double, let longitude = node.required(members, "longitude")?.double {
                do { source.location = try GeoPoint(latitude: latitude, longitude: longitude) } catch { node.fail(error.description) }
            }
        }
        return source
    }
}
