// SL 651-2014 uplink frames from station to county centre: header, report body, end character and CRC.
import Checksums

/// A report's body: who observed what, when. The serial number and send time belong to the frame's sending.
package struct SL651Report: Sendable, Equatable {
    package let stationClass: SL651StationClass
    /// Station local time, to the minute.
    package let observationTime: SL651LocalTime
    package let elements: [SL651Element]

    package init(stationClass: SL651StationClass, observationTime: SL651LocalTime, elements: [SL651Element]) {
        self.stationClass = stationClass
        self.observationTime = observationTime
        self.elements = elements
    }
}

/// Builds uplink frames byte for byte; pure, so a report can be rebuilt identically for a resend.
package enum SL651UplinkEncoder {
    /// A report frame (functions 30, 32, 33, 34, 35): serial · send time · F1F1 station class · F0F0 time · elements.
    package static func report(
        identity: SL651StationIdentity,
        functionCode: SL651FunctionCode,
        serialNumber: UInt16,
        sendTime: SL651LocalTime,
        report: SL651Report,
        end: SL651UplinkEnd = .endOfText
    ) throws(SL651EncodingError) -> [UInt8] {
        guard SL651FunctionCode.reportCodesWithElementBody.contains(functionCode) else {
            throw .functionCodeHasNoElementBody(functionCode)
        }
        guard report.observationTime.second == 0 else {
            throw .observationTimeNotWholeMinute(report.observationTime.description)
        }
        var body = serialAndSendTime(serialNumber: serialNumber, sendTime: sendTime)
        body += [0xF1, 0xF1] + identity.stationAddress.bytes + [report.stationClass.rawValue]
        body += [0xF0, 0xF0] + report.observationTime.observationTimeBytes
        for element in report.elements { body += element.bytes }
        return try frame(identity: identity, functionCode: functionCode, body: body, end: end)
    }

    /// Keep-alive (2F): SL 651-2014 gives it a body of only the serial number and the send time,
    /// sent every 40 s or so while the centre has asked the station to stay online.
    package static func keepAlive(identity: SL651StationIdentity, serialNumber: UInt16, sendTime: SL651LocalTime) -> [UInt8] {
        let body = serialAndSendTime(serialNumber: serialNumber, sendTime: sendTime)
        do {
            return try frame(identity: identity, functionCode: .keepAlive, body: body, end: .endOfText)
        } catch {
            // An 8-byte body always fits the 12-bit length: reaching here is a programming error.
            preconditionFailure("keep-alive frame could not be built: \(error)")
        }
    }

    private static func serialAndSendTime(serialNumber: UInt16, sendTime: SL651LocalTime) -> [UInt8] {
        [UInt8(serialNumber >> 8), UInt8(serialNumber & 0xFF)] + sendTime.sendTimeBytes
    }

    /// Wraps a body: the length counts the bytes after STX up to, not including, the end character.
    package static func frame(identity: SL651StationIdentity, functionCode: SL651FunctionCode, body: [UInt8], end: SL651UplinkEnd) throws(SL651EncodingError) -> [UInt8] {
        guard (1...SL651.bodyBytesMax).contains(body.count) else { throw .bodyTooLong(bytes: body.count) }
        var bytes: [UInt8] = [SL651.startByte, SL651.startByte, identity.centreAddress]
        bytes.reserveCapacity(SL651.frameOverheadBytes + body.count)
        bytes += identity.stationAddress.bytes
        bytes += [UInt8(identity.password >> 8), UInt8(identity.password & 0xFF), functionCode.rawValue]
        let directionAndLength = UInt16(SL651.directionUplink) << 12 | UInt16(body.count)
        bytes += [UInt8(directionAndLength >> 8), UInt8(directionAndLength & 0xFF), SL651.startOfText]
        bytes += body
        bytes.append(end.rawValue)
        // CRC-16/MODBUS, but SL 651 sends it high byte first (Modbus RTU sends low first).
        let crc = CRC16Modbus.checksum(bytes)
        bytes += [UInt8(crc >> 8), UInt8(crc & 0xFF)]
        return bytes
    }
}
