// Observation summaries: every `summary_every` of box time, aligned to the period from local
// midnight, what each sensor measured, as a routine report for the county (SL 651 timed `32`).
import Foundation
import Synchronization
import WarningLogic

/// Deterministic from the statuses it is shown: the engine owner shows it the status after every
/// event (box time included), and it answers with the summaries that fell due. It keeps a short
/// record of each rain gauge's tip counter to answer P1, P6 and PD; after a restart a window the
/// summariser has not watched from its start is left out (nil) rather than guessed.
struct ObservationSummariser: Sendable {
    /// Counter samples kept per gauge: one per minute of box time for 25 hours (P6 and the rain
    /// day need at most 24 h back).
    static let rainSamplesPerGaugeMax = 25 * 60
    static let rainSampleEveryMilliseconds = Milliseconds.minute

    /// Water-level readings kept per sensor: one per 5-minute slot, two hours' worth (an hourly
    /// summary needs the last 12 slots).
    static let levelSlotsPerSensorMax = 24
    static let slotMilliseconds = 5 * Milliseconds.minute
    static let slotsPerHour = 12

    struct LevelSample: Sendable, Equatable {
        /// The end of the 5-minute slot the reading fell in: a reading at 08:03 is the 08:05 value.
        var slotEndMilliseconds: Int64
        var meters: Double
    }

    struct RainSample: Sendable, Equatable {
        var timeMilliseconds: Int64
        var tipsTotal: Int64
    }

    let periodMilliseconds: Int64
    let utcOffsetMinutes: Int
    let rainDayStartHour: Int
    /// Sensor id → kind and, for gauges, micrometres per tip.
    private let sensors: [(id: String, kind: SensorKind, micrometersPerTip: Int64?)]
    private var nextBoundaryMilliseconds: Int64?
    private var rainSamples: [String: [RainSample]] = [:]
    private var levelSamples: [String: [LevelSample]] = [:]

    init(configuration: EngineConfiguration, summaryEveryMilliseconds: Int64) {
        precondition(summaryEveryMilliseconds > 0 && Milliseconds.day % summaryEveryMilliseconds == 0, "summary_every divides a day (checked by the reader)")
        periodMilliseconds = summaryEveryMilliseconds
        utcOffsetMinutes = configuration.station.utcOffsetMinutes
        rainDayStartHour = configuration.logic.rainDayStartHour
        sensors = configuration.sensors.map { ($0.id, $0.kind, $0.micrometersPerTip) }
    }

    /// The last period boundary at or before `milliseconds`: boundaries fall on whole periods of
    /// station-local time (a 1 h period at every local hour, 1 d at local midnight).
    func boundary(atOrBefore milliseconds: Int64) -> Int64 {
        let offset = Int64(utcOffsetMinutes) * Milliseconds.minute
        let local = milliseconds + offset
        let floored = local - ((local % periodMilliseconds) + periodMilliseconds) % periodMilliseconds
        return floored - offset
    }

    /// Shows the summariser the status after an event; returns the summary that fell due, if any.
    /// When the box time jumped over several boundaries (the box was off), only the latest gets a
    /// summary: the values in between were never observed.
    mutating func observe(_ status: StationStatus) -> ObservationSummary? {
        let now = status.time.millisecondsSinceUnixEpoch
        record(status, at: now)
        guard let next = nextBoundaryMilliseconds else {
            // The first status: the next boundary strictly after it is the first summary's.
            nextBoundaryMilliseconds = boundary(atOrBefore: now) + periodMilliseconds
            return nil
        }
        guard now >= next else { return nil }
        let observedAt = boundary(atOrBefore: now)
        nextBoundaryMilliseconds = observedAt + periodMilliseconds
        return summary(status, observedAt: observedAt, periodStart: observedAt - periodMilliseconds, withSeries: periodMilliseconds == Milliseconds.hour)
    }

    /// The values as they stand at `status` (an SL 651 centre's real-time query, 37H): observed at
    /// its whole minute, the period so far since the last boundary; changes nothing.
    func current(_ status: StationStatus) -> ObservationSummary {
        let now = status.time.millisecondsSinceUnixEpoch
        let minute = now - ((now % Milliseconds.minute) + Milliseconds.minute) % Milliseconds.minute
        let start = boundary(atOrBefore: minute)
        return summary(status, observedAt: minute, periodStart: start == minute ? minute - periodMilliseconds : start, withSeries: false)
    }

