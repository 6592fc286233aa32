// SL 651-2014 downlink frames from county centre to station: checked, typed, or refused with the reason.
import Checksums

/// Why a downlink frame was refused, in words a county engineer can act on.
package enum SL651FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case badStart(found: [UInt8])
    case truncated(neededBytes: Int, receivedBytes: Int)
    case notDownlink(directionNibble: UInt8)
    case badLength(declaredBytes: Int, allowedBytesMax: Int)
    case lengthMismatch(declaredBodyBytes: Int, frameBytes: Int)
    case missingStartOfText(found: UInt8)
    case badEndCharacter(found: UInt8)
    case badCRC(received: UInt16, computed: UInt16)
    case badStationAddress(found: [UInt8])
    case wrongStation(expected: SL651StationAddress, found: SL651StationAddress)
    case badSendTime(found: [UInt8])

    package var description: String {
        switch self {
        case .badStart(let found):
            "frame does not start with 7E 7E (found \(SL651.hexString(found)))"
        case .truncated(let needed, let received):
            "frame cut short: \(received) bytes received, \(needed) needed"
        case .notDownlink(let nibble):
            "direction bits are \(String(nibble, radix: 2)), not 1000: this is not a frame from the centre"
        case .badLength(let declared, let allowed):
            "declared body length \(declared) bytes is outside 0-\(allowed)"
        case .lengthMismatch(let declared, let frameBytes):
            "declared body length \(declared) bytes does not match a \(frameBytes)-byte frame"
        case .missingStartOfText(let found):
            "expected STX 02 after the header, found \(SL651.hexByte(found))"
        case .badEndCharacter(let found):
            "end character \(SL651.hexByte(found)) is not ENQ 05, ACK 06, EOT 04 or ESC 1B"
        case .badCRC(let received, let computed):
            "CRC check failed: frame says \(SL651.hexString([UInt8(received >> 8), UInt8(received & 0xFF)])), bytes give \(SL651.hexString([UInt8(computed >> 8), UInt8(computed & 0xFF)])) (line noise or a corrupted frame)"
        case .badStationAddress(let found):
            "station address \(SL651.hexString(found)) is not a 10-digit BCD station id"
        case .wrongStation(let expected, let found):
            "frame is for station \(found), this station is \(expected)"
        case .badSendTime(let found):
            "send time \(SL651.hexString(found)) is not a valid BCD date and time"
        }
    }
}

/// A checked frame from the centre.
package struct SL651DownlinkFrame: Sendable, Equatable {
    package let stationAddress: SL651StationAddress
    package let centreAddress: UInt8
    package let password: UInt16
    package let functionCode: SL651FunctionCode
    /// The serial number of the uplink frame this answers (for an acknowledgement), or the centre's
    /// own (for a command); nil when the body is too short to hold one: real centres acknowledge
    /// with an empty body (`7E7E 0011223344 01 0000 33 8000 02 1B F53F`), which answers the one
    /// frame in flight with that function code.
    package let serialNumber: UInt16?
    /// The centre's clock, when the body carries one (answers may; 4AH set clock does).
    package let sendTime: SL651LocalTime?
    /// The body after STX, serial number included, for commands whose contents a later layer reads.
    package let body: [UInt8]
    package let end: SL651DownlinkEnd
}

package enum SL651DownlinkParser {
    /// The declared body length at `frame[11...12]`, or nil while fewer than the header's bytes are known.
    package static func directionAndLength<Bytes: RandomAccessCollection>(_ frame: Bytes) -> (direction: UInt8, bodyBytes: Int)? where Bytes.Element == UInt8, Bytes.Index == Int {
        guard frame.count >= SL651.headerBytes else { return nil }
        let high = frame[frame.startIndex + 11], low = frame[frame.startIndex + 12]
        return (high >> 4, Int(high & 0x0F) << 8 | Int(low))
    }

    /// Checks one complete frame, in the order a receiver meets the fields, and stops at the first fault.
    package static func parse(
        _ frame: [UInt8],
        station expected: SL651StationAddress,
        bodyBytesMax: Int = SL651.bodyBytesMax
    ) throws(SL651FrameError) -> SL651DownlinkFrame {
        guard frame.count >= 2, frame[0] == SL651.startByte, frame[1] == SL651.startByte else {
            throw .badStart(found: Array(frame.prefix(2)))
        }
        guard let (direction, bodyBytes) = directionAndLength(frame) else {
            throw .truncated(neededBytes: SL651.headerBytes, receivedBytes: frame.count)
        }
        guard direction == SL651.directionDownlink else { throw .notDownlink(directionNibble: direction) }
        // 0 is allowed: centres in the field acknowledge with an empty body (no serial, no time).
        guard (0...min(bodyBytesMax, SL651.bodyBytesMax)).contains(bodyBytes) else {
            throw .badLength(declaredBytes: bodyBytes, allowedBytesMax: min(bodyBytesMax, SL651.bodyBytesMax))
        }
        let frameBytes = SL651.frameOverheadBytes + bodyBytes
        guard frame.count >= frameBytes else { throw .truncated(neededBytes: frameBytes, receivedBytes: frame.count) }
        guard frame.count == frameBytes else { throw .lengthMismatch(declaredBodyBytes: bodyBytes, frameBytes: frame.count) }
        // The CRC first: a frame damaged on the line says nothing trustworthy about its other fields.
        let received = UInt16(frame[frameBytes - 2]) << 8 | UInt16(frame[frameBytes - 1])
        let computed = CRC16Modbus.checksum(frame[0..<(frameBytes - 2)])
        guard received == computed else { throw .badCRC(received: received, computed: computed) }
        guard frame[SL651.headerBytes] == SL651.startOfText else { throw .missingStartOfText(found: frame[SL651.headerBytes]) }
        let endByte = frame[frameBytes - 3]
        guard let end = SL651DownlinkEnd(rawValue: endByte) else { throw .badEndCharacter(found: endByte) }
        // Downlink frames put the station address first, then the centre's.
        guard let station = SL651StationAddress(wireBytes: frame[2..<7]) else { throw .badStationAddress(found: Array(frame[2..<7])) }
        guard station == expected else { throw .wrongStation(expected: expected, found: station) }
        let body = Array(frame[(SL651.headerBytes + 1)..<(SL651.headerBytes + 1 + bodyBytes)])
        var sendTime: SL651LocalTime?
        if body.count >= 8 {
            guard let time = SL651LocalTime(sendTimeWireBytes: body[2..<8]) else { throw .badSendTime(found: Array(body[2..<8])) }
            sendTime = time
        }
        return SL651DownlinkFrame(
            stationAddress: station,
            centreAddress: frame[7],
            password: UInt16(frame[8]) << 8 | UInt16(frame[9]),
            functionCode: SL651FunctionCode(rawValue: frame[10]),
            serialNumber: body.count >= 2 ? UInt16(body[0]) << 8 | UInt16(body[1]) : nil,
            sendTime: sendTime,
            body: body,
            end: end
        )
    }
}
