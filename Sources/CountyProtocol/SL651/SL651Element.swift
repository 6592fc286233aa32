// SL 651-2014 elements: the identifier table we send, BCD encoding with range checks, and the rounding rule.

/// What went wrong while building an uplink frame, in words a county engineer can act on.
package enum SL651EncodingError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidStationAddress(String)
    case invalidCentreAddress(Int)
    case invalidTime(String)
    case observationTimeNotWholeMinute(String)
    case valueNotANumber(element: String, value: Double)
    case valueNegative(element: String, value: Double, unit: String)
    case valueOutOfRange(element: String, value: Double, unit: String, allowed: String)
    case fiveMinuteRainfallCount(found: Int)
    case fiveMinuteRainfallOutOfRange(slot: Int, tenthsMillimeters: Int)
    case fiveMinuteWaterLevelCount(found: Int)
    case functionCodeHasNoElementBody(SL651FunctionCode)
    case bodyTooLong(bytes: Int)

    package var description: String {
        switch self {
        case .invalidStationAddress(let text):
            "station address \"\(text)\" is not a 10-digit station id (digits 0-9 only, e.g. 0011223344)"
        case .invalidCentreAddress(let address):
            "centre address \(address) is outside 1-255"
        case .invalidTime(let text):
            "time \(text) is not a real date and time between 2000 and 2099 (SL 651 sends a two-digit year)"
        case .observationTimeNotWholeMinute(let text):
            "observation time \(text) has seconds; SL 651 sends observation times to the minute"
        case .valueNotANumber(let element, let value):
            "\(element) value \(value) is not a number"
        case .valueNegative(let element, let value, let unit):
            "\(element) \(value) \(unit) is negative; this element cannot be"
        case .valueOutOfRange(let element, let value, let unit, let allowed):
            "\(element) \(value) \(unit) does not fit its field: allowed \(allowed)"
        case .fiveMinuteRainfallCount(let found):
            "5-minute rainfalls: an hour has 12 slots, got \(found)"
        case .fiveMinuteRainfallOutOfRange(let slot, let tenths):
            "5-minute rainfall slot \(slot + 1) of 12: \(Double(tenths) / 10) mm is outside 0.0-25.4 mm"
        case .fiveMinuteWaterLevelCount(let found):
            "5-minute water levels: an hour has 12 slots, got \(found)"
        case .functionCodeHasNoElementBody(let code):
            "\(code) does not carry observation elements; only test, timed, add, hourly and manual reports do"
        case .bodyTooLong(let bytes):
            "report body is \(bytes) bytes; the length field allows at most \(SL651.bodyBytesMax) (split it with ETB packets)"
        }
    }
}

/// A numeric element of the standard's table: its identifier guide byte and its N(digits, decimals) format.
package struct SL651NumericElement: Sendable, Equatable {
    package let guide: UInt8
    /// The second identifier byte of a user-defined `FFxx` element (guide `FF`); nil for the standard's one-byte guides.
    package let extendedGuide: UInt8?
    /// The standard's code and name, used in every error ("PJ current rainfall").
    package let name: String
    package let unit: String
    /// N(x, y): x digits in all, y of them after the decimal point.
    package let digits: Int
    package let decimals: Int
    /// Rainfall and voltage cannot be negative; water levels relative to a datum can.
    package let allowsNegative: Bool

    package init(guide: UInt8, extendedGuide: UInt8? = nil, name: String, unit: String, digits: Int, decimals: Int, allowsNegative: Bool) {
        precondition((1...SL651NumericElement.digitsMax).contains(digits) && (0...min(7, digits)).contains(decimals), "N(\(digits),\(decimals)) is not an SL 651 format")
        precondition((extendedGuide == nil) == (guide != 0xFF), "FF guides carry a second identifier byte, others none")
        self.guide = guide
        self.extendedGuide = extendedGuide
        self.name = name
        self.unit = unit
        self.digits = digits
        self.decimals = decimals
        self.allowsNegative = allowsNegative
    }

    /// The widest N(x, y) a definition byte can describe with room for the negative marker (5 bits of
    /// byte count, so at most 31 bytes; no element of the standard needs more than 14 digits).
    package static let digitsMax = 14

    /// BCD carries two digits a byte.
    package var byteCount: Int { (digits + 1) / 2 }
    /// The identifier's second byte: high 5 bits the byte count, low 3 bits the decimals.
    package var dataDefinition: UInt8 { UInt8(byteCount) << 3 | UInt8(decimals) }

    package static let currentRainfall = SL651NumericElement(guide: 0x20, name: "PJ current rainfall", unit: "mm", digits: 5, decimals: 1, allowsNegative: false)
    package static let cumulativeRainfall = SL651NumericElement(guide: 0x26, name: "PT cumulative rainfall", unit: "mm", digits: 6, decimals: 1, allowsNegative: false)
    package static let rainfall1Hour = SL651NumericElement(guide: 0x1A, name: "P1 1-hour rainfall", unit: "mm", digits: 5, decimals: 1, allowsNegative: false)
    package static let rainfall6Hours = SL651NumericElement(guide: 0x1D, name: "P6 6-hour rainfall", unit: "mm", digits: 5, decimals: 1, allowsNegative: false)
    package static let rainfallDay = SL651NumericElement(guide: 0x1F, name: "PD daily rainfall", unit: "mm", digits: 5, decimals: 1, allowsNegative: false)
    package static let riverLevel = SL651NumericElement(guide: 0x39, name: "Z river level", unit: "m", digits: 7, decimals: 3, allowsNegative: true)
    package static let supplyVoltage = SL651NumericElement(guide: 0x38, name: "VT supply voltage", unit: "V", digits: 4, decimals: 2, allowsNegative: false)

    /// Largest magnitude, in units of the last decimal: x digits, whatever the sign (the FF marker is an extra byte).
    package var scaledMax: Int64 { power10(digits) - 1 }
}

