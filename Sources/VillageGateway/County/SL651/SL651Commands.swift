// The centre's commands while the link is up (SL 651-2014 mode M4): 37H real-time query, 38H
// time-range query, 4AH set clock and 45H software version are answered; every other command is
// refused with a logged reason. Pure apart from the injected seams, so each answer is testable.
import WarningLogic

/// The version string 45H answers with (SL 651 table 84: length byte, then ASCII).
enum GatewaySoftwareVersion {
    static let text = "VillageGateway 0.3 SL651-2014"
}

/// What the box knows that the commands ask for, injected by the runtime (and by tests).
struct SL651CommandSources: Sendable {
    /// The values as they stand now (37H); nil before the engine has shown a status.
    var current: @Sendable () -> ObservationSummary?
    /// Observation summaries observed in [from, through], oldest first, at most `limit` (38H).
    var summaries: @Sendable (_ from: Timestamp, _ through: Timestamp, _ limit: Int) -> [ObservationSummary]
    /// Sets the box's clock to the centre's (4AH); returns why not, or nil when it was set.
    var setClock: @Sendable (Timestamp) -> String?

    /// A box that keeps nothing to answer with: queries get "invalid" values, the clock is never set.
    static let none = SL651CommandSources(
        current: { nil }, summaries: { _, _, _ in [] }, setClock: { _ in "this link was started without the box's clock handling" })
}

/// What to do with one command frame.
enum SL651CommandOutcome: Sendable, Equatable {
    /// Send this uplink frame; `note` is logged.
    case answer([UInt8], note: String)
    /// Send nothing: the standard gives a station no refusal frame, so the reason is logged instead of silence.
    case refused(String)
}

struct SL651CommandResponder: Sendable {
    /// Steps one 38H answer may carry: the body must fit SL 651's 12-bit length in one packet
    /// (multi-packet answers are not sent). An F5 hour is 24 bytes, so 100 steps stay well under 4095.
    static let periodQueryStepsMax = 100

    let identity: SL651StationIdentity
    let utcOffsetMinutes: Int
    let mapping: SL651MappingConfiguration
    let sources: SL651CommandSources

    /// Whether `code` is one the centre sends to command a station (not an answer to a report).
    static func isCommandCode(_ code: SL651FunctionCode) -> Bool { code.rawValue >= 0x36 }

    /// A command asks (ENQ). A frame with a command's code and another end is the centre's
    /// acknowledgement of the box's answer: the Python centre answers every uplink but 2F, the
    /// box's 37H answer included, with an empty-body ESC frame of the same code. Taking that for a
    /// new command made the two answer each other without end (seen in the interop run).
    static func isCommand(_ frame: SL651DownlinkFrame) -> Bool { isCommandCode(frame.functionCode) && frame.end == .enquiry }

    /// The answer to `command`, with `serial` (the centre's own, echoed so it can match the answer) and `now`.
    func respond(to command: SL651DownlinkFrame, serial: UInt16, now: Timestamp) -> SL651CommandOutcome {
        do {
            switch command.functionCode.rawValue {
            case 0x37: return try realTimeAnswer(serial: serial, now: now)
            case 0x38: return try periodAnswer(command, serial: serial, now: now)
            case 0x4A: return try clockAnswer(command, serial: serial, now: now)
            case 0x45: return try versionAnswer(serial: serial, now: now)
            default:
                return .refused("centre command \(SL651.hexByte(command.functionCode.rawValue))H \(Self.refusal(command.functionCode.rawValue))")
            }
        } catch let error as SL651EncodingError {
            return .refused("centre command \(SL651.hexByte(command.functionCode.rawValue))H could not be answered: \(error.description)")
        } catch {
            return .refused("centre command \(SL651.hexByte(command.functionCode.rawValue))H could not be answered: \(error)")
        }
    }

    /// Why the box does not carry out a command, in words the county's operator can act on.
    static func refusal(_ code: UInt8) -> String {
        switch code {
        case 0x40, 0x42, 0x47, 0x48, 0x49:
            "(change configuration, password or stored data) refused: the box's configuration is changed only by the technician's shell or gateway.toml, where every change is checked and audited"
        case 0x41, 0x43:
            "(read configuration) refused: the box's configuration is not in SL 651 tables; the technician's shell `config show` prints it"
        case 0x4C, 0x4D, 0x4E, 0x4F, 0x4B:
            "(pump, valve, gate, water-quantity or IC-card control) refused: the box drives no such equipment"
        case 0x36:
            "(picture) refused: the box has no camera"
        case 0x39, 0x3A, 0x44, 0x46, 0x50, 0x51:
            "refused: not served by this box; it answers 37H (real-time), 38H (time range), 4AH (set clock) and 45H (version)"
        default:
            "refused: not an SL 651 command this box knows; it answers 37H, 38H, 4AH and 45H"
        }
    }

