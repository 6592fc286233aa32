// The station level: rule levels with hysteresis, the latch, manual and county levels combined.

struct CountyWarningState: Hashable, Codable, Sendable {
    var id: String
    var level: WarningLevel
}

struct StationLevels: Hashable, Codable, Sendable {
    /// The level the rules hold, raised at once and lowered only after clear_after.
    var ruleLevel: WarningLevel = .none
    /// Since when no rule has met `ruleLevel`; nil while one does.
    var lowerPendingSince: Timestamp?
    var latchedLevel: WarningLevel?
    /// A person cleared the latch while the rules still held this level: the rules do not latch
    /// it again until they have fallen below it (then a new rise latches as usual). Without this
    /// the latch came back at the instant it was cleared, and the shell's "cleared" was untrue.
    var latchWaivedUpTo: WarningLevel?
    var manualLevel: WarningLevel?
    /// In the order they arrived; a repeated id replaces its level in place.
    var countyWarnings: [CountyWarningState] = []
    /// The real station level as last decided.
    var stationLevel: WarningLevel = .none

    /// Hundreds of county warnings at once would be a broken platform; beyond this new ids are
    /// refused (and reported) rather than growing the state without end.
    static let countyWarningsMax = 64

    /// Raise at once; lower only after `clearAfterMilliseconds` with the current level unmet.
    mutating func updateRuleLevel(met: WarningLevel, now: Timestamp, clearAfterMilliseconds: Int64) {
        if met >= ruleLevel {
            ruleLevel = met
            lowerPendingSince = nil
            return
        }
        let since = lowerPendingSince ?? now
        if now.milliseconds(since: since) >= clearAfterMilliseconds {
            // Straight to the highest level still met now, not one step at a time.
            ruleLevel = met
            lowerPendingSince = nil
        } else {
            lowerPendingSince = since
        }
    }

    /// Latches the highest latched level the rules have reached. Manual and county levels are
    /// withdrawn explicitly by whoever set them, so they do not latch.
    mutating func latch(latchedLevels: Set<WarningLevel>) {
        if let waived = latchWaivedUpTo, ruleLevel < waived {
            latchWaivedUpTo = ruleLevel > .none ? ruleLevel : nil
        }
        for level in WarningLevel.colours.reversed() where latchedLevels.contains(level) && ruleLevel >= level {
            if let waived = latchWaivedUpTo, level <= waived { return }
            latchedLevel = max(latchedLevel ?? .none, level)
            return
        }
    }

    /// A person clears the latch: the level follows the rules, manual and county levels again,
    /// and the rules' present level is not latched again until it has fallen and risen.
    mutating func clearLatch() {
        latchedLevel = nil
        latchWaivedUpTo = ruleLevel > .none ? ruleLevel : nil
    }

    var countyLevel: WarningLevel { countyWarnings.map(\.level).max() ?? .none }

    var combinedLevel: WarningLevel {
        max(ruleLevel, latchedLevel ?? .none, manualLevel ?? .none, countyLevel)
    }
}
