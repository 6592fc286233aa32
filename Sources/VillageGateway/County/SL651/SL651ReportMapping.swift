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
import Foundation
import Logging
import WarningLogic

enum SL651ReportMapping {
    static let bitWaterLevelAlarm: UInt32 = 1 << 2
    static let bitWaterLevelMeterFault: UInt32 = 1 << 6
    static let levelShift: UInt32 = 16
    static let bitExercise: UInt32 = 1 << 19
    static let bitDegraded: UInt32 = 1 << 20

    struct Problem: Error, CustomStringConvertible, Equatable {
        var description: String
    }

    /// Whether a report of `kind` has an SL 651 form.
    static func hasFrame(kind: String) -> Bool {
        kind == ObservationSummary.kind || kind == "levelChanged"
    }

    /// The uplink frame for `stored`, or nil when its kind has no SL 651 form.
    /// - latestObservation: for a level change, the newest observation summary before it.
    /// - waterLevelRules: rule ids whose measure is a water level, for ZT's bit 2.
    static func frame(
        for stored: StoredOutboxReport, identity: SL651StationIdentity, serialNumber: UInt16, sendTime: SL651LocalTime,
        utcOffsetMinutes: Int, latestObservation: ObservationSummary? = nil, waterLevelRules: Set<String> = [],
        mapping: SL651MappingConfiguration = SL651MappingConfiguration()
    ) throws(Problem) -> [UInt8]? {
        let report = stored.report
        let decoder = JSONDecoder()
        do {
            switch report.kind {
            case ObservationSummary.kind:
                let summary = try decoder.decode(ObservationSummary.self, from: Data(report.payload.utf8))
                let observed = try localTime(Timestamp(millisecondsSinceUnixEpoch: summary.observedAtMilliseconds), utcOffsetMinutes: utcOffsetMinutes)
                let level = WarningLevel(name: summary.level) ?? .none
                let status = statusBits(level: level, exercise: report.exercise, summary: summary, waterLevelHeld: false)
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
            case "levelChanged":
                let kind = try decoder.decode(Report.Kind.self, from: Data(report.payload.utf8))
                guard case .levelChanged(_, let to, let causes) = kind else { return nil }
                let observed = try localTime(report.time, utcOffsetMinutes: utcOffsetMinutes)
                let held = to != .none && causes.contains(where: waterLevelRules.contains)
                let status = statusBits(level: to, exercise: report.exercise, summary: latestObservation, waterLevelHeld: held)
                let values = try latestObservation.map { try elements($0, mapping: mapping) } ?? []
                let body = SL651Report(
                    stationClass: latestObservation.map(stationClass) ?? .rainfall, observationTime: observed,
                    elements: values + [.statusAndAlarm(bits: status)])
                return try SL651UplinkEncoder.report(
                    identity: identity, functionCode: .addReport, serialNumber: serialNumber, sendTime: sendTime, report: body)
            default:
                return nil
            }
        } catch let error as SL651EncodingError {
            throw Problem(description: "report \(stored.sequence) (\(report.kind)) has no valid SL 651 frame: \(error.description)")
        } catch {
            throw Problem(description: "report \(stored.sequence) (\(report.kind)): its stored payload is not the expected JSON (\(error))")
        }
    }

    /// Station-local time to the minute (observation times are whole minutes; seconds dropped).
    static func localTime(_ time: Timestamp, utcOffsetMinutes: Int, keepSeconds: Bool = false) throws -> SL651LocalTime {
        let fields = ISO8601.localFields(time, utcOffsetMinutes: utcOffsetMinutes)
        let milliseconds = time.millisecondsSinceUnixEpoch
        let second = Int(((milliseconds / 1_000) % 60 + 60) % 60)
        return try SL651LocalTime(year: fields.year, month: fields.month, day: fields.day, hour: fields.hour, minute: fields.minute,
                                  second: keepSeconds ? second : 0)
    }

    static func stationClass(_ summary: ObservationSummary) -> SL651StationClass {
        summary.sensors.contains { $0.waterLevelMeters != nil } ? .river : .rainfall
    }