    // MARK: 37H

    private func realTimeAnswer(serial: UInt16, now: Timestamp) throws -> SL651CommandOutcome {
        guard let current = sources.current() else {
            return .refused("centre command 37H (real-time query) not answered yet: the box has no reading since it started")
        }
        let observed = try SL651ReportMapping.localTime(Timestamp(millisecondsSinceUnixEpoch: current.observedAtMilliseconds), utcOffsetMinutes: utcOffsetMinutes)
        let level = WarningLevel(name: current.level) ?? .none
        let status = SL651ReportMapping.statusBits(level: level, exercise: false, summary: current, waterLevelHeld: false)
        let report = SL651Report(
            stationClass: SL651ReportMapping.stationClass(current), observationTime: observed,
            elements: try SL651ReportMapping.elements(current, mapping: mapping) + [.statusAndAlarm(bits: status)])
        let frame = try SL651UplinkEncoder.report(
            identity: identity, functionCode: .realTimeQuery, serialNumber: serial, sendTime: try sendTime(now), report: report)
        return .answer(frame, note: "answered the centre's real-time query (37H) with the values observed at \(observed)")
    }

    // MARK: 38H

    /// 38H asks: start YYMMDDHH, end YYMMDDHH, time step `04 18 dhm`, one element identifier (table 44).
    /// The answer (table 45): F1F1 station, class, F0F0 the first step's time, the step, the
    /// identifier, then one value per step; a step the box holds no summary for is all FF, "invalid".
    private func periodAnswer(_ command: SL651DownlinkFrame, serial: UInt16, now: Timestamp) throws -> SL651CommandOutcome {
        let body = command.body
        guard body.count >= 8 + 4 + 4 + 5 + 2 else {
            return .refused("centre command 38H (time-range query) refused: its body of \(body.count) bytes is shorter than start, end, time step and an element identifier")
        }
        guard let start = hourTime(body[8..<12]), let end = hourTime(body[12..<16]) else {
            return .refused("centre command 38H refused: start \(SL651.hexString(body[8..<12])) or end \(SL651.hexString(body[12..<16])) is not a YYMMDDHH time")
        }
        guard body[16] == 0x04, body[17] == 0x18, let days = SL651.bcdValue(body[18]), let hours = SL651.bcdValue(body[19]),
              let minutes = SL651.bcdValue(body[20])
        else {
            return .refused("centre command 38H refused: expected the time step code 04 18 dhm after the times, found \(SL651.hexString(body[16..<21]))")
        }
        let identifier = Array(body[21...])
        let hourCombination = days == 0 && hours == 0 && minutes == 0
        let stepMilliseconds = hourCombination ? Milliseconds.hour
            : Int64(days) * Milliseconds.day + Int64(hours) * Milliseconds.hour + Int64(minutes) * Milliseconds.minute
        let startTime = localTimestamp(start), endTime = localTimestamp(end)
        guard endTime >= startTime else {
            return .refused("centre command 38H refused: the end \(end) is before the start \(start)")
        }
        guard let series = periodSeries(identifier: identifier, hourCombination: hourCombination) else {
            return .refused("centre command 38H refused: element \(SL651.hexString(identifier.prefix(3))) with step \(SL651.hexString(body[18..<21])) is not one the box keeps (it keeps 20 PJ, 26 PT, 1A P1, 1F PD, 39 Z and its displacement FFxx at the summary period, and F4/F5 hourly with step 000000)")
        }
        let stepCount = Int((endTime - startTime) / stepMilliseconds) + 1
        let steps = min(stepCount, Self.periodQueryStepsMax)
        // Summaries are stamped at their period's end: the value "at" a step is the summary observed then.
        let firstStep = startTime + (hourCombination ? Milliseconds.hour : 0)
        let lastStep = firstStep + Int64(steps - 1) * stepMilliseconds
        let byTime = Dictionary(
            sources.summaries(Timestamp(millisecondsSinceUnixEpoch: firstStep), Timestamp(millisecondsSinceUnixEpoch: lastStep), steps * 4)
                .map { ($0.observedAtMilliseconds, $0) }, uniquingKeysWith: { first, _ in first })
        var values: [UInt8] = []
        var found = 0
        for index in 0..<steps {
            let time = firstStep + Int64(index) * stepMilliseconds
            if let summary = byTime[time], let bytes = try series.value(summary) {
                values += bytes
                found += 1
            } else {
                values += [UInt8](repeating: 0xFF, count: series.valueBytes)
            }
        }
        let stepElement = SL651Element.timeStep(days: hourCombination ? 0 : days, hours: hourCombination ? 0 : hours, minutes: hourCombination ? 0 : minutes)
        // The first step's time: for an hourly series, its first 5-minute slot (as in the hourly report).
        let firstTime = Timestamp(millisecondsSinceUnixEpoch: hourCombination ? firstStep - Milliseconds.hour + 5 * Milliseconds.minute : firstStep)
        let seriesElement = SL651Element(guide: series.identifier[0], extendedGuide: series.identifier.count == 2 ? series.identifier[1] : nil,
                                         dataDefinition: series.definition, valueBytes: values)
        let report = SL651Report(
            stationClass: byTime.values.first.map(SL651ReportMapping.stationClass) ?? .rainfall,
            observationTime: try SL651ReportMapping.localTime(firstTime, utcOffsetMinutes: utcOffsetMinutes),
            elements: [stepElement, seriesElement])
        let frame = try SL651UplinkEncoder.report(
            identity: identity, functionCode: .periodQuery, serialNumber: serial, sendTime: try sendTime(now), report: report)
        let cut = stepCount > steps ? "; the range asked \(stepCount) steps, the first \(steps) are sent (ask again from the next)" : ""
        return .answer(frame, note: "answered the centre's time-range query (38H) \(start)–\(end): \(steps) steps, \(found) from stored summaries\(cut)")
    }

