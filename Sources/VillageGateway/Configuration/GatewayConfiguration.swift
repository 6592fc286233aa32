// The whole checked configuration of one box, and the bounds every part of it must keep.
import WarningLogic

/// Everything `gateway.toml` configures, validated, every default filled in.
struct GatewayConfiguration: Sendable, Equatable {
    /// Sensors, rules, levels and outputs: what the warning engine needs.
    var engine: EngineConfiguration
}

/// Bounds on the configuration: a box runs for years unattended, so nothing read from the file
/// is unbounded. Each is generous for a village and small for an ARM board.
enum ConfigurationLimits {
    /// A full village configuration is a few kilobytes; a bigger file is the wrong file.
    static let fileBytesMax = 256 * 1024
    static let sensorsMax = 32
    static let rulesMax = 128
    static let combinedRulesMax = 32
    static let conditionsPerCombinedRuleMax = 8
    static let contactsMax = 32
    /// Ids of sensors and rules appear in logs, SMS and reports: short, ASCII.
    static let idCharactersMax = 32
    static let stationNameCharactersMax = 64
    static let contactNameCharactersMax = 32
    /// An SMS of 8 concatenated UCS-2 parts holds 8 × 67 = 536 characters; a broadcast longer
    /// than this is not listened to the end anyway.
    static let messageCharactersMax = 500
    /// Enough problems to fix in one sitting; more would scroll the first ones away.
    static let problemsMax = 100
    /// Rule windows and spans: from a minute (below that a gauge says nothing) to a week
    /// (the engine keeps this much history per sensor).
    static let measureSpanMillisecondsMin: Int64 = 60_000
    static let measureSpanMillisecondsMax: Int64 = 7 * 86_400_000
}
