// The whole checked configuration of one box, and the bounds every part of it must keep.
import WarningLogic

/// Everything `gateway.toml` configures, validated, every default filled in.
struct GatewayConfiguration: Sendable, Equatable {
    /// Sensors, rules, levels and outputs: what the warning engine needs.
    var engine: EngineConfiguration
    /// How sensors are read and buses framed, which input each rain gauge is, how the siren is
    /// spared: what the inputs and outputs need beyond the engine. Where things are wired is the
    /// board file's business (`BoardDescription`).
    var hardware = HardwareConfiguration()
    /// `[county]`: the outbox, observation summaries, the pull API and the push transports.
    var county = CountyConfiguration()
    /// `[shell]`: the technician shell's PIN hash and idle logout.
    var shell = ShellConfiguration()
}

/// Bounds on the configuration: a box runs for years unattended, so nothing read from the file
/// is unbounded. Each is generous for a village and small for an ARM board.
enum ConfigurationLimits {
    /// A full village configuration is a few kilobytes; a bigger file is the wrong file.
    static let fileBytesMax = ConfigurationFileLimits.fileBytesMax
    static let sensorsMax = 32
    static let rulesMax = 128
    static let combinedRulesMax = 32
    static let conditionsPerCombinedRuleMax = 8
    static let contactsMax = 32
    /// Ids of sensors and rules appear in logs, SMS and reports: short, ASCII.
    static let idCharactersMax = ConfigurationFileLimits.idCharactersMax
    static let stationNameCharactersMax = 64
    static let contactNameCharactersMax = 32
    /// An SMS of 8 concatenated UCS-2 parts holds 8 × 67 = 536 characters; a broadcast longer
    /// than this is not listened to the end anyway.
    static let messageCharactersMax = 500
    /// Enough problems to fix in one sitting; more would scroll the first ones away.
    static let problemsMax = ConfigurationFileLimits.problemsMax
    /// Rule windows and spans: from a minute (below that a gauge says nothing) to a week
    /// (the engine keeps this much history per sensor).
    static let measureSpanMillisecondsMin: Int64 = 60_000
    static let measureSpanMillisecondsMax: Int64 = 7 * 86_400_000
    /// Rain gauges the boards can wire: inputs rain_gauge and rain_gauge_2.
    static let rainGaugesMax = 2
    /// Modbus polls: from a second (a slave answers in tens of ms) to an hour (slower is not
    /// monitoring a slope in rain).
    static let modbusPollEveryMilliseconds: ClosedRange<Int64> = 1_000...3_600_000
    /// Siren protection bounds: at least 10 s either way (shorter is a flicker, not a warning),
    /// at most an hour.
    static let sirenProtectionMilliseconds: ClosedRange<Int64> = 10_000...3_600_000
}
