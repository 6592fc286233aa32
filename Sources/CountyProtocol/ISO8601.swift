// ISO-8601 instants with a UTC offset, parsed and printed exactly (integer milliseconds), so
// scenario times, JSON output and reports agree to the millisecond on every machine.
import WarningLogic

package enum ISO8601 {
    /// Parses `2020-08-04T03:30:00+08:00` (also `…Z`, `…:00.250+08:00`, and minutes without
    /// seconds `2020-08-04T03:30+08:00`). Returns nil when the text is not such an instant;
    /// `parseOrExplain` says why, for error messages.
    package static func parse(_ text: String) -> Timestamp? {
        (try? parseOrExplain(text))?.time
    }

    package struct Parsed: Equatable {
        package var time: Timestamp
        package var utcOffsetMinutes: Int

        package init(time: Timestamp, utcOffsetMinutes: Int) {
            self.time = time
            self.utcOffsetMinutes = utcOffsetMinutes
        }
    }

    package struct Problem: Error, CustomStringConvertible {
        package var description: String

        package init(description: String) {
            self.description = description
        }
    }

    package static let expectedForm = "an ISO-8601 time with offset, like 2020-08-04T03:30:00+08:00"

    package static func parseOrExplain(_ text: String) throws(Problem) -> Parsed {
        let characters = Array(text.utf8)
        var index = 0
        func number(_ digits: Int, _ what: String) throws(Problem) -> Int {
            guard index + digits <= characters.count else { throw Problem(description: "\(what) is missing") }
            var value = 0
            for offset in 0..<digits {
                let character = characters[index + offset]
                guard character >= 0x30 && character <= 0x39 else {
                    throw Problem(description: "\(what) must be \(digits) digits")
                }
                value = value * 10 + Int(character - 0x30)
            }
            index += digits
            return value
        }
        func expect(_ character: UInt8, _ what: String) throws(Problem) {
            guard index < characters.count, characters[index] == character else {
                throw Problem(description: "expected \(what)")
            }
            index += 1
        }
        let year = try number(4, "the year")
        try expect(UInt8(ascii: "-"), "'-' after the year")
        let month = try number(2, "the month")
        try expect(UInt8(ascii: "-"), "'-' after the month")
        let day = try number(2, "the day")
        guard index < characters.count, characters[index] == UInt8(ascii: "T") || characters[index] == UInt8(ascii: " ") else {
            throw Problem(description: "expected 'T' between date and time")
        }
        index += 1
        let hour = try number(2, "the hour")
        try expect(UInt8(ascii: ":"), "':' after the hour")
        let minute = try number(2, "the minutes")
        var second = 0
        var millisecond = 0
        if index < characters.count, characters[index] == UInt8(ascii: ":") {
            index += 1
            second = try number(2, "the seconds")
            if index < characters.count, characters[index] == UInt8(ascii: ".") {
                index += 1
                var digits = 0
                var fraction = 0
                while index < characters.count, characters[index] >= 0x30, characters[index] <= 0x39 {
                    if digits < 3 { fraction = fraction * 10 + Int(characters[index] - 0x30) }
                    digits += 1
                    index += 1
                }
                guard digits > 0 else { throw Problem(description: "expected digits after '.'") }
                if digits < 3 { for _ in digits..<3 { fraction *= 10 } }
                millisecond = fraction
            }
        }
        guard index < characters.count else {
            throw Problem(description: "the UTC offset is missing (add +08:00 or Z)")
        }
        var offsetMinutes = 0
        if characters[index] == UInt8(ascii: "Z") {
            index += 1
        } else if characters[index] == UInt8(ascii: "+") || characters[index] == UInt8(ascii: "-") {
            let sign = characters[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            let offsetHours = try number(2, "the offset hours")
            try expect(UInt8(ascii: ":"), "':' in the offset")
            let offsetMinutesPart = try number(2, "the offset minutes")
            guard offsetHours <= 14, offsetMinutesPart < 60 else { throw Problem(description: "the offset is out of range") }
            offsetMinutes = sign * (offsetHours * 60 + offsetMinutesPart)
        } else {
            throw Problem(description: "the UTC offset is missing (add +08:00 or Z)")
        }
        guard index == characters.count else { throw Problem(description: "unexpected text after the offset") }
        guard (1...12).contains(month) else { throw Problem(description: "month \(month) is not 1–12") }
        guard (1...daysIn(month: month, year: year)).contains(day) else {
            throw Problem(description: "day \(day) does not exist in \(year)-\(month)")
        }
        guard hour < 24, minute < 60, second < 60 else { throw Problem(description: "the time of day is out of range") }
        let days = Int64(daysFromCivil(year: year, month: month, day: day))
        let localMilliseconds = ((days * 24 + Int64(hour)) * 60 + Int64(minute)) * 60_000 + Int64(second) * 1000 + Int64(millisecond)
        let utc = localMilliseconds - Int64(offsetMinutes) * 60_000
        return Parsed(time: Timestamp(millisecondsSinceUnixEpoch: utc), utcOffsetMinutes: offsetMinutes)
    }

    /// Formats with the given offset: `2020-08-04T03:30:00+08:00` (milliseconds only when non-zero).
    package static func format(_ time: Timestamp, utcOffsetMinutes: Int) -> String {
        let local = time.millisecondsSinceUnixEpoch + Int64(utcOffsetMinutes) * 60_000
        let (days, millisecondsOfDay) = floorDivide(local, 86_400_000)
        let (year, month, day) = civilFromDays(Int(days))
        let hour = Int(millisecondsOfDay / 3_600_000)
        let minute = Int(millisecondsOfDay / 60_000 % 60)
        let second = Int(millisecondsOfDay / 1000 % 60)
        let millisecond = Int(millisecondsOfDay % 1000)
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
        if millisecond != 0 { text += ".\(pad(millisecond, 3))" }
        text += formatOffset(utcOffsetMinutes)
        return text
    }

    /// `+08:00`, `-03:30`, `+00:00`: the schema of CAP (and our JSON) wants an explicit offset, never `Z`.
    package static func formatOffset(_ minutes: Int) -> String {
        let sign = minutes < 0 ? "-" : "+"
        return "\(sign)\(pad(abs(minutes) / 60, 2)):\(pad(abs(minutes) % 60, 2))"
    }

    /// Local calendar fields of an instant, for charts and day boundaries.
    package static func localFields(_ time: Timestamp, utcOffsetMinutes: Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int) {
        let local = time.millisecondsSinceUnixEpoch + Int64(utcOffsetMinutes) * 60_000
        let (days, millisecondsOfDay) = floorDivide(local, 86_400_000)
        let (year, month, day) = civilFromDays(Int(days))
        return (year, month, day, Int(millisecondsOfDay / 3_600_000), Int(millisecondsOfDay / 60_000 % 60))
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let quotient = a >= 0 ? a / b : -((-a + b - 1) / b)
        return (quotient, a - quotient * b)
    }

    package static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    package static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    package static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `daysFromCivil` (Hinnant's civil_from_days).
    package static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
