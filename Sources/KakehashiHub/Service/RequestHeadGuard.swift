import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Answers a request head the HTTP/1 decoder refuses with a ProblemDetails and closes the
/// connection, instead of leaving the client waiting forever: a head over the decoder's limits
/// (80 KiB) is `431 Request Header Fields Too Large`, any other malformed head `400`. (With the
/// WebSocket upgrade in front, Hummingbird's own handlers join the pipeline only once a head was
/// read, so nothing else answers these.)
final class RequestHeadGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = HTTPServerResponsePart

    private var answered = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError, !answered else {
            context.fireErrorCaught(error)
            return
        }
        answered = true
        let (status, detail): (HTTPResponseStatus, String) =
            switch parse {
            case .headerOverflow: (.requestHeaderFieldsTooLarge, "the request line and headers exceed this hub's limit of 80 KiB")
            default: (.badRequest, "the request is not valid HTTP/1.1 (\(parse))")
            }
        let problem = NGSIProblem(.invalidRequest, detail, status: .init(code: Int(status.code)))
        let body = problem.json.serialized()
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        let headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(buffer.readableBytes)"), ("Connection", "close")])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// A server child channel with a ``RequestHeadGuard`` at the end of its pipeline.
struct GuardedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(RequestHeadGuard())
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