    /// The report a summary is stored as; its origin key makes storing it twice harmless.
    static func report(_ summary: ObservationSummary) -> OutboxReport {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A struct of strings, numbers and optionals always encodes; failing is a programming error.
        let payload = String(decoding: try! encoder.encode(summary), as: UTF8.self)
        return OutboxReport(
            time: Timestamp(millisecondsSinceUnixEpoch: summary.observedAtMilliseconds), kind: ObservationSummary.kind, priority: .routine,
            exercise: false, payload: payload, originKey: "\(ObservationSummary.kind):\(summary.observedAtMilliseconds)")
    }

    private mutating func record(_ status: StationStatus, at now: Int64) {
        for configured in sensors where configured.kind == .waterLevel {
            guard let sensor = status.sensors.first(where: { $0.id == configured.id }), !sensor.faulty,
                  let value = sensor.lastValue, let time = sensor.lastTime?.millisecondsSinceUnixEpoch
            else { continue }
            // The slot a reading belongs to ends at the next 5-minute mark (or at the reading, on one).
            let slotEnd = time + (Self.slotMilliseconds - ((time % Self.slotMilliseconds) + Self.slotMilliseconds) % Self.slotMilliseconds) % Self.slotMilliseconds
            var samples = levelSamples[configured.id, default: []]
            if let last = samples.last, last.slotEndMilliseconds >= slotEnd {
                // The newest reading of a slot is its value; an older reading never overwrites a newer slot.
                if last.slotEndMilliseconds == slotEnd { samples[samples.count - 1].meters = value }
            } else {
                samples.append(LevelSample(slotEndMilliseconds: slotEnd, meters: value))
                if samples.count > Self.levelSlotsPerSensorMax { samples.removeFirst(samples.count - Self.levelSlotsPerSensorMax) }
            }
            levelSamples[configured.id] = samples
        }
        for sensor in status.sensors {
            guard let tips = sensor.tipsTotal else { continue }
            var samples = rainSamples[sensor.id, default: []]
            let minute = now - ((now % Self.rainSampleEveryMilliseconds) + Self.rainSampleEveryMilliseconds) % Self.rainSampleEveryMilliseconds
            if let last = samples.last, last.timeMilliseconds >= minute {
                // One sample per minute: the newest count seen in it, so the sample before a
                // boundary is the counter as it stood at the boundary.
                samples[samples.count - 1] = RainSample(timeMilliseconds: now, tipsTotal: tips)
            } else {
                samples.append(RainSample(timeMilliseconds: now, tipsTotal: tips))
                if samples.count > Self.rainSamplesPerGaugeMax { samples.removeFirst(samples.count - Self.rainSamplesPerGaugeMax) }
            }
            rainSamples[sensor.id] = samples
        }
    }

    /// The counter at `time`: the newest sample at or before it; nil when the record starts later.
    private func tips(_ id: String, at time: Int64) -> Int64? {
        guard let samples = rainSamples[id], let first = samples.first, first.timeMilliseconds <= time else { return nil }
        return samples.last(where: { $0.timeMilliseconds <= time })?.tipsTotal ?? first.tipsTotal
    }

    /// The start of the rain day the boundary closes: the last local `rainDayStartHour` strictly
    /// before it (at 08:00 itself PD is the day just ended, as hydrology reports it).
    func rainDayStart(before boundary: Int64) -> Int64 {
        let offset = Int64(utcOffsetMinutes) * Milliseconds.minute
        let startOffset = Int64(rainDayStartHour) * Milliseconds.hour
        let local = boundary + offset - startOffset - 1
        let dayStart = local - ((local % Milliseconds.day) + Milliseconds.day) % Milliseconds.day
        return dayStart + startOffset - offset
    }

    /// The 12 slot ends of the hour up to `observedAt`, oldest first.
    private func slotEnds(hourEndingAt observedAt: Int64) -> [Int64] {
        (1...Self.slotsPerHour).map { observedAt - Milliseconds.hour + Int64($0) * Self.slotMilliseconds }
    }

