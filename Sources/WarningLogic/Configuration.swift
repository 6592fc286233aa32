// What a county configures, as the engine needs it: already validated, every default filled in.
// (The TOML file and its error messages live in VillageGateway; this is the checked result.)

/// Everything the engine needs to decide levels and actions.
public struct EngineConfiguration: Hashable, Codable, Sendable {
    public var station: StationIdentity
    public var sensors: [SensorConfiguration]
    public var rules: [Rule]
    public var combinedRules: [CombinedRule]
    public var logic: LogicConfiguration
    public var contacts: [Contact]
    public var acknowledgement: AcknowledgementPolicy
    /// Outputs per level; a level with no entry drives nothing but reports.
    public var outputs: [WarningLevel: LevelOutputs]
    /// Spoken when a drill ends (stopped, or pre-empted by a real warning), marked exercise.
    /// Never the all-clear: "预警解除" after a drill would tell the village a real warning ended.
    public var drillEndMessage: String

    /// The drill-end message unless the county writes its own.
    public static let drillEndMessageDefault = "【演练】演练结束。"

    public init(
        station: StationIdentity,
        sensors: [SensorConfiguration],
        rules: [Rule],
        combinedRules: [CombinedRule] = [],
        logic: LogicConfiguration = LogicConfiguration(),
        contacts: [Contact] = [],
        acknowledgement: AcknowledgementPolicy = AcknowledgementPolicy(),
        outputs: [WarningLevel: LevelOutputs] = [:],
        drillEndMessage: String = EngineConfiguration.drillEndMessageDefault
    ) {
        self.station = station
        self.sensors = sensors
        self.rules = rules
        self.combinedRules = combinedRules
        self.logic = logic
        self.contacts = contacts
        self.acknowledgement = acknowledgement
        self.outputs = outputs
        self.drillEndMessage = drillEndMessage
    }
}

public struct StationIdentity: Hashable, Codable, Sendable {
    /// The 10-digit SL 651 station address, as decimal digits.
    public var id: String
    /// The village's name, UTF-8 (Chinese names are normal).
    public var name: String
    /// The station's offset from UTC in minutes (+08:00 is 480). Used for the local day of
    /// the antecedent rainfall update and for times in messages.
    public var utcOffsetMinutes: Int
    /// Where the box stands (WGS-84 decimal degrees), when configured: the county's map and the
    /// CAP alert's `<circle>`. The engine never reads them.
    public var latitude: Double?
    public var longitude: Double?

    public init(id: String, name: String, utcOffsetMinutes: Int = 480, latitude: Double? = nil, longitude: Double? = nil) {
        self.id = id
        self.name = name
        self.utcOffsetMinutes = utcOffsetMinutes
        self.latitude = latitude
        self.longitude = longitude
    }
}

public enum SensorKind: String, Hashable, Codable, Sendable, CaseIterable {
    case rainGauge = "rain_gauge"
    case waterLevel = "water_level"
    case displacement = "displacement"
}

public struct SensorConfiguration: Hashable, Codable, Sendable {
    public var id: String
    public var kind: SensorKind
    /// The unit of its readings as the county writes it ("mm", "m"); shown, not converted.
    public var unit: String
    /// Readings outside [minimum, maximum] make the sensor faulty. Not used for rain gauges.
    public var rangeMinimum: Double?
    public var rangeMaximum: Double?
    /// Depth of one tip in micrometres (0.2 mm = 200, TE525's 0.254 mm = 254). Rain gauges only.
    /// Integer micrometres keep accumulations exact: tips are counted, and multiplied only
    /// when compared or reported.
    public var micrometersPerTip: Int64?
    /// No data for this long makes the sensor faulty. Never applied to rain-gauge tips
    /// (a dry gauge is silent). nil: never stale.
    public var staleAfterMilliseconds: Int64?
    /// This many consecutive read failures make the sensor faulty.
    public var readFailuresMax: Int
    /// Displacement only: the baseline from which cumulative displacement is measured;
    /// nil takes the first good reading as the baseline.
    public var displacementBaseline: Double?
    /// Displacement only: the steady (constant-velocity) creep rate in mm/day that the improved
    /// tangent-angle method divides by, so that steady creep plots at 45°.
    public var steadyRateMillimetersPerDay: Double?
    /// Displacement only: the span over which the tangent angle's current rate is measured.
    public var tangentSpanMilliseconds: Int64

