// Stored outbox reports as SL 651-2014 uplink frames: one pure function, shared by the pull API
// (`?format=sl651`) and the SL 651 TCP push, so both send the same bytes for the same report.
//
// Mapping:
// - observationSummary → timed report `32`, or, with `[county.sl651] hourly = true` and a 1 h
//   `summary_every`, hourly report `34` (SL 651 table 43): F0F0 the first 5-minute slot's time
//   (hour − 55 min), F4 the twelve 5-minute rainfalls, PT, F5 the twelve 5-minute water levels,
//   then, since the rest is observed at the hour itself, F0F0 the hour and the other elements.
//   `32` elements, in this order, each left out when the summary has no value (never sent as
//   zero): PJ (rain in the period), PT (cumulative), P1, P6, PD of the first rain gauge; Z of the
//   first water-level sensor; each displacement sensor the county gave an `FFxx` identifier; VT
//   when the board measures it; ZT always.
// - levelChanged → add report `33` (sent at once on an event), observed at the change's minute,
//   with ZT (the new level in the box-defined bits below) and the current values: those of the
//   newest observation summary stored before the change, when there is one.
// - everything else has no SL 651 form (nil).
//
// Station class: `48` (river) when the summary has a water level, else `50` (rain).
//
// ZT (45, 32 bits): the standard's bits where the box knows them — bit 2 water level over its
// limit (a water-level rule holds a colour level), bit 6 water-level meter fault — and, in bits
// the standard leaves reserved, the box's own: bits 16–18 the warning level (0 none, 1 blue,
// 2 yellow, 3 orange, 4 red), bit 19 a drill, bit 20 some sensor faulty (degraded). A centre that
// does not know them ignores reserved bits; one that does reads the level without JSON.
import WarningLogic