    private func summary(_ status: StationStatus, observedAt: Int64, periodStart: Int64, withSeries: Bool) -> ObservationSummary {
        var observed: [ObservedSensor] = []
        for configured in sensors {
            guard let sensor = status.sensors.first(where: { $0.id == configured.id }) else { continue }
            var entry = ObservedSensor(id: configured.id, kind: configured.kind.rawValue, faulty: sensor.faulty)
            switch configured.kind {
            case .rainGauge:
                // The counter as it stood at the boundary (the status that reveals a boundary comes
                // after it), so consecutive periods split the tips exactly, none counted twice.
                guard let micrometers = configured.micrometersPerTip, let total = tips(configured.id, at: observedAt) ?? sensor.tipsTotal else { break }
                func millimeters(since time: Int64) -> Double? {
                    tips(configured.id, at: time).map { Double((total - $0) * micrometers) / 1_000 }
                }
                entry.rainMillimetersPeriod = millimeters(since: periodStart)
                // PT wraps as SL 651's N(6,1) counter does: 99999.9 mm, then 0.0.
                entry.rainMillimetersTotal = Double((total * micrometers / 100) % 1_000_000) / 10
                entry.rainMillimeters1h = millimeters(since: observedAt - Milliseconds.hour)
                entry.rainMillimeters6h = millimeters(since: observedAt - 6 * Milliseconds.hour)
                entry.rainMillimetersToday = millimeters(since: rainDayStart(before: observedAt))
                if withSeries {
                    entry.rainMillimeters5min = slotEnds(hourEndingAt: observedAt).map { end in
                        guard let before = tips(configured.id, at: end - Self.slotMilliseconds), let after = tips(configured.id, at: end) else { return nil }
                        return Double((after - before) * micrometers) / 1_000
                    }
                }
            case .waterLevel, .displacement:
                if withSeries, configured.kind == .waterLevel {
                    let samples = levelSamples[configured.id] ?? []
                    // A slot without a reading of its own holds the previous slot's: gauges polled every
                    // 10 min would otherwise leave every other slot empty. Older than that is unknown.
                    entry.waterLevelMeters5min = slotEnds(hourEndingAt: observedAt).map { end in
                        (samples.last(where: { $0.slotEndMilliseconds == end })
                            ?? samples.last(where: { $0.slotEndMilliseconds == end - Self.slotMilliseconds }))?.meters
                    }
                }
                // The last reading, if it was taken in this period; an older one is not this period's.
                guard let value = sensor.lastValue, let time = sensor.lastTime?.millisecondsSinceUnixEpoch, time > periodStart else { break }
                if configured.kind == .waterLevel { entry.waterLevelMeters = value } else { entry.displacementMillimeters = value }
            }
            observed.append(entry)
        }
        // The rules' measures as the engine decided at the status that closed the period (the first
        // at or after the boundary), with the thresholds in force then.
        return ObservationSummary(
            observedAtMilliseconds: observedAt, periodMilliseconds: periodMilliseconds, level: status.level.name, supplyVolts: nil,
            sensors: observed, rules: status.measures.map(ObservedRule.init))
    }
}

/// The summariser as the daemon runs it: fed from the engine owner's loop without blocking it
/// (a lock and a bounded hand-off), stored by its own task so the siren never waits for SQLite.
final class SummaryFeed: Sendable {
    /// Summaries waiting for the store; a day of 5-minute summaries. The store takes one in
    /// milliseconds, so this only fills when the outbox hangs, and then the oldest are kept.
    static let summariesWaitingMax = 288

    private let summariser: Mutex<ObservationSummariser>
    /// The newest status shown, for the centre's real-time query (37H).
    private let latestStatus = Mutex<StationStatus?>(nil)
    let summaries: AsyncStream<ObservationSummary>
    private let continuation: AsyncStream<ObservationSummary>.Continuation
    private let dropped = Mutex<Int>(0)

    init(_ summariser: ObservationSummariser) {
        self.summariser = Mutex(summariser)
        let stream = AsyncStream.makeStream(of: ObservationSummary.self, bufferingPolicy: .bufferingOldest(Self.summariesWaitingMax))
        summaries = stream.stream
        continuation = stream.continuation
    }

    /// Called by the engine owner after each event; never waits.
    func observe(_ status: StationStatus) {
        latestStatus.withLock { $0 = status }
        guard let summary = summariser.withLock({ $0.observe(status) }) else { return }
        if case .dropped = continuation.yield(summary) { dropped.withLock { $0 += 1 } }
    }

    /// The values as they stand now (SL 651 37H); nil before the engine has shown any status.
    func current() -> ObservationSummary? {
        guard let status = latestStatus.withLock({ $0 }) else { return nil }
        return summariser.withLock { $0.current(status) }
    }

    /// Summaries that found the hand-off full.
    var droppedCount: Int { dropped.withLock { $0 } }

    func finish() { continuation.finish() }
}