    /// The hourly report `34` of an hourly summary (SL 651 table 43): the first slot's time, F4, PT,
    /// F5, then the hour's own time and the point values. A slot the box did not watch goes as the
    /// standard's "invalid" (FF / FFFF), never as zero rain.
    static func hourlyReport(
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
    static func displacementElements(_ summary: ObservationSummary, mapping: SL651MappingConfiguration) throws -> [SL651Element] {
        try summary.sensors.compactMap { sensor in
            guard sensor.kind == SensorKind.displacement.rawValue, let value = sensor.displacementMillimeters,
                  let identifier = mapping.displacement[sensor.id]
            else { return nil }
            return try SL651Element.numeric(identifier.element(sensor: sensor.id), value)
        }
    }

    /// PJ, PT, P1, P6, PD of the first rain gauge with values, Z of the first water-level sensor,
    /// the named displacement sensors, VT.
    static func elements(_ summary: ObservationSummary, mapping: SL651MappingConfiguration = SL651MappingConfiguration()) throws -> [SL651Element] {
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

    static func statusBits(level: WarningLevel, exercise: Bool, summary: ObservationSummary?, waterLevelHeld: Bool) -> UInt32 {
        var bits = UInt32(levelNumber(level)) << levelShift
        if exercise { bits |= bitExercise }
        if waterLevelHeld { bits |= bitWaterLevelAlarm }
        if let summary {
            if summary.sensors.contains(where: { $0.kind == SensorKind.waterLevel.rawValue && $0.faulty }) { bits |= bitWaterLevelMeterFault }
            if summary.sensors.contains(where: \.faulty) { bits |= bitDegraded }
        }
        return bits
    }

    static func levelNumber(_ level: WarningLevel) -> Int {
        switch level {
        case .none: 0
        case .blue: 1
        case .yellow: 2
        case .orange: 3
        case .red: 4
        }
    }
}

/// The frame of a stored report as both the pull API and the TCP push send it: the station's
/// identity, the water-level rules and, for a level change, the newest observation before it,
/// looked up in the outbox. One place, so a report has the same bytes on both paths.
struct SL651FrameMaker: Sendable {
    let identity: SL651StationIdentity
    let utcOffsetMinutes: Int
    let waterLevelRules: Set<String>
    let mapping: SL651MappingConfiguration
    let outbox: Outbox
    let logger: Logger

    init(configuration: EngineConfiguration, county: CountyConfiguration, outbox: Outbox, logger: Logger) throws(SL651ReportMapping.Problem) {
        do {
            identity = try SL651StationIdentity(
                centreAddress: county.centreAddress, stationAddress: try SL651StationAddress(digits: configuration.station.id),
                password: county.password)
        } catch {
            throw SL651ReportMapping.Problem(description: "the station identity makes no SL 651 header: \(error)")
        }
        utcOffsetMinutes = configuration.station.utcOffsetMinutes
        waterLevelRules = Set(configuration.rules.filter { $0.measure.sensorKind == .waterLevel }.map(\.id))
        mapping = county.sl651
        self.outbox = outbox
        self.logger = logger
    }

    /// The serial number a report is sent with: its outbox sequence folded into 1…65535. Derived,
    /// not counted: it survives restarts and power cuts with no extra disk write, the same report
    /// pulled or pushed twice carries the same serial (the centre sees a repetition, not a new
    /// report), and consecutive reports get consecutive serials, wrapping after 65535.
    static func serialNumber(forSequence sequence: Int64) -> UInt16 {
        precondition(sequence >= 1, "outbox sequences start at 1")
        return UInt16((sequence - 1) % 65_535 + 1)
    }

    /// The frame, or nil when the report has no SL 651 form or cannot be one (a value outside
    /// SL 651's range: logged; its JSON form still carries it). `latestObservation` saves the
    /// look-up when the caller walks reports in order; nil looks it up.
    func frame(for stored: StoredOutboxReport, serialNumber: UInt16, sendTime: SL651LocalTime, latestObservation: ObservationSummary? = nil) -> [UInt8]? {
        guard SL651ReportMapping.hasFrame(kind: stored.report.kind) else { return nil }
        var observation = latestObservation
        if stored.report.kind == "levelChanged", observation == nil,
            let earlier = try? outbox.latestReport(kind: ObservationSummary.kind, before: stored.sequence)
        {
            observation = try? JSONDecoder().decode(ObservationSummary.self, from: Data(earlier.report.payload.utf8))
        }
        do {
            return try SL651ReportMapping.frame(
                for: stored, identity: identity, serialNumber: serialNumber, sendTime: sendTime, utcOffsetMinutes: utcOffsetMinutes,
                latestObservation: observation, waterLevelRules: waterLevelRules, mapping: mapping)
        } catch {
            logger.error("report \(stored.sequence) has no SL 651 frame: \(error.description)")
            return nil
        }
    }
}
