import KakehashiTestSupport
import Testing

@testable import KakehashiMQTT

struct ConnectionStateMachineTests {
    static let broker = "127.0.0.1:1883"
    static let noJitter = Backoff(initial: .milliseconds(100), maximum: .seconds(2), multiplier: 2, jitter: 0)
    static let network = MQTTError(.network, operation: "connect", broker: broker, code: 14, detail: "Connection refused")
    static let badPassword = MQTTError(
        .connectionRefused(.badCredentials),
        operation: "connect",
        broker: broker,
        code: 0x86,
        detail: "Bad user name or password"
    )
    static let tls = MQTTError(.tls, operation: "connect", broker: broker, code: 8, detail: "A TLS error occurred.")
    static let unavailable = MQTTError(
        .connectionRefused(.serverUnavailable),
        operation: "connect",
        broker: broker,
        code: 0x88,
        detail: "Server unavailable"
    )

    func machine(_ backoff: Backoff = noJitter) -> ConnectionStateMachine {
        ConnectionStateMachine(backoff: backoff, generator: SeededGenerator(seed: 42))
    }

    @Test func happyPathConnectsAndResubscribes() {
        var m = machine()
        #expect(m.handle(.start) == [.connect])
        #expect(m.state == .connecting(attempt: 1))
        #expect(m.handle(.connectReturned(nil)) == [])
        #expect(m.state == .awaitingConnack(attempt: 1))
        #expect(m.handle(.connackReceived(refused: nil)) == [.resubscribe, .notifyConnected])
        #expect(m.state == .connected)
        #expect(m.connections == 1)
    }

    @Test func lostConnectionRetriesWithGrowingDelayAndResubscribes() {
        var m = machine()
        _ = m.handle(.start); _ = m.handle(.connectReturned(nil)); _ = m.handle(.connackReceived(refused: nil))
        #expect(m.handle(.connectionLost(Self.network)) == [.report(Self.network), .scheduleRetry(after: .milliseconds(100))])
        #expect(m.handle(.retryTimerFired) == [.connect])
        #expect(m.state == .connecting(attempt: 2))
        // The broker is still down: delays double up to the maximum.
        #expect(m.handle(.connectReturned(Self.network)) == [.report(Self.network), .scheduleRetry(after: .milliseconds(200))])
        _ = m.handle(.retryTimerFired)
        #expect(m.handle(.connectReturned(Self.network)) == [.report(Self.network), .scheduleRetry(after: .milliseconds(400))])
        for _ in 0..<6 { _ = m.handle(.retryTimerFired); _ = m.handle(.connectReturned(Self.network)) }
        _ = m.handle(.retryTimerFired)
        #expect(m.handle(.connectReturned(Self.network)) == [.report(Self.network), .scheduleRetry(after: .seconds(2))])
        // It comes back: subscriptions are renewed.
        _ = m.handle(.retryTimerFired)
        _ = m.handle(.connectReturned(nil))
        #expect(m.handle(.connackReceived(refused: nil)) == [.resubscribe, .notifyConnected])
        #expect(m.connections == 2)
    }

    @Test func permanentRefusalBeforeAnyConnectionStops() {
        var m = machine()
        _ = m.handle(.start); _ = m.handle(.connectReturned(nil))
        #expect(m.handle(.connackReceived(refused: Self.badPassword)) == [.fail(Self.badPassword)])
        #expect(m.state == .stopped(Self.badPassword))
        #expect(m.handle(.retryTimerFired) == [])
        var t = machine()
        _ = t.handle(.start)
        #expect(t.handle(.connectReturned(Self.tls)) == [.fail(Self.tls)])
    }

    @Test func transientFailuresBeforeTheFirstConnectionRetry() {
        var m = machine()
        _ = m.handle(.start)
        #expect(m.handle(.connectReturned(Self.network)) == [.report(Self.network), .scheduleRetry(after: .milliseconds(100))])
        _ = m.handle(.retryTimerFired); _ = m.handle(.connectReturned(nil))
        #expect(m.handle(.connackReceived(refused: Self.unavailable)).last == .scheduleRetry(after: .milliseconds(200)))
    }

    @Test func anyRefusalAfterHavingConnectedRetries() {
        var m = machine()
        _ = m.handle(.start); _ = m.handle(.connectReturned(nil)); _ = m.handle(.connackReceived(refused: nil))
        _ = m.handle(.connectionLost(Self.network)); _ = m.handle(.retryTimerFired); _ = m.handle(.connectReturned(nil))
        // Credentials rotated on the broker: keep trying rather than abandon the data.
        #expect(m.handle(.connackReceived(refused: Self.badPassword)) == [.report(Self.badPassword), .scheduleRetry(after: .milliseconds(200))])
    }

    @Test func stopDisconnectsOnlyWhenConnectedAndIsFinal() {
        var m = machine()
        _ = m.handle(.start); _ = m.handle(.connectReturned(nil)); _ = m.handle(.connackReceived(refused: nil))
        #expect(m.handle(.stop) == [.disconnect])
        #expect(m.state == .stopped(nil))
        #expect(m.handle(.start) == [])
        var w = machine()
        _ = w.handle(.start); _ = w.handle(.connectReturned(Self.network))
        #expect(w.handle(.stop) == [])
        #expect(w.handle(.retryTimerFired) == [])
    }

    @Test func lateEventsChangeNothing() {
        var m = machine()
        _ = m.handle(.start); _ = m.handle(.connectReturned(nil)); _ = m.handle(.connackReceived(refused: nil))
        #expect(m.handle(.retryTimerFired) == [])
        #expect(m.handle(.connackReceived(refused: nil)) == [])
        #expect(m.state == .connected)
    }

    @Test func jitterStaysWithinItsBandAndIsReproducible() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), multiplier: 2, jitter: 0.5)
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        var seen = Set<Duration>()
        for attempt in 1...12 {
            let ceiling = min(30.0, pow2(attempt - 1))
            for _ in 0..<50 {
                let delay = backoff.delay(attempt: attempt, using: &a)
                #expect(delay == backoff.delay(attempt: attempt, using: &b))
                let seconds = Backoff.seconds(delay)
                #expect(seconds >= ceiling * 0.5 - 1e-9 && seconds <= ceiling + 1e-9, "attempt \(attempt): \(seconds)")
                seen.insert(delay)
            }
        }
        #expect(seen.count > 500, "jitter spreads the delays")
    }

    func pow2(_ n: Int) -> Double { (0..<n).reduce(1.0) { value, _ in value * 2 } }
}