    /// One element's per-step values, read from an observation summary.
    struct PeriodSeries {
        var identifier: [UInt8]
        var definition: UInt8
        /// The bytes of one value (an absent value is this many FF bytes).
        var valueBytes: Int
        /// The value's bytes, or nil when the summary has none.
        var value: (ObservationSummary) throws -> [UInt8]?
    }

    private func periodSeries(identifier: [UInt8], hourCombination: Bool) -> PeriodSeries? {
        func gauge(_ summary: ObservationSummary) -> ObservedSensor? { summary.sensors.first { $0.kind == SensorKind.rainGauge.rawValue } }
        func level(_ summary: ObservationSummary) -> ObservedSensor? { summary.sensors.first { $0.kind == SensorKind.waterLevel.rawValue } }
        func numeric(_ element: SL651NumericElement, _ read: @escaping (ObservationSummary) -> Double?) -> PeriodSeries {
            PeriodSeries(identifier: element.extendedGuide.map { [element.guide, $0] } ?? [element.guide], definition: element.dataDefinition,
                         valueBytes: element.byteCount) { summary in
                // Fixed width per step: a negative value (which would need an FF marker byte) cannot be placed, so it is "invalid".
                guard let value = read(summary), value >= 0 else { return nil }
                return try SL651Element.numeric(element, value).valueBytes
            }
        }
        guard let guide = identifier.first else { return nil }
        if hourCombination {
            switch guide {
            case 0xF4:
                return PeriodSeries(identifier: [0xF4], definition: 12 << 3, valueBytes: 12) { summary in
                    guard let slots = gauge(summary)?.rainMillimeters5min else { return nil }
                    return try SL651Element.fiveMinuteRainfallsCarryingOverflow(
                        tenthsMillimeters: slots.map { $0.flatMap { SL651Rounding.scaledHalfAwayFromZero($0, decimals: 1) }.map { Int($0) } }).valueBytes
                }
            case 0xF5:
                return PeriodSeries(identifier: [0xF5], definition: 24 << 3, valueBytes: 24) { summary in
                    guard let slots = level(summary)?.waterLevelMeters5min else { return nil }
                    return try SL651Element.fiveMinuteWaterLevels(meters: slots).valueBytes
                }
            default: return nil
            }
        }
        switch guide {
        case 0x20: return numeric(.currentRainfall) { gauge($0)?.rainMillimetersPeriod }
        case 0x26: return numeric(.cumulativeRainfall) { gauge($0)?.rainMillimetersTotal }
        case 0x1A: return numeric(.rainfall1Hour) { gauge($0)?.rainMillimeters1h }
        case 0x1F: return numeric(.rainfallDay) { gauge($0)?.rainMillimetersToday }
        case 0x39: return numeric(.riverLevel) { level($0)?.waterLevelMeters }
        case 0xFF:
            guard identifier.count >= 2, let (id, named) = mapping.displacement.first(where: { $0.value.extendedGuide == identifier[1] }) else { return nil }
            return numeric(named.element(sensor: id)) { summary in summary.sensors.first { $0.id == id }?.displacementMillimeters }
        default: return nil
        }
    }

