// Warning levels and per-level thresholds.

/// The four colours of Chinese warning practice, lowest to highest, plus none.
/// blue = 四级, yellow = 三级, orange = 二级, red = 一级.
public enum WarningLevel: Int, Comparable, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case none = 0
    case blue = 1
    case yellow = 2
    case orange = 3
    case red = 4

    public static func < (a: WarningLevel, b: WarningLevel) -> Bool { a.rawValue < b.rawValue }

    /// The lower-case English name used in configuration, scenarios and JSON ("none", "blue", …).
    public var name: String {
        switch self {
        case .none: "none"
        case .blue: "blue"
        case .yellow: "yellow"
        case .orange: "orange"
        case .red: "red"
        }
    }

    /// The Chinese name a villager hears and reads.
    public var chineseName: String {
        switch self {
        case .none: "无预警"
        case .blue: "蓝色预警"
        case .yellow: "黄色预警"
        case .orange: "橙色预警"
        case .red: "红色预警"
        }
    }

    public init?(name: String) {
        guard let level = WarningLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public var description: String { name }

    /// The colours that can carry a threshold (every level but none).
    public static let colours: [WarningLevel] = [.blue, .yellow, .orange, .red]
}

/// Thresholds for one measure: any subset of the four colours, strictly increasing with the level.
/// A level is reached when the measure is greater than or equal to (≥) its threshold.
public struct Thresholds: Hashable, Codable, Sendable {
    public var blue: Double?
    public var yellow: Double?
    public var orange: Double?
    public var red: Double?

    public init(blue: Double? = nil, yellow: Double? = nil, orange: Double? = nil, red: Double? = nil) {
        self.blue = blue
        self.yellow = yellow
        self.orange = orange
        self.red = red
    }

    public subscript(level: WarningLevel) -> Double? {
        get {
            switch level {
            case .none: nil
            case .blue: blue
            case .yellow: yellow
            case .orange: orange
            case .red: red
            }
        }
        set {
            switch level {
            case .none: break
            case .blue: blue = newValue
            case .yellow: yellow = newValue
            case .orange: orange = newValue
            case .red: red = newValue
            }
        }
    }

    /// The highest level whose threshold `value` reaches (≥), or none.
    public func level(reachedBy value: Double) -> WarningLevel {
        for level in WarningLevel.colours.reversed() {
            if let threshold = self[level], value >= threshold { return level }
        }
        return .none
    }

    /// The set thresholds in level order, for validation and display.
    public var defined: [(level: WarningLevel, value: Double)] {
        WarningLevel.colours.compactMap { level in self[level].map { (level, $0) } }
    }

    /// True when at least one threshold is set and each set one is above the one before it.
    public var isStrictlyIncreasing: Bool {
        let values = defined.map(\.value)
        guard !values.isEmpty else { return false }
        return zip(values, values.dropFirst()).allSatisfy { $0 < $1 }
    }
}
