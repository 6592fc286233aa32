// SL 651 test helpers written from the standard's tables, not from our encoder: hex, CRC, and an uplink decoder.
import Foundation
@testable import VillageGateway

/// "7E7E 05 ..." → bytes; spaces are ignored so frames can be written field by field.
func sl651Bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd hex: \(hex)")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

func sl651Hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined()
}

/// CRC-16/MODBUS bit by bit, as published: init FFFF, reflected polynomial A001, no final XOR.
func sl651ReferenceCRC(_ bytes: [UInt8]) -> UInt16 {
    var crc: UInt16 = 0xFFFF
    for byte in bytes {
        crc ^= UInt16(byte)
        for _ in 0..<8 { crc = (crc & 1) == 1 ? (crc >> 1) ^ 0xA001 : crc >> 1 }
    }
    return crc
}

/// Appends the reference CRC, high byte first as SL 651 sends it.
func sl651WithCRC(_ bytes: [UInt8]) -> [UInt8] {
    let crc = sl651ReferenceCRC(bytes)
    return bytes + [UInt8(crc >> 8), UInt8(crc & 0xFF)]
}

/// A downlink frame built by hand: station address before centre address, direction 1000.
func sl651Downlink(station: String = "0011223344", centre: String = "05", password: String = "03E8",
                   function: String, body: String, end: String) -> [UInt8] {
    let bodyBytes = sl651Bytes(body)
    let lengthField = 0x8000 | bodyBytes.count
    let header = sl651Bytes("7E7E" + station + centre + password + function) + [UInt8(lengthField >> 8), UInt8(lengthField & 0xFF), 0x02]
    return sl651WithCRC(header + bodyBytes + sl651Bytes(end))
}

/// What a centre would read out of an uplink frame, decoded from the layout rules alone.
struct SL651DecodedUplink: Equatable {
    var centre: Int
    var station: String
    var password: Int
    var function: Int
    var bodyLength: Int
    var serial: Int
    var sendTime: String
    var stationClass: Int?
    var observationTime: String?
    /// (identifier guide byte, value as text): numbers as decimal text ("-1.234"), ZT as "0x…", F4 as a list.
    var elements: [SL651DecodedElement]
    var end: Int
    /// 45H answers: the version text after the station address.
    var version: String? = nil
}

struct SL651DecodedElement: Equatable {
    /// One byte, or `0xFFxx` for a user-defined identifier.
    var guide: Int
    var value: String
}

enum SL651DecodeFailure: Error, Equatable {
    case malformed(String)
}

