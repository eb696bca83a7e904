import CMosquitto

// libmosquitto calls these on the client's network thread. They are nonisolated top-level
// functions (never main-actor closures) and reach the client through the user-data pointer.

extension ClientCore {
    func installCallbacks(on mosq: OpaquePointer) {
        mosquitto_connect_v5_callback_set(mosq, kakehashiOnConnect)
        mosquitto_publish_v5_callback_set(mosq, kakehashiOnPublish)
        mosquitto_message_v5_callback_set(mosq, kakehashiOnMessage)
        mosquitto_subscribe_v5_callback_set(mosq, kakehashiOnSubscribe)
    }
}

private func core(_ userData: UnsafeMutableRawPointer?) -> ClientCore? {
    guard let userData else { return nil }
    return Unmanaged<ClientCore>.fromOpaque(userData).takeUnretainedValue()
}

private func kakehashiOnConnect(
    _ mosq: OpaquePointer?,
    _ userData: UnsafeMutableRawPointer?,
    _ rc: Int32,
    _ flags: Int32,
    _ properties: OpaquePointer?
) {
    core(userData)?.handleConnack(rc)
}

private func kakehashiOnPublish(
    _ mosq: OpaquePointer?,
    _ userData: UnsafeMutableRawPointer?,
    _ mid: Int32,
    _ reasonCode: Int32,
    _ properties: OpaquePointer?
) {
    core(userData)?.handlePublishAck(mid: mid, reasonCode: reasonCode)
}

private func kakehashiOnSubscribe(
    _ mosq: OpaquePointer?,
    _ userData: UnsafeMutableRawPointer?,
    _ mid: Int32,
    _ count: Int32,
    _ granted: UnsafePointer<Int32>?,
    _ properties: OpaquePointer?
) {
    let grantedQoS = granted.map { Array(UnsafeBufferPointer(start: $0, count: Int(max(0, count)))) } ?? []
    core(userData)?.handleSuback(mid: mid, grantedQoS: grantedQoS)
}

private func kakehashiOnMessage(
    _ mosq: OpaquePointer?,
    _ userData: UnsafeMutableRawPointer?,
    _ message: UnsafePointer<mosquitto_message>?,
    _ properties: OpaquePointer?
) {
    guard let core = core(userData), let message, let topicPointer = message.pointee.topic else { return }
    let length = Int(max(0, message.pointee.payloadlen))
    let payload: [UInt8] =
        length > 0 && message.pointee.payload != nil
        ? Array(UnsafeRawBufferPointer(start: message.pointee.payload, count: length)) : []
    core.handleMessage(
        MQTTMessage(
            topic: String(cString: topicPointer),
            payload: payload,
            qos: MQTTQoS(rawValue: message.pointee.qos) ?? .atMostOnce,
            retain: message.pointee.retain,
            properties: MQTTPropertyList.read(properties)
        )
    )
}
