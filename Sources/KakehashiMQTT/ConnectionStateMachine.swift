/// The connection's life as a pure state machine: events in, actions out, no I/O.
///
/// The client's network thread feeds it what happened (a connect call returned, a CONNACK arrived,
/// the connection dropped, a retry timer fired) and performs the actions it returns. Tests drive it
/// directly, without sockets.
///
/// ```
/// idle ─start→ connecting ─connect ok→ awaitingConnack ─accepted→ connected
///   connecting/awaitingConnack ─failure→ waitingToRetry ─timer→ connecting
///   connected ─lost→ waitingToRetry
///   any ─stop→ stopped;  first connection refused for good → stopped(error)
/// ```
public struct ConnectionStateMachine: Sendable {
    /// Where the connection stands.
    public enum State: Sendable, Hashable {
        case idle
        case connecting(attempt: Int)
        case awaitingConnack(attempt: Int)
        case connected
        case waitingToRetry(attempt: Int)
        case stopped(MQTTError?)
    }

    /// What happened.
    public enum Event: Sendable, Hashable {
        case start
        /// The TCP (and TLS) connect call returned; `nil` when it succeeded.
        case connectReturned(MQTTError?)
        /// The broker's CONNACK: `nil` when accepted.
        case connackReceived(refused: MQTTError?)
        /// The connection was lost.
        case connectionLost(MQTTError)
        case retryTimerFired
        case stop
    }

    /// What the network thread must do.
    public enum Action: Sendable, Hashable {
        /// Open the connection (TCP, TLS, CONNECT).
        case connect
        /// Re-establish every subscription (the broker may have lost the session).
        case resubscribe
        /// Wake everyone waiting for a connection.
        case notifyConnected
        /// Wait, then fire `retryTimerFired`.
        case scheduleRetry(after: Duration)
        /// Fail everyone waiting for the first connection, and stop.
        case fail(MQTTError)
        /// Report a transient failure (logged; retries follow).
        case report(MQTTError)
        /// Send DISCONNECT and close.
        case disconnect
    }

    /// The current state.
    public private(set) var state: State = .idle
    /// Whether a connection was ever accepted (failures after that are always retried).
    public private(set) var hasConnected = false
    /// Connections accepted so far.
    public private(set) var connections = 0

    private let backoff: Backoff
    private var generator: any RandomNumberGenerator & Sendable

    /// Creates a machine with its backoff and the random source for jitter (seed it in tests).
    public init(backoff: Backoff, generator: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()) {
        self.backoff = backoff
        self.generator = generator
    }

    /// Applies an event and returns the actions to perform, in order.
    public mutating func handle(_ event: Event) -> [Action] {
        switch (state, event) {
        case (.stopped, _):
            return []
        case (_, .stop):
            let wasConnected = state == .connected
            state = .stopped(nil)
            return wasConnected ? [.disconnect] : []
        case (.idle, .start):
            state = .connecting(attempt: 1)
            return [.connect]
        case (.connecting(let attempt), .connectReturned(nil)):
            state = .awaitingConnack(attempt: attempt)
            return []
        case (.connecting(let attempt), .connectReturned(let error?)):
            return failed(error, attempt: attempt, permanent: error.kind == .tls || error.kind == .invalidArgument)
        case (.awaitingConnack, .connackReceived(nil)):
            state = .connected
            hasConnected = true
            connections += 1
            return [.resubscribe, .notifyConnected]
        case (.awaitingConnack(let attempt), .connackReceived(let refusal?)):
            var permanent = false
            if case .connectionRefused(let why) = refusal.kind { permanent = why.isPermanent }
            return failed(refusal, attempt: attempt, permanent: permanent)
        case (.awaitingConnack(let attempt), .connectionLost(let error)):
            return failed(error, attempt: attempt, permanent: false)
        case (.connected, .connectionLost(let error)):
            state = .waitingToRetry(attempt: 1)
            return [.report(error), .scheduleRetry(after: backoff.delay(attempt: 1, using: &generator))]
        case (.waitingToRetry(let attempt), .retryTimerFired):
            state = .connecting(attempt: attempt + 1)
            return [.connect]
        default:
            // Events that do not apply in this state (a late timer, a duplicate loss) change nothing.
            return []
        }
    }

    /// A failed attempt: before any connection, permanent failures stop the client; otherwise retry.
    private mutating func failed(_ error: MQTTError, attempt: Int, permanent: Bool) -> [Action] {
        if permanent && !hasConnected {
            state = .stopped(error)
            return [.fail(error)]
        }
        state = .waitingToRetry(attempt: attempt)
        return [.report(error), .scheduleRetry(after: backoff.delay(attempt: attempt, using: &generator))]
    }
}
