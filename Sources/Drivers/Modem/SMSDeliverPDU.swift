// SMS-DELIVER PDUs (3GPP TS 23.040 §9.2.2.1) as AT+CMGR/+CMGL/+CMT give them in PDU mode: the
// sender and the text, in GSM 7-bit, 8-bit or UCS-2 (the Chinese replies).

public enum SMSDeliverDecoder {
    /// A PDU longer than this is not an SMS (SMSC 12 + header 30 + 140 octets of user data).
    public static let pduOctetsMax = 200

    public struct DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func decode(hex: String) throws(DecodeError) -> IncomingSMS {
        let octets = try Self.octets(hex)
        var reader = OctetReader(octets: octets)
        let smscLength = Int(try reader.next("SMSC length"))
        try reader.skip(smscLength, "SMSC address")
        let firstOctet = try reader.next("first octet")
        guard firstOctet & 0x03 == 0x00 else {
            throw DecodeError(description: "message type \(firstOctet & 0x03) is not SMS-DELIVER (0)")
        }
        let hasHeader = firstOctet & 0x40 != 0
        let senderDigits = Int(try reader.next("sender length"))
        let senderType = try reader.next("sender type")
        let senderOctets = try reader.take((senderDigits + 1) / 2, "sender")
        let sender: String
        if senderType & 0x70 == 0x50 {
            // Alphanumeric (a bank, a carrier): GSM 7-bit packed, length in semi-octets.
            sender = gsm7Text(unpackSeptets(senderOctets, count: senderDigits * 4 / 7, skipBits: 0))
        } else {
            sender = (senderType & 0x70 == 0x10 ? "+" : "") + semiOctetDigits(senderOctets, count: senderDigits)
        }
        _ = try reader.next("protocol identifier")
        let codingScheme = try reader.next("data coding scheme")
        try reader.skip(7, "timestamp")
        let userDataLength = Int(try reader.next("user data length"))
        let userData = Array(octets[reader.position...])
        let alphabet = alphabet(codingScheme)
        var headerOctets = 0
        var concatenation: SMSConcatenation?
        if hasHeader {
            guard let headerLength = userData.first.map(Int.init), headerLength + 1 <= userData.count else {
                throw DecodeError(description: "user data header runs past the message")
            }
            headerOctets = headerLength + 1
            concatenation = Self.concatenation(Array(userData[1..<headerOctets]))
        }
        let text: String
        switch alphabet {
        case .gsm7:
            // The header is padded to a septet boundary; the length counts septets, header included.
            let skipBits = (headerOctets * 8 + 6) / 7 * 7
            guard (userDataLength * 7 + 7) / 8 <= userData.count else {
                throw DecodeError(description: "user data of \(userDataLength) septets is longer than the \(userData.count) octets given")
            }
            let septets = unpackSeptets(userData, count: userDataLength, skipBits: skipBits)
            text = gsm7Text(septets)
        case .eightBit, .ucs2:
            guard userDataLength <= userData.count, headerOctets <= userDataLength else {
                throw DecodeError(description: "user data of \(userDataLength) octets is longer than the \(userData.count) given")
            }
            let body = Array(userData[headerOctets..<userDataLength])
            if alphabet == .ucs2 {
                var units: [UInt16] = []
                var index = 0
                while index + 1 < body.count {
                    units.append(UInt16(body[index]) << 8 | UInt16(body[index + 1]))
                    index += 2
                }
                text = String(decoding: units, as: UTF16.self)
            } else {
                text = String(decoding: body, as: UTF8.self)
            }
        }
        return IncomingSMS(sender: sender, text: text, concatenation: concatenation)
    }

    enum Alphabet { case gsm7, eightBit, ucs2 }

    /// TS 23.038 §4: the general data coding groups and the message-class group.
    static func alphabet(_ scheme: UInt8) -> Alphabet {
        switch scheme >> 4 {
        case 0x0...0x7:
            switch (scheme >> 2) & 0x03 {
            case 1: .eightBit
            case 2: .ucs2
            default: .gsm7
            }
        case 0xE: .ucs2
        case 0xF: scheme & 0x04 != 0 ? .eightBit : .gsm7
        default: .gsm7
        }
    }

    static func concatenation(_ header: [UInt8]) -> SMSConcatenation? {
        var index = 0
        while index + 1 < header.count {
            let identifier = header[index]
            let length = Int(header[index + 1])
            let body = index + 2
            guard body + length <= header.count else { return nil }
            if identifier == 0x00, length == 3 {
                return SMSConcatenation(reference: header[body], partCount: header[body + 1], sequenceNumber: header[body + 2])
            }
            if identifier == 0x08, length == 4 {
                return SMSConcatenation(reference: header[body + 1], partCount: header[body + 2], sequenceNumber: header[body + 3])
            }
            index = body + length
        }
        return nil
    }

