/// Reads btsnoop captures as their bytes arrive (from a named pipe a simulator writes into): feed
/// any chunks, get back the records they completed. A new file header where a record would start
/// begins the next capture (a record header can never start with the `btsnoop\0` magic: its length
/// would be over 1.6 GB), so captures written one after another are read as such.
public struct BTSnoopStream: Sendable {
    /// What feeding produced.
    public enum Item: Sendable, Hashable {
        /// A new capture began (its header was read).
        case captureStarted(BTSnoopReader.Datalink)
        case record(BTSnoopRecord)
    }

    private var buffer: [UInt8] = []
    private var datalink: BTSnoopReader.Datalink?
    private var index = 0
    private var consumed = 0
    private static let magic = Array("btsnoop\0".utf8)

    public init() {}

    /// Whether a capture's header has been read.
    public var inCapture: Bool { datalink != nil }

    /// Adds `bytes` and returns what they completed. A corrupt header or record throws; the stream
    /// then waits for the next capture header.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(BLEParseError) -> [Item] {
        buffer.append(contentsOf: bytes)
        var items = [Item]()
        defer { compact() }
        while true {
            let available = buffer.count - consumed
            if datalink == nil || (available >= 8 && buffer[consumed..<consumed + 8].elementsEqual(Self.magic)) {
                guard available >= 16 else { return items }
                var reader = ByteReader(Array(buffer[consumed..<consumed + 16]))
                do {
                    datalink = try BTSnoopReader.readHeader(&reader)
                } catch {
                    resynchronize()
                    throw error
                }
                consumed += 16
                index = 0
                items.append(.captureStarted(datalink!))
                continue
            }
            guard available >= 24, let link = datalink else { return items }
            let fields = buffer[consumed..<consumed + 24]
            let length: Int
            do {
                length = try BTSnoopReader.includedLength(fields, index: index, offset: consumed)
            } catch {
                resynchronize()
                throw error
            }
            guard available >= 24 + length else { return items }
            do {
                let record = try BTSnoopReader.record(
                    fields,
                    buffer[consumed + 24..<consumed + 24 + length],
                    index: index,
                    offset: consumed,
                    datalink: link
                )
                items.append(.record(record))
            } catch {
                consumed += 24 + length
                index += 1
                throw error
            }
            consumed += 24 + length
            index += 1
        }
    }

    /// After corrupt bytes: drop everything up to the next capture header (or keep the last 7 bytes,
    /// which may be the start of one).
    private mutating func resynchronize() {
        datalink = nil
        var search = consumed + 1
        while search + 8 <= buffer.count {
            if buffer[search..<search + 8].elementsEqual(Self.magic) { consumed = search; return }
            search += 1
        }
        consumed = max(consumed + 1, buffer.count - 7)
    }

    private mutating func compact() {
        if consumed > 0 && consumed >= buffer.count / 2 {
            buffer.removeFirst(consumed)
            consumed = 0
        }
    }
}