    public init(
        id: String,
        kind: SensorKind,
        unit: String,
        rangeMinimum: Double? = nil,
        rangeMaximum: Double? = nil,
        micrometersPerTip: Int64? = nil,
        staleAfterMilliseconds: Int64? = nil,
        readFailuresMax: Int = 3,
        displacementBaseline: Double? = nil,
        steadyRateMillimetersPerDay: Double? = nil,
        tangentSpanMilliseconds: Int64 = Milliseconds.day
    ) {
        self.id = id
        self.kind = kind
        self.unit = unit
        self.rangeMinimum = rangeMinimum
        self.rangeMaximum = rangeMaximum
        self.micrometersPerTip = micrometersPerTip
        self.staleAfterMilliseconds = staleAfterMilliseconds
        self.readFailuresMax = readFailuresMax
        self.displacementBaseline = displacementBaseline
        self.steadyRateMillimetersPerDay = steadyRateMillimetersPerDay
        self.tangentSpanMilliseconds = tangentSpanMilliseconds
    }
}

/// What endangers the village, for choosing the words of a warning: a slope warning that speaks
/// of rain sends people to the wrong place. Taken from the causing rule's sensor kind; a combined
/// rule names its own.
public enum Hazard: String, Hashable, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Rain: a flash flood (山洪).
    case rain
    /// A stream's or a pond's water level: a flood (洪水).
    case waterLevel = "water_level"
    /// A slope that moves: a landslide (滑坡).
    case slope

    public init(sensorKind: SensorKind) {
        switch sensorKind {
        case .rainGauge: self = .rain
        case .waterLevel: self = .waterLevel
        case .displacement: self = .slope
        }
    }

    /// The configuration name: rain, water_level, slope.
    public var name: String { rawValue }
    public var description: String { rawValue }
}

/// What a rule measures. Windows are durations so a county may use any span; the configuration
/// names (`rain_1h`, `water_rise_1h`, `displacement_rate_24h`) map onto these.
public enum Measure: Hashable, Codable, Sendable, CustomStringConvertible {
    /// Rain in mm that fell in (t − window, t]. Rain gauges.
    case rainAccumulation(windowMilliseconds: Int64)
    /// The antecedent rainfall index P_a in mm: the value set at the last daily update plus the
    /// rain since then. Rain gauges.
    case rainAntecedent
    /// The latest reading. Water-level sensors.
    case waterLevel
    /// Latest reading minus the reading at or just before t − span (m). Water-level sensors.
    case waterRise(spanMilliseconds: Int64)
    /// Latest reading minus the baseline (mm). Displacement sensors.
    case displacement
    /// Displacement over the span, in mm/day. Displacement sensors.
    case displacementRate(spanMilliseconds: Int64)
    /// The improved tangent angle (Xu Qiang et al. 2009) in degrees: atan(rate / steady rate).
    case tangentAngle

    /// The configuration name: `rain_1h`, `rain_10m`, `water_rise_1h`, `displacement_rate_24h`, …
    public var name: String {
        switch self {
        case .rainAccumulation(let window): "rain_" + Measure.durationSuffix(window)
        case .rainAntecedent: "rain_antecedent"
        case .waterLevel: "water_level"
        case .waterRise(let span): "water_rise_" + Measure.durationSuffix(span)
        case .displacement: "displacement"
        case .displacementRate(let span): "displacement_rate_" + Measure.durationSuffix(span)
        case .tangentAngle: "tangent_angle"
        }
    }

    /// The unit the measure's value is in, for reports and charts.
    public var unit: String {
        switch self {
        case .rainAccumulation, .rainAntecedent: "mm"
        case .waterLevel, .waterRise: "m"
        case .displacement: "mm"
        case .displacementRate: "mm/d"
        case .tangentAngle: "°"
        }
    }

    /// The sensor kind this measure is computed from.
    public var sensorKind: SensorKind {
        switch self {
        case .rainAccumulation, .rainAntecedent: .rainGauge
        case .waterLevel, .waterRise: .waterLevel
        case .displacement, .displacementRate, .tangentAngle: .displacement
        }
    }

    public var description: String { name }

    /// Parses a configuration name. The span suffix is a whole number of d, h, m or s.
    public init?(name: String) {
        func span(after prefix: String) -> Int64? {
            guard name.hasPrefix(prefix) else { return nil }
            return Measure.parseDurationSuffix(String(name.dropFirst(prefix.count)))
        }
        switch name {
        case "rain_antecedent": self = .rainAntecedent
        case "water_level": self = .waterLevel
        case "displacement": self = .displacement
        case "tangent_angle": self = .tangentAngle
        default:
            if let window = span(after: "rain_") {
                self = .rainAccumulation(windowMilliseconds: window)
            } else if let rise = span(after: "water_rise_") {
                self = .waterRise(spanMilliseconds: rise)
            } else if let rate = span(after: "displacement_rate_") {
                self = .displacementRate(spanMilliseconds: rate)
            } else {
                return nil
            }
        }
    }

