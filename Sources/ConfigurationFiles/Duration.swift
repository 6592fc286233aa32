// Durations as technicians write them in the configuration ("90s", "30m", "1h30m", "7d").

/// The units a duration may use, largest first. Each may appear at most once, in this order, so
/// "1h30m" is read one way only and "30m1h" is refused rather than guessed at.
private let durationUnits: [(suffix: String, milliseconds: Int64)] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
]

/// The longest text worth parsing; anything longer is a typo, not a duration.
private let durationTextCharactersMax = 32

/// Parses "90s", "30m", "6h", "7d", "1h30m", "2s500ms" into milliseconds.
/// Returns nil for an empty text, a number without a unit ("5"), an unknown unit ("5x"), a sign
/// ("-5m"), a repeated or out-of-order unit ("30m1h"), or a value that does not fit in Int64.
/// "0s" is 0: whether zero is acceptable is for the key that uses it to say.
package func parseDuration(_ text: String) -> Int64? {
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty, bytes.count <= durationTextCharactersMax else { return nil }
    var index = 0
    var total: Int64 = 0
    var nextUnitIndex = 0  // units must come largest first, each at most once
    while index < bytes.count {
        var count: Int64 = 0
        let digitsStart = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let (times10, overflow1) = count.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            count = sum
            index += 1
        }
        guard index > digitsStart else { return nil }
        // "ms" must be tried before "m": the longest suffix that matches wins.
        var matched: (unitIndex: Int, length: Int)?
        for unitIndex in durationUnits.indices.sorted(by: { durationUnits[$0].suffix.count > durationUnits[$1].suffix.count }) {
            let suffix = Array(durationUnits[unitIndex].suffix.utf8)
            if index + suffix.count <= bytes.count, Array(bytes[index..<index + suffix.count]) == suffix {
                matched = (unitIndex, suffix.count)
                break
            }
        }
        guard let unit = matched, unit.unitIndex >= nextUnitIndex else { return nil }
        let (part, overflow3) = count.multipliedReportingOverflow(by: durationUnits[unit.unitIndex].milliseconds)
        let (sum, overflow4) = total.addingReportingOverflow(part)
        guard !overflow3, !overflow4 else { return nil }
        total = sum
        nextUnitIndex = unit.unitIndex + 1
        index += unit.length
    }
    return total
}

/// The canonical text `parseDuration` reads back as `milliseconds`: each unit at most once,
/// largest first (5_400_000 → "1h30m", 0 → "0s"). Days are used from two days up, as in the
/// measure names (`rain_24h`, not `rain_1d`): "24h" is how people say a day of rain.
package func formatDuration(_ milliseconds: Int64) -> String {
    if milliseconds == 0 { return "0s" }
    // The magnitude of Int64.min does not fit in Int64; UInt64 holds every magnitude.
    var remaining = milliseconds.magnitude
    var text = milliseconds < 0 ? "-" : ""
    let units = remaining >= 2 * 86_400_000 ? durationUnits : Array(durationUnits.dropFirst())
    for unit in units {
        let size = UInt64(unit.milliseconds)
        let count = remaining / size
        if count > 0 {
            text += "\(count)\(unit.suffix)"
            remaining -= count * size
        }
    }
    return text
}
