import CMosquitto

#if canImport(Glibc)
import Glibc
#endif

/// Conversions between ``MQTTMessageProperties`` and libmosquitto property lists.
enum MQTTPropertyList {
    /// Reads the properties Kakehashi knows from a received message; nil when there are none.
    static func read(_ list: OpaquePointer?) -> MQTTMessageProperties? {
        guard let list else { return nil }
        var result = MQTTMessageProperties()
        var text: UnsafeMutablePointer<CChar>?
        if mosquitto_property_read_string(list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), &text, false) != nil, let text {
            result.contentType = String(cString: text)
            free(text)
        }
        text = nil
        if mosquitto_property_read_string(list, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), &text, false) != nil, let text {
            result.responseTopic = String(cString: text)
            free(text)
        }
        var byte: UInt8 = 0
        if mosquitto_property_read_byte(list, Int32(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR.rawValue), &byte, false) != nil {
            result.payloadIsUTF8 = byte == 1
        }
        var expiry: UInt32 = 0
        if mosquitto_property_read_int32(list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), &expiry, false) != nil {
            result.messageExpiryInterval = expiry
        }
        var binary: UnsafeMutableRawPointer?
        var binaryLength: UInt16 = 0
        if mosquitto_property_read_binary(list, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &binary, &binaryLength, false) != nil {
            result.correlationData = binary.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(binaryLength))) } ?? []
            free(binary)
        }
        var cursor: OpaquePointer? = list
        var skipFirst = false
        while true {
            var name: UnsafeMutablePointer<CChar>?
            var value: UnsafeMutablePointer<CChar>?
            guard let found = mosquitto_property_read_string_pair(cursor, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, skipFirst) else {
                break
            }
            if let name, let value { result.userProperties.append((String(cString: name), String(cString: value))) }
            free(name)
            free(value)
            cursor = found
            skipFirst = true
        }
        return result.isEmpty ? nil : result
    }

    /// Builds a property list for a publish; the caller frees it with `mosquitto_property_free_all`.
    static func make(_ properties: MQTTMessageProperties) -> OpaquePointer? {
        var list: OpaquePointer?
        if let contentType = properties.contentType {
            mosquitto_property_add_string(&list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), contentType)
        }
        if let utf8 = properties.payloadIsUTF8 {
            mosquitto_property_add_byte(&list, Int32(MQTT_PROP_PAYLOAD_FORMAT_INDICATOR.rawValue), utf8 ? 1 : 0)
        }
        if let expiry = properties.messageExpiryInterval {
            mosquitto_property_add_int32(&list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), expiry)
        }
        if let topic = properties.responseTopic {
            mosquitto_property_add_string(&list, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), topic)
        }
        if let data = properties.correlationData {
            data.withUnsafeBytes { bytes in
                _ = mosquitto_property_add_binary(&list, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), bytes.baseAddress, UInt16(bytes.count))
            }
        }
        for pair in properties.userProperties {
            mosquitto_property_add_string_pair(&list, Int32(MQTT_PROP_USER_PROPERTY.rawValue), pair.name, pair.value)
        }
        return list
    }
}