    /// The names of the measures, for help texts and error messages.
    public static let standardNames = [
        "rain_10m", "rain_1h", "rain_3h", "rain_6h", "rain_12h", "rain_24h", "rain_antecedent",
        "water_level", "water_rise_1h", "displacement", "displacement_rate_24h", "tangent_angle",
    ]

    static func durationSuffix(_ milliseconds: Int64) -> String {
        if milliseconds % Milliseconds.day == 0 && milliseconds >= 2 * Milliseconds.day {
            return "\(milliseconds / Milliseconds.day)d"
        }
        if milliseconds % Milliseconds.hour == 0 { return "\(milliseconds / Milliseconds.hour)h" }
        if milliseconds % Milliseconds.minute == 0 { return "\(milliseconds / Milliseconds.minute)m" }
        return "\(milliseconds / Milliseconds.second)s"
    }

    static func parseDurationSuffix(_ text: String) -> Int64? {
        guard let unit = text.last, let count = Int64(text.dropLast()), count > 0 else { return nil }
        switch unit {
        case "d": return count * Milliseconds.day
        case "h": return count * Milliseconds.hour
        case "m": return count * Milliseconds.minute
        case "s": return count * Milliseconds.second
        default: return nil
        }
    }
}

/// One sensor, one measure, thresholds per level.
public struct Rule: Hashable, Codable, Sendable {
    public var id: String
    public var sensorId: String
    public var measure: Measure
    public var thresholds: Thresholds

    public init(id: String, sensorId: String, measure: Measure, thresholds: Thresholds) {
        self.id = id
        self.sensorId = sensorId
        self.measure = measure
        self.thresholds = thresholds
    }
}

/// Several rule conditions at once: "24-h rain ≥ yellow AND displacement rate ≥ blue ⇒ orange".
public struct CombinedRule: Hashable, Codable, Sendable {
    public struct Condition: Hashable, Codable, Sendable {
        public var ruleId: String
        public var atLeast: WarningLevel
        public init(ruleId: String, atLeast: WarningLevel) {
            self.ruleId = ruleId
            self.atLeast = atLeast
        }
    }

    public var id: String
    /// All conditions must hold at once.
    public var conditions: [Condition]
    public var level: WarningLevel
    /// The hazard this combination warns of (rain and a moving slope: a landslide); nil: the
    /// level's general message.
    public var hazard: Hazard?

    public init(id: String, conditions: [Condition], level: WarningLevel, hazard: Hazard? = nil) {
        self.id = id
        self.conditions = conditions
        self.level = level
        self.hazard = hazard
    }
}

public struct LogicConfiguration: Hashable, Codable, Sendable {
    /// A level is lowered only once no rule has met it for this long, continuously.
    public var clearAfterMilliseconds: Int64
    /// Levels that stay until a person acknowledges and clears them.
    public var latchedLevels: Set<WarningLevel>
    /// P_a(t+1) = k · (P_a(t) + P(t)), updated once a day.
    public var antecedentDecayPerDay: Double
    /// The local hour (0–23) at which the rain day starts and P_a is updated; 8 is the Chinese
    /// hydrological day (08:00 to 08:00).
    public var rainDayStartHour: Int
    /// A rain gauge reporting more tips than this within one minute is chattering (a stuck reed
    /// switch), not raining: it is marked faulty and its tips do not feed the rules (they still
    /// count in the sensor's tipsTotal); it recovers once the rate in the last minute falls back.
    public var tipsPerMinuteMax: Int

    public init(
        clearAfterMilliseconds: Int64 = 60 * Milliseconds.minute,
        latchedLevels: Set<WarningLevel> = [],
        antecedentDecayPerDay: Double = 0.85,
        rainDayStartHour: Int = 8,
        tipsPerMinuteMax: Int = 600
    ) {
        self.clearAfterMilliseconds = clearAfterMilliseconds
        self.latchedLevels = latchedLevels
        self.antecedentDecayPerDay = antecedentDecayPerDay
        self.rainDayStartHour = rainDayStartHour
        self.tipsPerMinuteMax = tipsPerMinuteMax
    }
}

/// A person responsible (防汛责任人) for 叫应.
public struct Contact: Hashable, Codable, Sendable {
    public var name: String
    public var phone: String
    /// Contacts are called in increasing order; those with the same order are called together.
    public var order: Int