    /// YYMMDDHH of a 38H query.
    private func hourTime(_ bytes: ArraySlice<UInt8>) -> SL651LocalTime? {
        let fields = bytes.compactMap(SL651.bcdValue)
        guard fields.count == 4 else { return nil }
        return try? SL651LocalTime(year: 2000 + fields[0], month: fields[1], day: fields[2], hour: fields[3], minute: 0)
    }

    // MARK: 4AH

    /// 4AH carries the centre's clock as the send time. The box takes it through `applyCentreClock`,
    /// the one place a centre's time reaches the box's clock, and answers with its station address.
    private func clockAnswer(_ command: SL651DownlinkFrame, serial: UInt16, now: Timestamp) throws -> SL651CommandOutcome {
        guard let centreTime = command.sendTime else {
            return .refused("centre command 4AH (set clock) refused: it carries no send time to set the clock to")
        }
        let step = applyCentreClock(centre: centreTime, boxNow: now)
        let answerTime = step.applied ? localTimestamp(centreTime) : now.millisecondsSinceUnixEpoch
        let body = [UInt8(serial >> 8), UInt8(serial & 0xFF)] + (try sendTime(Timestamp(millisecondsSinceUnixEpoch: answerTime))).sendTimeBytes
            + [0xF1, 0xF1] + identity.stationAddress.bytes
        let frame = try SL651UplinkEncoder.frame(identity: identity, functionCode: .setClock, body: body, end: .endOfText)
        return .answer(frame, note: step.note)
    }

    struct ClockStep: Sendable, Equatable {
        var stepMilliseconds: Int64
        var applied: Bool
        var note: String
    }

    /// The centre's clock against the box's: the step is logged whether or not it is applied, and
    /// the setting goes through `sources.setClock` (the box's clock handling decides what it allows).
    func applyCentreClock(centre: SL651LocalTime, boxNow: Timestamp) -> ClockStep {
        let centreMilliseconds = localTimestamp(centre)
        // The centre sends whole seconds: compare at that resolution so a set clock shows step 0.
        let boxSeconds = boxNow.millisecondsSinceUnixEpoch - ((boxNow.millisecondsSinceUnixEpoch % 1_000) + 1_000) % 1_000
        let step = centreMilliseconds - boxSeconds
        let stepText = "\(step >= 0 ? "+" : "")\(Double(step) / 1_000) s"
        let said = "the centre's clock (4AH) says \(centre), \(stepText) from the box's"
        if let refusal = sources.setClock(Timestamp(millisecondsSinceUnixEpoch: centreMilliseconds)) {
            return ClockStep(stepMilliseconds: step, applied: false, note: "\(said); not applied: \(refusal)")
        }
        return ClockStep(stepMilliseconds: step, applied: true, note: "\(said); the box's clock was stepped by \(stepText)")
    }

    // MARK: 45H

    private func versionAnswer(serial: UInt16, now: Timestamp) throws -> SL651CommandOutcome {
        let version = Array(GatewaySoftwareVersion.text.utf8)
        let body = [UInt8(serial >> 8), UInt8(serial & 0xFF)] + (try sendTime(now)).sendTimeBytes
            + [0xF1, 0xF1] + identity.stationAddress.bytes + [UInt8(version.count)] + version
        let frame = try SL651UplinkEncoder.frame(identity: identity, functionCode: .softwareVersion, body: body, end: .endOfText)
        return .answer(frame, note: "answered the centre's version query (45H): \(GatewaySoftwareVersion.text)")
    }

    // MARK: Time

    private func sendTime(_ time: Timestamp) throws -> SL651LocalTime {
        try SL651ReportMapping.localTime(time, utcOffsetMinutes: utcOffsetMinutes, keepSeconds: true)
    }

    /// Station-local wall time as Unix milliseconds.
    func localTimestamp(_ time: SL651LocalTime) -> Int64 {
        let days = Int64(ISO8601.daysFromCivil(year: time.year, month: time.month, day: time.day))
        let local = days * Milliseconds.day + Int64(time.hour) * Milliseconds.hour + Int64(time.minute) * Milliseconds.minute + Int64(time.second) * 1_000
        return local - Int64(utcOffsetMinutes) * Milliseconds.minute
    }
}