/// One element of a report body, ready to send: identifier (2 bytes) then the value bytes.
package struct SL651Element: Sendable, Equatable {
    package let guide: UInt8
    /// The `xx` of a user-defined `FFxx` identifier (guide `FF`), nil otherwise.
    package let extendedGuide: UInt8?
    package let dataDefinition: UInt8
    package let valueBytes: [UInt8]

    package init(guide: UInt8, extendedGuide: UInt8? = nil, dataDefinition: UInt8, valueBytes: [UInt8]) {
        self.guide = guide
        self.extendedGuide = extendedGuide
        self.dataDefinition = dataDefinition
        self.valueBytes = valueBytes
    }

    /// The identifier: one guide byte, or `FF xx` for a user-defined element.
    package var identifierBytes: [UInt8] { extendedGuide.map { [guide, $0] } ?? [guide] }
    package var bytes: [UInt8] { identifierBytes + [dataDefinition] + valueBytes }

    /// Encodes `value` in the element's N(x, y) format.
    ///
    /// Rounding: half away from zero, applied to the value's shortest decimal form (the digits Swift
    /// prints), so 1.005 V is sent as 1.01 V as a person would round it, not 1.00 as the binary
    /// double 1.00499999… would give. A value that does not fit is an error, never truncated.
    ///
    /// A negative value is sent as an `FF` byte followed by the full-width BCD magnitude, and the
    /// identifier's byte count grows by one to cover the marker (Z −1.234 m: `39 2B FF 00 00 12 34`).
    /// This is what RTU firmware in the field does; a centre that reads "first byte FF means
    /// negative, the rest is the magnitude" decodes it, and negatives keep the positive range.
    package static func numeric(_ element: SL651NumericElement, _ value: Double) throws(SL651EncodingError) -> SL651Element {
        guard value.isFinite else { throw .valueNotANumber(element: element.name, value: value) }
        let largest = formatScaled(element.scaledMax, decimals: element.decimals)
        let allowed = "\(element.allowsNegative ? "-" + largest : formatScaled(0, decimals: element.decimals)) to \(largest) \(element.unit)"
        guard let scaled = SL651Rounding.scaledHalfAwayFromZero(value, decimals: element.decimals) else {
            throw .valueOutOfRange(element: element.name, value: value, unit: element.unit, allowed: allowed)
        }
        if scaled < 0 && !element.allowsNegative {
            throw .valueNegative(element: element.name, value: value, unit: element.unit)
        }
        guard scaled.magnitude <= UInt64(element.scaledMax) else {
            throw .valueOutOfRange(element: element.name, value: value, unit: element.unit, allowed: allowed)
        }
        let magnitudeBytes = bcdBytes(scaled.magnitude, byteCount: element.byteCount)
        if scaled < 0 {
            let definition = UInt8(element.byteCount + 1) << 3 | UInt8(element.decimals)
            return SL651Element(guide: element.guide, extendedGuide: element.extendedGuide, dataDefinition: definition, valueBytes: [0xFF] + magnitudeBytes)
        }
        return SL651Element(guide: element.guide, extendedGuide: element.extendedGuide, dataDefinition: element.dataDefinition, valueBytes: magnitudeBytes)
    }

    package static func currentRainfall(millimeters: Double) throws(SL651EncodingError) -> SL651Element { try numeric(.currentRainfall, millimeters) }
    package static func cumulativeRainfall(millimeters: Double) throws(SL651EncodingError) -> SL651Element { try numeric(.cumulativeRainfall, millimeters) }
    package static func rainfall1Hour(millimeters: Double) throws(SL651EncodingError) -> SL651Element { try numeric(.rainfall1Hour, millimeters) }
    package static func rainfall6Hours(millimeters: Double) throws(SL651EncodingError) -> SL651Element { try numeric(.rainfall6Hours, millimeters) }
    package static func rainfallDay(millimeters: Double) throws(SL651EncodingError) -> SL651Element { try numeric(.rainfallDay, millimeters) }
    package static func riverLevel(meters: Double) throws(SL651EncodingError) -> SL651Element { try numeric(.riverLevel, meters) }
    package static func supplyVoltage(volts: Double) throws(SL651EncodingError) -> SL651Element { try numeric(.supplyVoltage, volts) }

    /// 45 ZT: 32 status and alarm bits, sent as 4 HEX bytes high byte first (not BCD).
    package static func statusAndAlarm(bits: UInt32) -> SL651Element {
        SL651Element(guide: 0x45, dataDefinition: 4 << 3, valueBytes: [
            UInt8(truncatingIfNeeded: bits >> 24), UInt8(truncatingIfNeeded: bits >> 16),
            UInt8(truncatingIfNeeded: bits >> 8), UInt8(truncatingIfNeeded: bits),
        ])
    }

    /// The most rainfall one 5-minute slot can carry: one HEX byte of tenths, FF being reserved for "no data".
    package static let fiveMinuteRainfallTenthsMillimetersMax = 254

    /// F4: the last hour's twelve 5-minute rainfalls, oldest first, each one HEX byte in tenths of a
    /// millimetre; nil (sent as FF) marks a slot with no valid reading.
    package static func fiveMinuteRainfalls(tenthsMillimeters slots: [Int?]) throws(SL651EncodingError) -> SL651Element {
        guard slots.count == 12 else { throw .fiveMinuteRainfallCount(found: slots.count) }
        var valueBytes: [UInt8] = []
        for (index, slot) in slots.enumerated() {
            guard let tenths = slot else { valueBytes.append(0xFF); continue }
            guard (0...fiveMinuteRainfallTenthsMillimetersMax).contains(tenths) else {
                throw .fiveMinuteRainfallOutOfRange(slot: index, tenthsMillimeters: tenths)
            }
            valueBytes.append(UInt8(tenths))
        }
        return SL651Element(guide: 0xF4, dataDefinition: 12 << 3, valueBytes: valueBytes)
    }

    /// F4 in an hourly report: SL 651 (table C.1, note e) says rain beyond one slot's 25.4 mm is
    /// carried into the next slot, so a cloudburst is delayed in the series, never cut. What is
    /// still left after the last slot cannot be sent there (PT carries the true total).
    package static func fiveMinuteRainfallsCarryingOverflow(tenthsMillimeters slots: [Int?]) throws(SL651EncodingError) -> SL651Element {
        var carried = 0
        var sent: [Int?] = []
        for slot in slots {
            guard let tenths = slot else { sent.append(nil); continue }
            let total = max(0, tenths) + carried
            sent.append(min(total, fiveMinuteRainfallTenthsMillimetersMax))
            carried = total - min(total, fiveMinuteRainfallTenthsMillimetersMax)
        }
        return try fiveMinuteRainfalls(tenthsMillimeters: sent)
    }

    /// The most one 5-minute water-level slot can carry: 2 HEX bytes of centimetres, FFFF being "no data".
    package static let fiveMinuteWaterLevelCentimetersMax = 65_534

    /// F5 (DRZ1): the hour's twelve 5-minute water levels, oldest first, each 2 HEX bytes of
    /// centimetres, high byte first. A slot with no reading, or a level below 0 or above 655.34 m
    /// (which the field cannot hold), is sent as FFFF, "invalid", never clipped to a wrong level.
    package static func fiveMinuteWaterLevels(meters slots: [Double?]) throws(SL651EncodingError) -> SL651Element {
        guard slots.count == 12 else { throw .fiveMinuteWaterLevelCount(found: slots.count) }
        var valueBytes: [UInt8] = []
        for slot in slots {
            guard let meters = slot, let centimeters = SL651Rounding.scaledHalfAwayFromZero(meters, decimals: 2),
                  (0...Int64(fiveMinuteWaterLevelCentimetersMax)).contains(centimeters)
            else { valueBytes += [0xFF, 0xFF]; continue }
            valueBytes += [UInt8(centimeters >> 8), UInt8(centimeters & 0xFF)]
        }
        return SL651Element(guide: 0xF5, dataDefinition: 24 << 3, valueBytes: valueBytes)
    }

    /// F0 F0 and a 5-byte time, for elements observed at another time than the report's (SL 651
    /// table 43, note: "other information observed at a different time carries its own").
    package static func observationTime(_ time: SL651LocalTime) -> SL651Element {
        SL651Element(guide: 0xF0, dataDefinition: 0xF0, valueBytes: time.observationTimeBytes)
    }

    /// 04 18 dhm, the time step code (table C.3): days, hours, minutes as one BCD byte each, only one
    /// non-zero; all zero pairs with the hour-combination series F4/F5.
    package static func timeStep(days: Int, hours: Int, minutes: Int) -> SL651Element {
        SL651Element(guide: 0x04, dataDefinition: 3 << 3, valueBytes: [SL651.bcdByte(days), SL651.bcdByte(hours), SL651.bcdByte(minutes)])
    }

    /// `magnitude` as `byteCount` BCD bytes, most significant first; the caller checked it fits.
    private static func bcdBytes(_ magnitude: UInt64, byteCount: Int) -> [UInt8] {
        var remaining = magnitude
        var bytes = [UInt8](repeating: 0, count: byteCount)
        for index in stride(from: byteCount - 1, through: 0, by: -1) {
            bytes[index] = SL651.bcdByte(Int(remaining % 100))
            remaining /= 100
        }
        precondition(remaining == 0, "BCD value wider than its field")
        return bytes
    }

    private static func formatScaled(_ scaled: Int64, decimals: Int) -> String {
        let divisor = power10(decimals)
        let sign = scaled < 0 ? "-" : ""
        let magnitude = scaled.magnitude
        guard decimals > 0 else { return "\(sign)\(magnitude)" }
        var fraction = String(magnitude % UInt64(divisor))
        while fraction.count < decimals { fraction = "0" + fraction }
        return "\(sign)\(magnitude / UInt64(divisor)).\(fraction)"
    }
}