    public init(name: String, phone: String, order: Int) {
        self.name = name
        self.phone = phone
        self.order = order
    }
}

/// 叫应: who must answer, by when, and how far to escalate.
///
/// The policy (also stated in config/example.toml):
/// - the warning texts every contact of the lowest `order`;
/// - at each deadline (`deadlineMilliseconds`, the repeat interval) the broadcast repeats, every
///   contact asked so far who has not answered is chased again (rung when `callUnanswered`, else
///   texted again), and, while nobody at all has answered, the next order is texted too;
/// - when every order has been asked the unanswered keep being chased at each deadline, never just
///   the last person; after `escalationsMax` rounds the box reports who never answered and stops
///   chasing (a late answer is still recorded);
/// - an answer from a contact (SMS reply, call to the box, key in a call) stops the chase for that
///   person; when everyone asked has answered, or someone at the box answers (button, shell), the
///   叫应 is complete.
public struct AcknowledgementPolicy: Hashable, Codable, Sendable {
    /// Bounds the keywords, and the characters of each.
    public static let answerKeywordsMax = 16
    public static let answerKeywordCharactersMax = 16

    /// Reaching this level or higher asks the contacts for an answer; nil: never ask.
    public var fromLevel: WarningLevel?
    /// Unanswered for this long, the engine escalates to the next contact order and repeats
    /// the broadcast.
    public var deadlineMilliseconds: Int64
    /// After this many escalations the engine stops escalating (it keeps the level and reports
    /// that nobody answered).
    public var escalationsMax: Int
    /// An SMS reply counts as an answer only when its text (trimmed) is one of these; empty: any
    /// reply from a contact counts.
    public var answerKeywords: [String]
    /// Ring the contacts who have not answered by a deadline (instead of texting them again).
    public var callUnanswered: Bool
    /// How long a call rings before the box hangs up.
    public var callRingMilliseconds: Int64

    public init(
        fromLevel: WarningLevel? = .yellow, deadlineMilliseconds: Int64 = 10 * Milliseconds.minute, escalationsMax: Int = 5,
        answerKeywords: [String] = [], callUnanswered: Bool = false, callRingMilliseconds: Int64 = 30 * Milliseconds.second
    ) {
        self.fromLevel = fromLevel
        self.deadlineMilliseconds = deadlineMilliseconds
        self.escalationsMax = escalationsMax
        self.answerKeywords = answerKeywords
        self.callUnanswered = callUnanswered
        self.callRingMilliseconds = callRingMilliseconds
    }

    /// Whether an SMS reply's text counts as an answer.
    public func acceptsReply(_ text: String) -> Bool {
        guard !answerKeywords.isEmpty else { return true }
        let trimmed = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        return answerKeywords.contains(trimmed)
    }
}

public enum SirenPattern: Hashable, Codable, Sendable, CustomStringConvertible {
    case off
    case continuous
    /// On for `onMilliseconds`, off for `offMilliseconds`, repeating.
    case intermittent(onMilliseconds: Int64, offMilliseconds: Int64)

    public var description: String {
        switch self {
        case .off: "off"
        case .continuous: "continuous"
        case .intermittent(let on, let off): "intermittent \(on)ms on/\(off)ms off"
        }
    }
}

public enum LampColour: String, Hashable, Codable, Sendable, CaseIterable {
    case blue, yellow, orange, red
}

/// What the box does at a level.
public struct LevelOutputs: Hashable, Codable, Sendable {
    public var siren: SirenPattern
    public var lamp: LampColour?
    /// Spoken and broadcast; also the SMS text for 叫应. Used when the level's causes name no
    /// single hazard, or the hazard has no text of its own.
    public var message: String
    /// While the level holds, repeat the broadcast this often; nil: once.
    public var repeatEveryMilliseconds: Int64?
    /// The words for one hazard at this level (a landslide warning speaks of the slope, not of
    /// rain); a hazard without an entry speaks `message`.
    public var hazardMessages: [Hazard: String]

    public init(
        siren: SirenPattern, lamp: LampColour?, message: String, repeatEveryMilliseconds: Int64? = nil, hazardMessages: [Hazard: String] = [:]
    ) {
        self.siren = siren
        self.lamp = lamp
        self.message = message
        self.repeatEveryMilliseconds = repeatEveryMilliseconds
        self.hazardMessages = hazardMessages
    }

    /// The text for a warning of `hazard` (nil: no single hazard) at this level.
    public func message(for hazard: Hazard?) -> String {
        hazard.flatMap { hazardMessages[$0] } ?? message
    }
}
