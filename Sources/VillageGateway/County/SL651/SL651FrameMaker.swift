// The SL 651 frame of a stored outbox report, as the pull API and the TCP push both send it: the
// box's side of the shared mapping (CountyProtocol's `SL651ReportMapping`), with the station's
// configuration and the outbox to look up the observation a level change carries.
import Logging
import WarningLogic

extension SL651ReportMapping {
    /// The uplink frame for `stored`, or nil when its kind has no SL 651 form. A report of a
    /// kind that has one, whose content cannot be read, is a problem, not a silent nil.
    static func frame(
        for stored: StoredOutboxReport, content: ReportContent? = nil, identity: SL651StationIdentity, serialNumber: UInt16,
        sendTime: SL651LocalTime, utcOffsetMinutes: Int, latestObservation: ObservationSummary? = nil, waterLevelRules: Set<String> = [],
        mapping: SL651MappingConfiguration = SL651MappingConfiguration()
    ) throws(Problem) -> [UInt8]? {
        let report = stored.report
        let content = content ?? stored.content
        if let damage = content.damage {
            guard hasFrame(kind: report.kind) else { return nil }
            throw Problem(description: "report \(stored.sequence) (\(report.kind)) is damaged: \(damage)")
        }
        return try frame(
            content, sequence: stored.sequence, time: report.time, exercise: report.exercise, identity: identity, serialNumber: serialNumber,
            sendTime: sendTime, utcOffsetMinutes: utcOffsetMinutes, latestObservation: latestObservation, waterLevelRules: waterLevelRules,
            mapping: mapping)
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
    /// SL 651's range, a damaged row: logged; its JSON form still carries it). `content` saves
    /// reading the payload again when the caller has it; `latestObservation` saves the look-up
    /// when the caller walks reports in order; nil looks it up.
    func frame(
        for stored: StoredOutboxReport, content: ReportContent? = nil, serialNumber: UInt16, sendTime: SL651LocalTime,
        latestObservation: ObservationSummary? = nil
    ) -> [UInt8]? {
        guard SL651ReportMapping.hasFrame(kind: stored.report.kind) else { return nil }
        let content = content ?? stored.content
        var observation = latestObservation
        if case .engine(.levelChanged) = content, observation == nil,
            let earlier = try? outbox.latestReport(kind: ObservationSummary.kind, before: stored.sequence)
        {
            // A damaged summary carries no values: the level change goes with its level only.
            observation = earlier.content.observationSummary
        }
        do {
            return try SL651ReportMapping.frame(
                for: stored, content: content, identity: identity, serialNumber: serialNumber, sendTime: sendTime,
                utcOffsetMinutes: utcOffsetMinutes, latestObservation: observation, waterLevelRules: waterLevelRules, mapping: mapping)
        } catch {
            logger.error("report \(stored.sequence) has no SL 651 frame: \(error.description)")
            return nil
        }
    }
}
