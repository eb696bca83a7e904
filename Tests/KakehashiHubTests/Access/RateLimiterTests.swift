import KakehashiHubSQLite
import Testing

@testable import KakehashiHub
@testable import KakehashiHubCore

/// The per-key token bucket on given instants (no clock involved).
struct RateLimiterTests {
    @Test func burstThenRateThenRetryAfter() {
        let limiter = RateLimiter(rate: 2, burst: 5)
        let t0 = ContinuousClock.now
        for _ in 0..<5 { #expect(limiter.take("a", now: t0) == .allowed) }
        #expect(limiter.take("a", now: t0) == .limited(retryAfter: 1))
        #expect(limiter.take("b", now: t0) == .allowed, "each key has its own bucket")
        // Half a second refills one request at two a second; a second refills two.
        #expect(limiter.take("a", now: t0 + .milliseconds(500)) == .allowed)
        #expect(limiter.take("a", now: t0 + .milliseconds(500)) == .limited(retryAfter: 1))
        #expect(limiter.take("a", now: t0 + .milliseconds(1500)) == .allowed)
        #expect(limiter.take("a", now: t0 + .milliseconds(1500)) == .allowed)
        #expect(limiter.take("a", now: t0 + .milliseconds(1500)) == .limited(retryAfter: 1))
        // Never more than the burst, however long the wait.
        for _ in 0..<5 { #expect(limiter.take("a", now: t0 + .seconds(3600)) == .allowed) }
        #expect(limiter.take("a", now: t0 + .seconds(3600)) != .allowed)
    }

    @Test func aSlowRateAsksForALongerWait() {
        let limiter = RateLimiter(rate: 1, burst: 1)
        let t0 = ContinuousClock.now
        #expect(limiter.take("k", now: t0) == .allowed)
        #expect(limiter.take("k", now: t0) == .limited(retryAfter: 1))
        #expect(RateLimiter(rate: 0, burst: 1).take("k", now: t0) == .allowed, "0 is unlimited")
    }

    @Test func feedSlotsAreBoundedPerKey() {
        let slots = FeedSlots(limit: 2)
        #expect(slots.take("a") && slots.take("a") && !slots.take("a"))
        #expect(slots.take("b"))
        slots.release("a")
        #expect(slots.take("a"))
    }
}