/// Decodes an uplink frame by the standard's layout; throws on any rule broken (CRC, length, BCD, direction).
func sl651DecodeUplink(_ frame: [UInt8]) throws -> SL651DecodedUplink {
    func fail(_ why: String) -> SL651DecodeFailure { .malformed(why) }
    guard frame.count >= 17, frame[0] == 0x7E, frame[1] == 0x7E else { throw fail("start") }
    let crcReceived = Int(frame[frame.count - 2]) * 256 + Int(frame[frame.count - 1])
    guard crcReceived == Int(sl651ReferenceCRC(Array(frame.dropLast(2)))) else { throw fail("crc") }
    func bcdDigits(_ bytes: ArraySlice<UInt8>) throws -> String {
        var text = ""
        for byte in bytes {
            guard byte >> 4 <= 9, byte & 0xF <= 9 else { throw fail("bcd \(byte)") }
            text += "\(byte >> 4)\(byte & 0xF)"
        }
        return text
    }
    let lengthWord = Int(frame[11]) * 256 + Int(frame[12])
    guard lengthWord >> 12 == 0 else { throw fail("direction") }
    let bodyLength = lengthWord & 0x0FFF
    guard frame[13] == 0x02 else { throw fail("stx") }
    guard frame.count == 13 + 1 + bodyLength + 1 + 2 else { throw fail("length") }
    let body = Array(frame[14..<(14 + bodyLength)])
    let end = Int(frame[14 + bodyLength])
    guard end == 0x03 || end == 0x17 else { throw fail("end") }
    var decoded = SL651DecodedUplink(
        centre: Int(frame[2]), station: try bcdDigits(frame[3..<8]), password: Int(frame[8]) * 256 + Int(frame[9]),
        function: Int(frame[10]), bodyLength: bodyLength, serial: Int(body[0]) * 256 + Int(body[1]),
        sendTime: try bcdDigits(body[2..<8]), stationClass: nil, observationTime: nil, elements: [], end: end)
    if decoded.function == 0x2F {
        guard bodyLength == 8 else { throw fail("keep-alive body") }
        return decoded
    }
    var at = 8
    guard body.count >= at + 7, body[at] == 0xF1, body[at + 1] == 0xF1 else { throw fail("F1F1") }
    guard try bcdDigits(body[(at + 2)..<(at + 7)]) == decoded.station else { throw fail("body station") }
    at += 7
    // 4AH (set clock) answers end at the station address; 45H (version) adds a length byte and ASCII (table 84).
    if decoded.function == 0x4A {
        guard at == body.count else { throw fail("4A body") }
        return decoded
    }
    if decoded.function == 0x45 {
        guard at < body.count, at + 1 + Int(body[at]) == body.count else { throw fail("45 body") }
        guard let text = String(bytes: body[(at + 1)...], encoding: .ascii) else { throw fail("45 text") }
        decoded.version = text
        return decoded
    }
    guard at < body.count else { throw fail("station class") }
    decoded.stationClass = Int(body[at])
    at += 1
    guard body.count >= at + 7, body[at] == 0xF0, body[at + 1] == 0xF0 else { throw fail("F0F0") }
    decoded.observationTime = try bcdDigits(body[(at + 2)..<(at + 7)])
    at += 7
    var stepSeen = false
    while at < body.count {
        guard at + 2 <= body.count else { throw fail("identifier cut") }
        // F0 F0: another observation time for the elements after it (table 43's note).
        if body[at] == 0xF0 && body[at + 1] == 0xF0 {
            guard at + 7 <= body.count else { throw fail("F0F0 cut") }
            decoded.elements.append(SL651DecodedElement(guide: 0xF0, value: try bcdDigits(body[(at + 2)..<(at + 7)])))
            at += 7
            continue
        }
        var guide = Int(body[at])
        var definitionAt = at + 1
        if guide == 0xFF {
            // User-defined FFxx: the identifier is two bytes, then the definition byte.
            guard at + 3 <= body.count else { throw fail("FFxx cut") }
            guide = 0xFF00 | Int(body[at + 1])
            definitionAt = at + 2
        }
        let definition = Int(body[definitionAt])
        let byteCount = definition >> 3, decimals = definition & 0x07
        let valueStart = definitionAt + 1
        // 38H answers: after the time step code, one identifier and then one value per step to the end.
        let valueEnd = decoded.function == 0x38 && stepSeen ? body.count : valueStart + byteCount
        guard byteCount > 0, valueEnd <= body.count, (valueEnd - valueStart) % byteCount == 0 else { throw fail("value cut") }
        let values = stride(from: valueStart, to: valueEnd, by: byteCount).map { body[$0..<($0 + byteCount)] }
        var texts: [String] = []
        for value in values {
            switch guide {
            case 0x45:
                texts.append("0x" + sl651Hex(Array(value)))
            case 0x04:
                texts.append(try bcdDigits(value))
            case 0xF4:
                texts.append(value.map { $0 == 0xFF ? "-" : String($0) }.joined(separator: ","))
            case 0xF5:
                var levels: [String] = []
                for index in stride(from: value.startIndex, to: value.endIndex, by: 2) {
                    let high = Int(value[index]), low = Int(value[index + 1])
                    levels.append(high == 0xFF && low == 0xFF ? "-" : String(high * 256 + low))
                }
                texts.append(levels.joined(separator: ","))
            default:
                if value.allSatisfy({ $0 == 0xFF }) { texts.append("-"); continue }
                let negative = value.first == 0xFF
                var digits = try bcdDigits(negative ? value.dropFirst() : value)
                while digits.count <= decimals { digits = "0" + digits }
                var integer = String(digits.dropLast(decimals))
                while integer.count > 1 && integer.first == "0" { integer.removeFirst() }
                texts.append((negative ? "-" : "") + integer + (decimals > 0 ? "." + digits.suffix(decimals) : ""))
            }
        }
        if guide == 0x04 { stepSeen = true }
        decoded.elements.append(SL651DecodedElement(guide: guide, value: texts.joined(separator: ";")))
        at = valueEnd
    }
    return decoded
}