package enum SL651ReportMapping {
    package static let bitWaterLevelAlarm: UInt32 = 1 << 2
    package static let bitWaterLevelMeterFault: UInt32 = 1 << 6
    package static let levelShift: UInt32 = 16
    package static let bitExercise: UInt32 = 1 << 19
    package static let bitDegraded: UInt32 = 1 << 20

    package struct Problem: Error, CustomStringConvertible, Equatable {
        package var description: String

        package init(description: String) { self.description = description }
    }

    /// Whether a report of `kind` has an SL 651 form.
    package static func hasFrame(kind: String) -> Bool {
        kind == ObservationSummary.kind || kind == "levelChanged"
    }

    /// The uplink frame of a report's content, or nil when it has no SL 651 form.
    /// - sequence: the report's number, for the problem's text.
    /// - time, exercise: the report's own; a level change is observed at its time.
    /// - latestObservation: for a level change, the newest observation summary before it.
    /// - waterLevelRules: rule ids whose measure is a water level, for ZT's bit 2.
    package static func frame(
        _ content: ReportContent, sequence: Int64, time: Timestamp, exercise: Bool, identity: SL651StationIdentity, serialNumber: UInt16,
        sendTime: SL651LocalTime, utcOffsetMinutes: Int, latestObservation: ObservationSummary? = nil, waterLevelRules: Set<String> = [],
        mapping: SL651MappingConfiguration = SL651MappingConfiguration()
    ) throws(Problem) -> [UInt8]? {
        do {
            switch content {
            case .observationSummary(let summary):
                let observed = try localTime(Timestamp(millisecondsSinceUnixEpoch: summary.observedAtMilliseconds), utcOffsetMinutes: utcOffsetMinutes)
                let level = WarningLevel(name: summary.level) ?? .none
                let status = statusBits(level: level, exercise: exercise, summary: summary, waterLevelHeld: false)
                if mapping.hourly && summary.periodMilliseconds == Milliseconds.hour {
                    return try SL651UplinkEncoder.report(
                        identity: identity, functionCode: .hourlyReport, serialNumber: serialNumber, sendTime: sendTime,
                        report: try hourlyReport(summary, status: status, utcOffsetMinutes: utcOffsetMinutes, mapping: mapping))
                }
                let body = SL651Report(
                    stationClass: stationClass(summary), observationTime: observed,
                    elements: try elements(summary, mapping: mapping) + [.statusAndAlarm(bits: status)])
                return try SL651UplinkEncoder.report(
                    identity: identity, functionCode: .timedReport, serialNumber: serialNumber, sendTime: sendTime, report: body)
            case .engine(.levelChanged(_, let to, let causes)):
                let observed = try localTime(time, utcOffsetMinutes: utcOffsetMinutes)
                let held = to != .none && causes.contains(where: waterLevelRules.contains)
                let status = statusBits(level: to, exercise: exercise, summary: latestObservation, waterLevelHeld: held)
                let values = try latestObservation.map { try elements($0, mapping: mapping) } ?? []
                let body = SL651Report(
                    stationClass: latestObservation.map(stationClass) ?? .rainfall, observationTime: observed,
                    elements: values + [.statusAndAlarm(bits: status)])
                return try SL651UplinkEncoder.report(
                    identity: identity, functionCode: .addReport, serialNumber: serialNumber, sendTime: sendTime, report: body)
            case .engine, .boxRecord, .damaged:
                return nil
            }
        } catch let error as SL651EncodingError {
            throw Problem(description: "report \(sequence) has no valid SL 651 frame: \(error.description)")
        } catch {
            throw Problem(description: "report \(sequence) has no valid SL 651 frame: \(error)")
        }
    }

    /// Station-local time to the minute (observation times are whole minutes; seconds dropped).
    package static func localTime(_ time: Timestamp, utcOffsetMinutes: Int, keepSeconds: Bool = false) throws -> SL651LocalTime {
        let fields = ISO8601.localFields(time, utcOffsetMinutes: utcOffsetMinutes)
        let milliseconds = time.millisecondsSinceUnixEpoch
        let second = Int(((milliseconds / 1_000) % 60 + 60) % 60)
        return try SL651LocalTime(year: fields.year, month: fields.month, day: fields.day, hour: fields.hour, minute: fields.minute,
                                  second: keepSeconds ? second : 0)
    }

    package static func stationClass(_ summary: ObservationSummary) -> SL651StationClass {
        summary.sensors.contains { $0.waterLevelMeters != nil } ? .river : .rainfall
    }

    /// The hourly report `34` of an hourly summary (SL 651 table 43): the first slot's time, F4, PT,
    /// F5, then the hour's own time and the point values. A slot the box did not watch goes as the
    /// standard's "invalid" (FF / FFFF), never as zero rain.
    package static func hourlyReport(
        _ summary: ObservationSummary, status: UInt32, utcOffsetMinutes: Int, mapping: SL651MappingConfiguration
    ) throws -> SL651Report {
        let hourEnd = Timestamp(millisecondsSinceUnixEpoch: summary.observedAtMilliseconds)
        let firstSlot = try localTime(hourEnd.adding(milliseconds: -Milliseconds.hour + 5 * Milliseconds.minute), utcOffsetMinutes: utcOffsetMinutes)
        let noSlots = [Double?](repeating: nil, count: 12)
        var series: [SL651Element] = []
        if let gauge = summary.sensors.first(where: { $0.kind == SensorKind.rainGauge.rawValue }) {
            let tenths = (gauge.rainMillimeters5min ?? noSlots).map { slot in
                slot.flatMap { SL651Rounding.scaledHalfAwayFromZero($0, decimals: 1) }.map { Int($0) }
            }
            series.append(try .fiveMinuteRainfallsCarryingOverflow(tenthsMillimeters: tenths))
            if let total = gauge.rainMillimetersTotal { series.append(try .cumulativeRainfall(millimeters: total)) }
        }
        if let level = summary.sensors.first(where: { $0.kind == SensorKind.waterLevel.rawValue }) {
            series.append(try .fiveMinuteWaterLevels(meters: level.waterLevelMeters5min ?? noSlots))
        }
        var atHour: [SL651Element] = []
        if let gauge = summary.sensors.first(where: { $0.kind == SensorKind.rainGauge.rawValue }) {
            if let value = gauge.rainMillimeters1h { atHour.append(try .rainfall1Hour(millimeters: value)) }
            if let value = gauge.rainMillimetersToday { atHour.append(try .rainfallDay(millimeters: value)) }
        }
        if let level = summary.sensors.first(where: { $0.waterLevelMeters != nil })?.waterLevelMeters {
            atHour.append(try .riverLevel(meters: level))
        }
        atHour += try displacementElements(summary, mapping: mapping)
        if let volts = summary.supplyVolts { atHour.append(try .supplyVoltage(volts: volts)) }
        atHour.append(.statusAndAlarm(bits: status))
        let hour = try localTime(hourEnd, utcOffsetMinutes: utcOffsetMinutes)
        return SL651Report(stationClass: stationClass(summary), observationTime: firstSlot, elements: series + [.observationTime(hour)] + atHour)
    }

    /// Each displacement sensor the county named an `FFxx` identifier for, in configuration order of the summary.
    package static func displacementElements(_ summary: ObservationSummary, mapping: SL651MappingConfiguration) throws -> [SL651Element] {
        try summary.sensors.compactMap { sensor in
            guard sensor.kind == SensorKind.displacement.rawValue, let value = sensor.displacementMillimeters,
                  let identifier = mapping.displacement[sensor.id]
            else { return nil }
            return try SL651Element.numeric(identifier.element(sensor: sensor.id), value)
        }
    }

    /// PJ, PT, P1, P6, PD of the first rain gauge with values, Z of the first water-level sensor,
    /// the named displacement sensors, VT.
    package static func elements(_ summary: ObservationSummary, mapping: SL651MappingConfiguration = SL651MappingConfiguration()) throws -> [SL651Element] {
        var elements: [SL651Element] = []
        if let gauge = summary.sensors.first(where: { $0.kind == SensorKind.rainGauge.rawValue }) {
            if let value = gauge.rainMillimetersPeriod { elements.append(try .currentRainfall(millimeters: value)) }
            if let value = gauge.rainMillimetersTotal { elements.append(try .cumulativeRainfall(millimeters: value)) }
            if let value = gauge.rainMillimeters1h { elements.append(try .rainfall1Hour(millimeters: value)) }
            if let value = gauge.rainMillimeters6h { elements.append(try .rainfall6Hours(millimeters: value)) }
            if let value = gauge.rainMillimetersToday { elements.append(try .rainfallDay(millimeters: value)) }
        }
        if let level = summary.sensors.first(where: { $0.waterLevelMeters != nil })?.waterLevelMeters {
            elements.append(try .riverLevel(meters: level))
        }
        elements += try displacementElements(summary, mapping: mapping)
        if let volts = summary.supplyVolts { elements.append(try .supplyVoltage(volts: volts)) }
        return elements
    }

    package static func statusBits(level: WarningLevel, exercise: Bool, summary: ObservationSummary?, waterLevelHeld: Bool) -> UInt32 {
        var bits = UInt32(levelNumber(level)) << levelShift
        if exercise { bits |= bitExercise }
        if waterLevelHeld { bits |= bitWaterLevelAlarm }
        if let summary {
            if summary.sensors.contains(where: { $0.kind == SensorKind.waterLevel.rawValue && $0.faulty }) { bits |= bitWaterLevelMeterFault }
            if summary.sensors.contains(where: \.faulty) { bits |= bitDegraded }
        }
        return bits
    }

    package static func levelNumber(_ level: WarningLevel) -> Int {
        switch level {
        case .none: 0
        case .blue: 1
        case .yellow: 2
        case .orange: 3
        case .red: 4
        }
    }
}
