// One sensor that gives readings (water level or slope displacement): its recent history, its
// baseline, and the measures computed from them.

struct Reading: Hashable, Codable, Sendable {
    var timeMilliseconds: Int64
    var value: Double
}

struct LevelSensorState: Hashable, Codable, Sendable {
    let sensorId: String
    let kind: SensorKind

    /// Good readings, oldest first, from `firstIndex` on; older ones are dead and compacted away.
    var readings: [Reading] = []
    var firstIndex = 0
    /// The rules look back this far; one reading at or before (now − span) is kept as reference.
    var longestSpanMilliseconds: Int64
    /// A gauge polled every second for a 24-h rise holds 86 400 readings; beyond this the oldest
    /// go first (the rise is then measured from the oldest kept one, as the rule says).
    static let readingHistoryEntriesMax = 100_000

    /// The last reading received, good or not, for the status page.
    var lastValue: Double?
    var lastValueTime: Int64?
    /// Last reading of any kind, or the instant the engine started watching: staleness counts
    /// from here.
    var lastHeardMilliseconds: Int64?
    var stale = false
    var rangeFaultReason: String?
    var readFailuresConsecutive = 0
    var readFailureReason: String?
    /// Displacement only: the configured baseline, else the first good reading.
    var baseline: Double?

    static let compactionEntriesMin = 256

    init(sensorId: String, kind: SensorKind, longestSpanMilliseconds: Int64, configuredBaseline: Double?) {
        self.sensorId = sensorId
        self.kind = kind
        self.longestSpanMilliseconds = longestSpanMilliseconds
        self.baseline = configuredBaseline
    }

    var faultReason: String? {
        if let reason = rangeFaultReason { return reason }
        if let reason = readFailureReason { return reason }
        if stale, let reason = staleReason { return reason }
        return nil
    }

    var staleReason: String?

    /// Asked for every rule at every event: cheap, no string built.
    var isFaulty: Bool { rangeFaultReason != nil || readFailureReason != nil || stale }

    var live: ArraySlice<Reading> { readings[firstIndex...] }

    mutating func advance(to now: Int64, staleAfterMilliseconds: Int64?) {
        if lastHeardMilliseconds == nil { lastHeardMilliseconds = now }
        if let staleAfter = staleAfterMilliseconds, let heard = lastHeardMilliseconds, !stale, now - heard >= staleAfter {
            stale = true
            staleReason = "no data for " + Measure.durationSuffix(staleAfter)
        }
        prune(now: now)
    }

    /// Keeps one reading at or before (now − longest span) and everything after it.
    private mutating func prune(now: Int64) {
        let cutoff = now - longestSpanMilliseconds
        while firstIndex + 1 < readings.count && readings[firstIndex + 1].timeMilliseconds <= cutoff { firstIndex += 1 }
        while readings.count - firstIndex > LevelSensorState.readingHistoryEntriesMax { firstIndex += 1 }
        if firstIndex >= LevelSensorState.compactionEntriesMin && firstIndex * 2 >= readings.count {
            readings.removeFirst(firstIndex)
            firstIndex = 0
        }
    }

    /// Drops the dead readings now, however few (a snapshot holds only the live history);
    /// changes nothing the sensor decides.
    mutating func compactFully() {
        guard firstIndex > 0 else { return }
        readings.removeFirst(firstIndex)
        firstIndex = 0
    }

    enum ReadingOutcome: Equatable { case stored, outOfRange }

