// A read-only view of the engine at an instant: for status pages, charts and reports.

public struct StationStatus: Hashable, Codable, Sendable {
    public var time: Timestamp
    /// The real station level (never lowered or hidden by a drill).
    public var level: WarningLevel
    public var causes: [String]
    /// The drill level, when a drill is running.
    public var drillLevel: WarningLevel?
    /// The level the outputs show: the higher of the real and the drill level.
    public var outputLevel: WarningLevel
    /// Some sensor is faulty: not an alarm, but the county must know.
    public var degraded: Bool
    /// When the level will be lowered if nothing rises again; nil when no lowering is pending.
    public var lowerAt: Timestamp?
    /// A latched level waiting for a person to clear it.
    public var latchedLevel: WarningLevel?
    /// The pending 叫应 deadline, if an answer is awaited.
    public var acknowledgementDeadline: Timestamp?
    public var sensors: [SensorStatus]
    public var measures: [MeasureStatus]
    /// While a level is latched: what clearing the latch now would leave, decided as the engine
    /// decides, so the shell says exactly what `alarm clear` does.
    public var latchClear: LatchClearOutcome?
    /// The 叫应 of the real warning (else the drill's): who answered, who not.
    public var acknowledgement: AcknowledgementStatus?

    public init(
        time: Timestamp, level: WarningLevel, causes: [String], drillLevel: WarningLevel?, outputLevel: WarningLevel,
        degraded: Bool, lowerAt: Timestamp?, latchedLevel: WarningLevel?, acknowledgementDeadline: Timestamp?,
        sensors: [SensorStatus], measures: [MeasureStatus], latchClear: LatchClearOutcome? = nil,
        acknowledgement: AcknowledgementStatus? = nil
    ) {
        self.acknowledgement = acknowledgement
        self.time = time
        self.level = level
        self.causes = causes
        self.drillLevel = drillLevel
        self.outputLevel = outputLevel
        self.degraded = degraded
        self.lowerAt = lowerAt
        self.latchedLevel = latchedLevel
        self.acknowledgementDeadline = acknowledgementDeadline
        self.sensors = sensors
        self.measures = measures
        self.latchClear = latchClear
    }

    /// The ids of the county warnings in force. A county warning raises the station to at least
    /// its level, and every cause at the station level is listed, so a county warning in force
    /// below the station level can only be one under a station level of yellow or more.
    public var countyWarningIds: [String] {
        causes.filter { $0.hasPrefix("county:") }.map { String($0.dropFirst("county:".count)) }
    }
}

/// What clearing a latch leaves: the level the rules, the manual and the county levels hold
/// without it, and why.
public struct LatchClearOutcome: Hashable, Codable, Sendable {
    /// The latched level now.
    public var latchedLevel: WarningLevel
    /// The station level right after the clear.
    public var level: WarningLevel
    /// What holds that level (rule ids, combined rule ids, `manual`, `county:<id>`); empty when
    /// nothing meets it any more and only the clear_after wait keeps it.
    public var causes: [String]
    /// When the level will be lowered if nothing meets it again; nil when something meets it.
    public var lowerAt: Timestamp?

    public init(latchedLevel: WarningLevel, level: WarningLevel, causes: [String], lowerAt: Timestamp?) {
        self.latchedLevel = latchedLevel
        self.level = level
        self.causes = causes
        self.lowerAt = lowerAt
    }
}

public struct SensorStatus: Hashable, Codable, Sendable {
    public var id: String
    public var faulty: Bool
    /// Why it is faulty ("no data for 30m", "reading 12.5 outside [0, 10] m",
    /// "5 read failures in a row: timeout", "more than 600 tips in a minute: chattering reed switch?").
    public var faultReason: String?
    public var lastValue: Double?
    public var lastTime: Timestamp?
    public var readFailuresConsecutive: Int
    /// Rain gauges: every tip counted since the engine state began.
    public var tipsTotal: Int64?

    public init(
        id: String, faulty: Bool, faultReason: String?, lastValue: Double?, lastTime: Timestamp?,
        readFailuresConsecutive: Int, tipsTotal: Int64?
    ) {
        self.id = id
        self.faulty = faulty
        self.faultReason = faultReason
        self.lastValue = lastValue
        self.lastTime = lastTime
        self.readFailuresConsecutive = readFailuresConsecutive
        self.tipsTotal = tipsTotal
    }
}

/// One rule's measure now, and the level it meets.
public struct MeasureStatus: Hashable, Codable, Sendable {
    public var ruleId: String
    public var sensorId: String
    public var measure: Measure
    /// nil when there is no data yet, or the sensor is faulty.
    public var value: Double?
    public var levelMet: WarningLevel
    /// The rule's thresholds, so a status can show the measure against the next one.
    public var thresholds: Thresholds

    public init(ruleId: String, sensorId: String, measure: Measure, value: Double?, levelMet: WarningLevel, thresholds: Thresholds = Thresholds()) {
        self.ruleId = ruleId
        self.sensorId = sensorId
        self.measure = measure
        self.value = value
        self.levelMet = levelMet
        self.thresholds = thresholds
    }
}
