// Cuts the centre's TCP byte stream into SL 651 downlink frames, in a buffer of bounded size, skipping garbage.

/// TCP delivers bytes, not frames: a frame may arrive in pieces, several may arrive at once, and a
/// modem may add noise. This holds at most one longest frame and resynchronises on the next `7E 7E`.
package struct SL651DownlinkReassembler: Sendable {
    package enum Event: Sendable, Equatable {
        case frame(SL651DownlinkFrame)
        /// Something that began like a frame and was not one: its first byte (or, when a later good frame
        /// shows it was cut short, everything before that frame) is dropped and the search goes on.
        case rejected(SL651FrameError)
    }

    package let station: SL651StationAddress
    /// Longest body we accept; commands from the centre are short, so a box may lower this to save memory.
    package let bodyBytesMax: Int
    /// The buffer never holds more than one frame of the longest accepted body.
    package var bufferBytesMax: Int { SL651.frameOverheadBytes + bodyBytesMax }

    private var buffer: [UInt8] = []
    package var bufferedBytes: Int { buffer.count }
    /// Counters for the status page: bytes thrown away while looking for a frame start, frames refused, frames taken.
    package private(set) var discardedBytes = 0
    package private(set) var rejectedFrames = 0
    package private(set) var acceptedFrames = 0

    package init(station: SL651StationAddress, bodyBytesMax: Int = SL651.bodyBytesMax) {
        precondition((1...SL651.bodyBytesMax).contains(bodyBytesMax), "bodyBytesMax must be 1-\(SL651.bodyBytesMax)")
        self.station = station
        self.bodyBytesMax = bodyBytesMax
        buffer.reserveCapacity(SL651.frameOverheadBytes + bodyBytesMax)
    }

    /// Feeds bytes as they arrive and returns what they completed, in order. Every event consumes at
    /// least one byte, so the events grow with the read size the caller chose; the buffer does not.
    package mutating func append<Bytes: Collection>(_ bytes: Bytes) -> [Event] where Bytes.Element == UInt8 {
        var events: [Event] = []
        var index = bytes.startIndex
        while index != bytes.endIndex {
            // Take only what fits, then drain: after a drain the buffer is always below its bound.
            let room = bufferBytesMax - buffer.count
            let end = bytes.index(index, offsetBy: room, limitedBy: bytes.endIndex) ?? bytes.endIndex
            buffer.append(contentsOf: bytes[index..<end])
            index = end
            drain(into: &events)
            assert(buffer.count < bufferBytesMax, "reassembler buffer exceeded its bound")
        }
        return events
    }

    /// Drops everything buffered, e.g. when the TCP connection closes: a half frame never joins the next connection's bytes.
    package mutating func reset() {
        discardedBytes += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    private mutating func drain(into events: inout [Event]) {
        while true {
            resynchronise()
            // Refuse an impossible header at once rather than wait for up to 4 KiB that will never make a frame.
            if let refusal = headerRefusal(at: 0) {
                reject(refusal, dropping: 1, into: &events)
                continue
            }
            guard let (_, bodyBytes) = SL651DownlinkParser.directionAndLength(buffer) else { return }
            let frameBytes = SL651.frameOverheadBytes + bodyBytes
            guard buffer.count >= frameBytes else {
                // A length byte damaged on the line would make us wait for bytes that are really the next
                // frames, holding back the centre's answers; a complete good frame further on proves the
                // one at the front was cut short, so it is dropped. (The price: a frame whose body holds a
                // whole valid frame for this station would be split; centres do not send such bodies.)
                if let laterStart = laterCompleteFrameStart() {
                    reject(.truncated(neededBytes: frameBytes, receivedBytes: laterStart), dropping: laterStart, into: &events)
                    continue
                }
                return
            }
            do {
                let frame = try SL651DownlinkParser.parse(Array(buffer[0..<frameBytes]), station: station, bodyBytesMax: bodyBytesMax)
                buffer.removeFirst(frameBytes)
                acceptedFrames += 1
                events.append(.frame(frame))
            } catch {
                // It may be noise that happened to hold 7E 7E, with a real frame starting inside it.
                reject(error, dropping: 1, into: &events)
            }
        }
    }

    /// Why the header starting at `offset` cannot begin a frame for this station, judged on the bytes
    /// already here; nil when it may (or when too few bytes have arrived to tell).
    private func headerRefusal(at offset: Int) -> SL651FrameError? {
        let available = buffer.count - offset
        // Downlink frames put the station address first: noise almost never repeats our 5 BCD bytes.
        if available >= 7 {
            let addressBytes = buffer[(offset + 2)..<(offset + 7)]
            guard let found = SL651StationAddress(wireBytes: addressBytes) else { return .badStationAddress(found: Array(addressBytes)) }
            guard found == station else { return .wrongStation(expected: station, found: found) }
        }
        if let (direction, bodyBytes) = SL651DownlinkParser.directionAndLength(buffer[offset...]) {
            guard direction == SL651.directionDownlink else { return .notDownlink(directionNibble: direction) }
            guard (0...bodyBytesMax).contains(bodyBytes) else { return .badLength(declaredBytes: bodyBytes, allowedBytesMax: bodyBytesMax) }
        }
        if available > SL651.headerBytes, buffer[offset + SL651.headerBytes] != SL651.startOfText {
            return .missingStartOfText(found: buffer[offset + SL651.headerBytes])
        }
        return nil
    }

    /// The offset of the first complete, CRC-good frame for this station after the front one, if any.
    private func laterCompleteFrameStart() -> Int? {
        var offset = 1
        while offset + SL651.headerBytes <= buffer.count {
            defer { offset += 1 }
            guard buffer[offset] == SL651.startByte, buffer[offset + 1] == SL651.startByte, headerRefusal(at: offset) == nil,
                  let (_, bodyBytes) = SL651DownlinkParser.directionAndLength(buffer[offset...])
            else { continue }
            let frameBytes = SL651.frameOverheadBytes + bodyBytes
            guard offset + frameBytes <= buffer.count else { continue }
            if (try? SL651DownlinkParser.parse(Array(buffer[offset..<(offset + frameBytes)]), station: station, bodyBytesMax: bodyBytesMax)) != nil {
                return offset
            }
        }
        return nil
    }

    private mutating func reject(_ error: SL651FrameError, dropping count: Int, into events: inout [Event]) {
        rejectedFrames += 1
        discardedBytes += count
        buffer.removeFirst(count)
        events.append(.rejected(error))
    }

    /// Drops bytes before the first `7E 7E`; keeps a trailing lone `7E`, which may be half of the next start.
    private mutating func resynchronise() {
        guard !buffer.isEmpty else { return }
        var start = 0
        while start < buffer.count {
            if buffer[start] == SL651.startByte && (start + 1 == buffer.count || buffer[start + 1] == SL651.startByte) { break }
            start += 1
        }
        if start > 0 {
            discardedBytes += start
            buffer.removeFirst(start)
        }
    }
}
