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

/// Closes a connection whose first request head is not complete within `timeout` (a client
/// that sends half a head and falls silent). Hummingbird's own idle timeout watches every later
/// request, but joins the pipeline only once a head was read. Sits first in the pipeline, on the
/// raw bytes, and leaves once the head's blank line went by.
///
/// It also answers a first request line longer than ``maxRequestLine`` with `414 URI Too Long`
/// (the decoder would count it in the 80 KiB of the head and answer 431).
final class FirstHeadTimeout: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The longest request line (method, URL, version) the hub reads.
    static let maxRequestLine = 16 * 1024

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// The last bytes seen, to find `\r\n\r\n` across reads.
    private var tail: [UInt8] = []
    /// Bytes of the first line seen so far, until its end is found (nil after).
    private var lineLength: Int? = 0

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let length = lineLength {
            if let end = buffer.readableBytesView.firstIndex(of: 10) {
                lineLength = nil
                if length + (end - buffer.readerIndex) > Self.maxRequestLine { return uriTooLong(context) }
            } else {
                lineLength = length + buffer.readableBytes
                if lineLength! > Self.maxRequestLine { return uriTooLong(context) }
            }
        }
        if timer != nil {
            let bytes = tail + (buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [])
            if bytes.count >= 4,
                (0...(bytes.count - 4)).contains(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 })
            {
                timer?.cancel()
                timer = nil
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            tail = Array(bytes.suffix(3))
        }
        context.fireChannelRead(data)
    }
}

extension FirstHeadTimeout {
    /// Answers 414 (ProblemDetails) and closes the connection.
    func uriTooLong(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        lineLength = nil
        let problem = NGSIProblem(
            .invalidRequest,
            "the request line is longer than this hub's limit of \(Self.maxRequestLine / 1024) KiB",
            status: .uriTooLong
        )
        let body = problem.json.serialized()
        var buffer = context.channel.allocator.buffer(capacity: body.count + 160)
        buffer.writeString(
            "HTTP/1.1 414 URI Too Long\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        )
        buffer.writeBytes(body)
        let channel = context.channel
        // Written below the HTTP encoder (this handler is first in the pipeline): raw bytes.
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// A server child channel with a ``FirstHeadTimeout`` first in its pipeline and a
/// ``RequestHeadGuard`` at its end.
struct GuardedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    /// How long the first request head may take.
    let headTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(FirstHeadTimeout(timeout: headTimeout), position: .first)
            if let decoder = try? channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                try channel.pipeline.syncOperations.addHandler(IncompleteRequestTimeout(timeout: headTimeout), position: .after(decoder))
            }
            try channel.pipeline.syncOperations.addHandler(RequestHeadGuard())
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Closes a connection whose request stops arriving half-way (a head read, its body not ended)
/// for `timeout`, whatever the answer did meanwhile: a handler may answer before the body is read
/// (a missing tenant header), and the connection would then wait for the rest forever. Sits right
/// after the HTTP/1 decoder; leaves at a WebSocket upgrade.
final class IncompleteRequestTimeout: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.headers[canonicalForm: "upgrade"].contains(where: { $0.lowercased() == "websocket" }) {
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            arm(context)
        case .body:
            arm(context)
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }
}