private func power10(_ exponent: Int) -> Int64 {
    var result: Int64 = 1
    for _ in 0..<exponent { result *= 10 }
    return result
}

/// Rounds through the shortest decimal text of a Double, so the rounding a person does on paper and ours agree.
package enum SL651Rounding {
    /// No SL 651 field holds more than 14 digits; beyond this a value is out of range whatever its element.
    package static let scaledDigitsMax = 15

    /// `value` × 10^decimals rounded half away from zero, or nil when it has more than `scaledDigitsMax` digits.
    package static func scaledHalfAwayFromZero(_ value: Double, decimals: Int) -> Int64? {
        guard value.isFinite else { return nil }
        // Swift's description is the shortest text that reads back as the same Double: "10.49", "1e-05", "1.0e+20".
        var text = Substring(value.description)
        var negative = false
        if text.first == "-" { negative = true; text = text.dropFirst() }
        var exponent = 0
        if let eIndex = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let parsed = Int(text[text.index(after: eIndex)...]) else { return nil }
            exponent = parsed
            text = text[..<eIndex]
        }
        var digits: [Int] = []
        for character in text {
            if character == "." { continue }
            guard let digit = character.wholeNumberValue else { return nil }
            digits.append(digit)
        }
        if let dot = text.firstIndex(of: ".") {
            exponent -= text.distance(from: text.index(after: dot), to: text.endIndex)
        }
        // value = digits × 10^exponent; we want digits × 10^(exponent + decimals).
        let shift = exponent + decimals
        var kept = digits
        var roundUp = false
        if shift < 0 {
            let dropCount = -shift
            if dropCount > kept.count {
                kept = []
            } else {
                roundUp = kept[kept.count - dropCount] >= 5
                kept.removeLast(dropCount)
            }
        } else {
            kept += [Int](repeating: 0, count: shift)
        }
        while let first = kept.first, first == 0 { kept.removeFirst() }
        guard kept.count <= scaledDigitsMax else { return nil }
        var magnitude: Int64 = 0
        for digit in kept { magnitude = magnitude * 10 + Int64(digit) }
        if roundUp { magnitude += 1 }
        return negative ? -magnitude : magnitude
    }
}