    mutating func record(_ value: Double, at now: Int64, rangeMinimum: Double?, rangeMaximum: Double?, unit: String) -> ReadingOutcome {
        lastValue = value
        lastValueTime = now
        lastHeardMilliseconds = now
        stale = false
        staleReason = nil
        readFailuresConsecutive = 0
        readFailureReason = nil
        let belowMinimum = rangeMinimum.map { !(value >= $0) } ?? false
        let aboveMaximum = rangeMaximum.map { !(value <= $0) } ?? false
        guard value.isFinite, !belowMinimum, !aboveMaximum else {
            let range = "[\(plainNumber(rangeMinimum)), \(plainNumber(rangeMaximum))]"
            rangeFaultReason = value.isFinite
                ? "reading \(plainNumber(value)) outside \(range) \(unit)"
                : "reading \(value) is not a number"
            return .outOfRange
        }
        rangeFaultReason = nil
        if baseline == nil { baseline = value }
        if let last = readings.last, readings.count > firstIndex, last.timeMilliseconds == now {
            // Two readings in the same millisecond: the later one stands.
            readings[readings.count - 1].value = value
        } else {
            readings.append(Reading(timeMilliseconds: now, value: value))
        }
        prune(now: now)
        return .stored
    }

    mutating func recordFailure(reason: String, readFailuresMax: Int) {
        readFailuresConsecutive += 1
        if readFailuresConsecutive >= readFailuresMax {
            readFailureReason = "\(readFailuresConsecutive) read failures in a row: \(reason)"
        }
    }

    // MARK: Measures (nil while there is no good reading)

    var latest: Reading? { readings.count > firstIndex ? readings[readings.count - 1] : nil }

    /// The reading at or just before `cutoff`; the oldest kept when none is that old.
    func referenceIndex(atOrBefore cutoff: Int64) -> Int? {
        guard readings.count > firstIndex else { return nil }
        var low = firstIndex
        var high = readings.count  // first index with time > cutoff lies in [low, high]
        while low < high {
            let middle = (low + high) / 2
            if readings[middle].timeMilliseconds <= cutoff { low = middle + 1 } else { high = middle }
        }
        return max(firstIndex, low - 1)
    }

    func rise(spanMilliseconds: Int64, now: Int64) -> Double? {
        guard let latest, let reference = referenceIndex(atOrBefore: now - spanMilliseconds) else { return nil }
        return latest.value - readings[reference].value
    }

    func displacementMillimeters() -> Double? {
        guard let latest, let baseline else { return nil }
        return latest.value - baseline
    }

    /// mm/day between the latest reading and the one at or just before (now − span), over the
    /// time actually between them. nil until the history reaches back a whole span: a "24-h
    /// rate" over the first hour after installation divides a reading's rounding by an hour and
    /// reads as a slope accelerating (and a tangent angle far above 45°) when it is creeping.
    func rateMillimetersPerDay(spanMilliseconds: Int64, now: Int64) -> Double? {
        guard let latest, let referenceIndex = referenceIndex(atOrBefore: now - spanMilliseconds) else { return nil }
        let reference = readings[referenceIndex]
        guard reference.timeMilliseconds <= now - spanMilliseconds else { return nil }
        let elapsed = latest.timeMilliseconds - reference.timeMilliseconds
        guard elapsed > 0 else { return nil }
        return (latest.value - reference.value) / (Double(elapsed) / Double(Milliseconds.day))
    }

    /// When (now − span) next passes a kept reading, the reference and so the measure change.
    /// (Also when the history first reaches back a whole span and a rate gets its first value.)
    func nextReferenceChange(spanMilliseconds: Int64, now: Int64) -> Int64? {
        guard let reference = referenceIndex(atOrBefore: now - spanMilliseconds) else { return nil }
        if readings[reference].timeMilliseconds > now - spanMilliseconds {
            return readings[reference].timeMilliseconds + spanMilliseconds
        }
        guard reference + 1 < readings.count else { return nil }
        return readings[reference + 1].timeMilliseconds + spanMilliseconds
    }

    func staleDeadline(staleAfterMilliseconds: Int64?) -> Int64? {
        guard let staleAfter = staleAfterMilliseconds, !stale, let heard = lastHeardMilliseconds else { return nil }
        return heard + staleAfter
    }
}

/// "10" for 10.0, "12.5" for 12.5: how a technician writes a number.
func plainNumber(_ value: Double?) -> String {
    guard let value else { return "…" }
    // Int64(value) rather than rounded(): the engine links no libm (trunc is a libm call on x86).
    if value.isFinite, abs(value) < 1e15, value == Double(Int64(value)) { return String(Int64(value)) }
    return "\(value)"
}
