// SMS-SUBMIT PDUs (3GPP TS 23.040) in UCS-2, single or concatenated, for AT+CMGS in PDU mode.

/// One PDU ready for AT+CMGS: the octets with a zero-length SMSC field in front.
public struct SMSSubmitPDU: Equatable, Sendable {
    public let octets: [UInt8]

    /// Upper-case hex, as the modem wants it after the prompt.
    public var hex: String {
        let digits = Array("0123456789ABCDEF")
        var text = ""
        text.reserveCapacity(octets.count * 2)
        for octet in octets {
            text.append(digits[Int(octet >> 4)])
            text.append(digits[Int(octet & 0x0F)])
        }
        return text
    }

    /// The length AT+CMGS=<n> wants: the TPDU without the SMSC field (here the single 00 octet).
    public var tpduLength: Int { octets.count - 1 }
}

/// Where a concatenated part belongs (UDH information element 0x00, 8-bit reference).
public struct SMSConcatenation: Equatable, Sendable {
    public var reference: UInt8
    public var partCount: UInt8
    public var sequenceNumber: UInt8

    public init(reference: UInt8, partCount: UInt8, sequenceNumber: UInt8) {
        self.reference = reference
        self.partCount = partCount
        self.sequenceNumber = sequenceNumber
    }
}

/// Builds SMS-SUBMIT PDUs. UCS-2 always (DCS 0x08) so Chinese arrives intact on every handset.
public enum SMSSubmitEncoder {
    /// 140 octets of user data / 2.
    public static let ucs2UnitsSinglePartMax = 70
    /// 140 octets minus the 6-octet concatenation header, / 2.
    public static let ucs2UnitsPerConcatenatedPartMax = 67
    /// The 8-bit concatenation scheme cannot number more parts than this.
    public static let concatenatedPartsMax = 255
    public static let phoneNumberDigitsMax = 20
    /// TP-VP relative 0xA7: 24 hours (TS 23.040 §9.2.3.12.1: 167 → 12 h + (167−143)·30 min).
    public static let validityPeriod24Hours: UInt8 = 0xA7

    /// Splits `text` and encodes every part. `validityPeriodRelative` nil leaves TP-VP out.
    public static func encode(
        destination: String, text: String, validityPeriodRelative: UInt8? = validityPeriod24Hours,
        concatenationReference: UInt8, partsMax: Int
    ) throws(ModemError) -> [SMSSubmitPDU] {
        guard partsMax >= 1, partsMax <= concatenatedPartsMax else {
            throw .invalidSetting("SMS parts limit \(partsMax) must be 1…\(concatenatedPartsMax)")
        }
        let address = try encodeAddress(destination)
        let units = Array(text.utf16)
        if units.count <= ucs2UnitsSinglePartMax {
            return [part(address: address, units: units[...], validityPeriodRelative: validityPeriodRelative, concatenation: nil)]
        }
        var slices: [ArraySlice<UInt16>] = []
        var start = 0
        while start < units.count {
            var end = min(start + ucs2UnitsPerConcatenatedPartMax, units.count)
            // Never split a surrogate pair (an emoji or a rare CJK extension character) across parts.
            if end < units.count, UTF16.isLeadSurrogate(units[end - 1]) { end -= 1 }
            slices.append(units[start..<end])
            start = end
            if slices.count > partsMax { throw .textTooLong(utf16Units: units.count, partsMax: partsMax) }
        }
        return slices.enumerated().map { index, slice in
            part(address: address, units: slice, validityPeriodRelative: validityPeriodRelative,
                 concatenation: SMSConcatenation(reference: concatenationReference, partCount: UInt8(slices.count),
                                                 sequenceNumber: UInt8(index + 1)))
        }
    }

    /// One SMS-SUBMIT with SMSC length 00 (use the SIM's SMSC) and TP-MR 00 (the modem assigns it).
    public static func part(
        address: [UInt8], units: ArraySlice<UInt16>, validityPeriodRelative: UInt8?, concatenation: SMSConcatenation?
    ) -> SMSSubmitPDU {
        precondition(units.count <= (concatenation == nil ? ucs2UnitsSinglePartMax : ucs2UnitsPerConcatenatedPartMax),
                     "a part never carries more than 140 octets of user data")
        var firstOctet: UInt8 = 0x01  // TP-MTI SMS-SUBMIT
        if validityPeriodRelative != nil { firstOctet |= 0x10 }  // TP-VPF relative
        if concatenation != nil { firstOctet |= 0x40 }  // TP-UDHI
        var octets: [UInt8] = [0x00, firstOctet, 0x00]
        octets += address
        octets += [0x00, 0x08]  // TP-PID plain SMS, TP-DCS UCS-2
        if let validityPeriodRelative { octets.append(validityPeriodRelative) }
        var userData: [UInt8] = []
        if let concatenation {
            userData += [0x05, 0x00, 0x03, concatenation.reference, concatenation.partCount, concatenation.sequenceNumber]
        }
        for unit in units {
            userData += [UInt8(unit >> 8), UInt8(unit & 0xFF)]
        }
        octets.append(UInt8(userData.count))  // TP-UDL in octets for UCS-2, header included
        octets += userData
        return SMSSubmitPDU(octets: octets)
    }

    /// TP-DA: digit count, type (0x91 international when it starts with +, else 0x81), then the
    /// digits as swapped semi-octets padded with F.
    public static func encodeAddress(_ number: String) throws(ModemError) -> [UInt8] {
        let international = number.hasPrefix("+")
        let digits = Array(international ? number.dropFirst() : number[...])
        guard !digits.isEmpty, digits.count <= phoneNumberDigitsMax, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .invalidPhoneNumber(number)
        }
        let values = digits.map { UInt8($0.asciiValue! - 0x30) }
        var octets: [UInt8] = [UInt8(values.count), international ? 0x91 : 0x81]
        var index = 0
        while index < values.count {
            let low = values[index]
            let high: UInt8 = index + 1 < values.count ? values[index + 1] : 0x0F
            octets.append(high << 4 | low)
            index += 2
        }
        return octets
    }
}
