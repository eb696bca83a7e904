/// A UTC offset as people write it in configuration and on command lines: `+09:00`, `-05:30`, or
/// `Z` (and `+00:00`). The one parser of the project's offsets (the gateway's `assume_offset`, the
/// hub's `alerts.zone_offset`, the simulator's `--zone`).
///
/// ```swift
/// UTCOffset.seconds("+09:00")   // 32400
/// UTCOffset.seconds("9:00")     // nil
/// ```
public enum UTCOffset {
    /// Seconds east of UTC, or nil when `text` is not `Z` or `±HH:MM` with hours up to 14.
    public static func seconds(_ text: String) -> Int? {
        if text == "Z" { return 0 }
        let bytes = Array(text.utf8)
        guard bytes.count == 6, bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-"), bytes[3] == UInt8(ascii: ":"),
            bytes[1...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes[4...5].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return nil }
        let hours = Int(bytes[1] - 0x30) * 10 + Int(bytes[2] - 0x30)
        let minutes = Int(bytes[4] - 0x30) * 10 + Int(bytes[5] - 0x30)
        guard hours <= 14, minutes <= 59 else { return nil }
        let seconds = hours * 3600 + minutes * 60
        return bytes[0] == UInt8(ascii: "-") ? -seconds : seconds
    }
}
