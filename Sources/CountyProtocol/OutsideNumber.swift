// Numbers that arrive from outside (HTTP headers, query parameters, county answers) are read here:
// ASCII digits only, a bounded length and a bounded range, with checked arithmetic, so no value a
// stranger sends can overflow the arithmetic done with it later.

package enum OutsideNumber {
    /// Digits read at most: 19 holds every Int64, and a longer run is refused before any arithmetic.
    package static let digitsMax = 19

    /// `text` as a non-negative decimal integer inside `range`, or nil. Refused: empty text, a sign
    /// (`+5`, `-5`), spaces, non-ASCII digits (`٥`, `５`), more than `digitsMax` digits, values
    /// outside `range`. Leading zeros are read ("007" is 7).
    package static func decimal(_ text: some StringProtocol, in range: ClosedRange<Int64>) -> Int64? {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= digitsMax else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflowShift, !overflowAdd else { return nil }
            value = sum
        }
        return range.contains(value) ? value : nil
    }

    /// `a - b`, or nil when it does not fit an Int64.
    package static func difference(_ a: Int64, _ b: Int64) -> Int64? {
        let (result, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? nil : result
    }

    /// `a + b`, held at Int64.max / Int64.min instead of overflowing.
    package static func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
        let (result, overflow) = a.addingReportingOverflow(b)
        guard overflow else { return result }
        return b > 0 ? .max : .min
    }
}

/// The ranges numbers from outside are held to.
package enum OutsideLimits {
    /// Unix milliseconds up to the end of year 9999: every date ISO 8601 can write with four digits.
    package static let unixMillisecondsMax: Int64 = 253_402_300_799_999
    /// Report sequence numbers: JSON numbers travel as IEEE doubles, which hold every integer up to
    /// 2^53 exactly; a larger "sequence" would be silently rounded on the way, so it is refused.
    package static let sequenceMax: Int64 = 9_007_199_254_740_991
}
