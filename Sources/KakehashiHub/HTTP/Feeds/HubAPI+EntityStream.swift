import Foundation
import HTTPTypes
import Hummingbird
import KakehashiHubCore
import KakehashiModel
import ServiceLifecycle

extension HubAPI {
    /// `GET /feeds/entities?type=A,B`: Server-Sent Events, one `entities` event per stored batch
    /// of the caller's tenant (its entities of those types, normalized NGSI-LD, as stored). Live
    /// only, without ids: a client catches up through the temporal API, whose answers the
    /// exactly-once key makes safe to repeat (what a federation link does). Ends when the key is
    /// revoked, within a second.
    func entityStream(_ request: Request) async throws(NGSIProblem) -> Response {
        let query = try QueryString(request.uri.query)
        try query.allow(["tenant", "type"])
        let tenant = try feedTenant(request, query)
        let types = query["type"].map { Set($0.split(separator: ",").map(String.init)) }
        let principal = AccessContext.principal
        try takeFeedSlot(principal, "feeds")
        let live = alerts.entityFeed.subscribe(tenant: tenant)
        let slots = feedSlots, usable = keyStillUsable(principal)
        let body = ResponseBody { writer in
            defer { if let principal { slots.release(principal.keyID) } }
            try await writer.write(ByteBuffer(string: "retry: 2000\n: kakehashi entities of \(tenant.name)\n\n"))
            // Batches, and a tick every second (nil) to check the key and send a keepalive every 15.
            let (items, sink) = AsyncStream<[NGSIEntity]?>.makeStream(bufferingPolicy: .bufferingOldest(1000))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await batch in live { if case .dropped = sink.yield(batch) { break } }
                    sink.finish()
                }
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(1))
                        sink.yield(nil)
                    }
                }
                defer { group.cancelAll() }
                var ticks = 0
                // The server waits for open responses when it shuts down: end the stream then.
                try await withGracefulShutdownHandler {
                    for await item in items {
                        guard let batch = item else {
                            guard usable() else { return }
                            ticks += 1
                            if ticks % 15 == 0 { try await writer.write(ByteBuffer(string: ": keepalive\n\n")) }
                            continue
                        }
                        let shown = batch.filter { types?.contains($0.type) ?? true }
                        guard !shown.isEmpty else { continue }
                        var buffer = ByteBuffer(string: "event: entities\ndata: ")
                        buffer.writeBytes(JSONValue.array(shown.map { $0.json(.normalized) }).serialized())
                        buffer.writeString("\n\n")
                        try await writer.write(buffer)
                    }
                } onGracefulShutdown: {
                    sink.finish()
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: Self.eventStreamHeaders, body: body)
    }
}
