import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel

extension HubAPI {
    /// `GET /healthz`: 200 when storage answers and (if configured) the broker is connected.
    func health() async -> Response {
        var members: [String: JSONValue] = [:]
        var healthy = true
        do {
            try await store.check()
            members["storage"] = "ok"
        } catch {
            healthy = false
            members["storage"] = .string("failing: \(error)")
        }
        if let failing = ingestor.health.failing {
            // Reads may work while writes fail (a full disk): what ingest sees decides.
            healthy = false
            members["storage"] = .string(
                "failing since \(failing.since.iso8601): \(failing.reason) (\(failing.attempts) attempts; batches are held unacknowledged, "
                    + "the broker keeps them)"
            )
        }
        if let ingest {
            let connected = ingest.isConnected
            members["broker"] = .string(connected ? "connected" : "disconnected")
            members["brokerAddress"] = .string(ingest.broker)
            healthy = healthy && connected
        } else {
            members["broker"] = "not configured"
        }
        if !federation.isEmpty {
            // A peer being away does not make this hub unhealthy; it is reported.
            members["federation"] = .object(
                Dictionary(
                    uniqueKeysWithValues: federation.map { link in
                        let status = link.status
                        return (
                            link.configuration.name,
                            JSONValue.object([
                                "lastSuccess": status.lastSuccess.map { .string($0.iso8601) } ?? .null,
                                "lastError": status.lastError.map { .string($0) } ?? .null,
                                "mirrored": .number(Double(status.mirrored)),
                            ])
                        )
                    }
                )
            )
        }
        members["status"] = .string(healthy ? "ok" : "failing")
        return Self.json(.object(members), status: healthy ? .ok : .serviceUnavailable, jsonLD: false)
    }

    /// `GET /metrics`: Prometheus text.
    func metrics() -> Response {
        if let ingest { registry.factory.makeMeter(label: "kakehashi_hub_broker_connected", dimensions: []).set(Int64(ingest.isConnected ? 1 : 0)) }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: registry.render())))
    }
}