    static func octets(_ hex: String) throws(DecodeError) -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0, !digits.isEmpty, digits.count / 2 <= pduOctetsMax else {
            throw DecodeError(description: "a PDU is an even number of hex digits, at most \(pduOctetsMax) octets; got \(digits.count) digits")
        }
        var octets: [UInt8] = []
        octets.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else {
                throw DecodeError(description: "not hex: \(hex.prefix(40))")
            }
            octets.append(high << 4 | low)
            index += 2
        }
        return octets
    }

    static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 0x30...0x39: digit - 0x30
        case 0x41...0x46: digit - 0x41 + 10
        case 0x61...0x66: digit - 0x61 + 10
        default: nil
        }
    }

    static func semiOctetDigits(_ octets: [UInt8], count: Int) -> String {
        let symbols = Array("0123456789*#abc?")
        var text = ""
        for octet in octets {
            for nibble in [octet & 0x0F, octet >> 4] where text.count < count && nibble != 0x0F {
                text.append(symbols[Int(nibble)])
            }
        }
        return text
    }

    static func unpackSeptets(_ octets: [UInt8], count: Int, skipBits: Int) -> [UInt8] {
        var septets: [UInt8] = []
        var bit = skipBits
        let bitsTotal = octets.count * 8
        while septets.count < count - skipBits / 7, bit + 7 <= bitsTotal {
            var value: UInt8 = 0
            for offset in 0..<7 {
                let position = bit + offset
                if octets[position / 8] & (1 << UInt8(position % 8)) != 0 { value |= 1 << UInt8(offset) }
            }
            septets.append(value)
            bit += 7
        }
        return septets
    }

    /// TS 23.038 §6.2.1, the default alphabet and its extension table (after 0x1B).
    static let gsm7Basic: [Character] = Array(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1B}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
    static let gsm7Extension: [UInt8: Character] = [0x0A: "\u{0C}", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€"]

    static func gsm7Text(_ septets: [UInt8]) -> String {
        var text = ""
        var escaped = false
        for septet in septets {
            if escaped {
                text.append(gsm7Extension[septet] ?? " ")
                escaped = false
            } else if septet == 0x1B {
                escaped = true
            } else if Int(septet) < gsm7Basic.count {
                text.append(gsm7Basic[Int(septet)])
            }
        }
        return text
    }
}

private struct OctetReader {
    let octets: [UInt8]
    var position = 0

    mutating func next(_ what: String) throws(SMSDeliverDecoder.DecodeError) -> UInt8 {
        guard position < octets.count else { throw .init(description: "PDU ends before the \(what)") }
        defer { position += 1 }
        return octets[position]
    }

    mutating func take(_ count: Int, _ what: String) throws(SMSDeliverDecoder.DecodeError) -> [UInt8] {
        guard count >= 0, position + count <= octets.count else { throw .init(description: "PDU ends inside the \(what)") }
        defer { position += count }
        return Array(octets[position..<position + count])
    }

    mutating func skip(_ count: Int, _ what: String) throws(SMSDeliverDecoder.DecodeError) {
        _ = try take(count, what)
    }
}

/// Builds SMS-DELIVER PDUs in UCS-2, as a network hands a reply to the modem: for the modem twin
/// and the tests. One part (at most 70 UTF-16 units).
public enum SMSDeliverEncoder {
    /// A China Mobile service centre (+8613800200500), as real PDUs carry one.
    static let serviceCentre: [UInt8] = [0x08, 0x91, 0x68, 0x31, 0x08, 0x20, 0x00, 0x05, 0xF0]

    public static func hex(sender: String, text: String) throws(ModemError) -> String {
        let units = Array(text.utf16.prefix(SMSSubmitEncoder.ucs2UnitsSinglePartMax))
        var octets = serviceCentre
        octets.append(0x04)  // SMS-DELIVER, no more messages waiting
        octets += try SMSSubmitEncoder.encodeAddress(sender)
        octets += [0x00, 0x08]  // plain SMS, UCS-2
        octets += [0x02, 0x40, 0x80, 0x40, 0x00, 0x00, 0x23]  // 2020-08-04 04:00:00 +08:00
        octets.append(UInt8(units.count * 2))
        for unit in units { octets += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
        return SMSSubmitPDU(octets: octets).hex
    }
}
