import KakehashiModel
import Synchronization

/// Arrival times for sensors without a clock (`timestamp: arrival`), strictly increasing per
/// sensor: two messages of one sensor that arrive in the same millisecond get times 1 ms apart, so
/// the hub's exactly-once key (entity, attribute, observedAt) never merges two readings.
///
/// ```swift
/// let clock = ArrivalClock()
/// clock.stamp(sensor: "kurume-01", arrivedAt: now)   // now
/// clock.stamp(sensor: "kurume-01", arrivedAt: now)   // now + 1 ms
/// ```
public final class ArrivalClock: Sendable {
    private let last = Mutex<[String: Int64]>([:])

    public init() {}

    /// The time to give a message of `sensor` that arrived at `arrivedAt`: that time, or 1 ms after
    /// the sensor's previous one when that is not earlier.
    public func stamp(sensor: String, arrivedAt: Timestamp) -> Timestamp {
        last.withLock { last in
            let previous = last[sensor] ?? .min
            let t = max(arrivedAt.millisecondsSinceEpoch, previous &+ 1)
            last[sensor] = t
            return Timestamp(millisecondsSinceEpoch: t)
        }
    }
}
