// One tipping-bucket rain gauge: exact tip counts over sliding windows, the antecedent index P_a,
// and the chatter check that keeps a stuck reed switch from raising an alarm.

/// Tips that arrived at one instant. Tips at the same millisecond share an entry.
struct TipEntry: Hashable, Codable, Sendable {
    var timeMilliseconds: Int64
    /// Counted tips from the start of the gauge's record up to and including this entry, so the
    /// tips in a window are one subtraction, however many entries it spans.
    var cumulativeTips: Int64
}

/// One accumulation window a rule uses, and where it starts in the tip record.
struct RainWindow: Hashable, Codable, Sendable {
    var windowMilliseconds: Int64
    /// Index in `entries` of the oldest entry inside (t − window, t]; `entries.count` when empty.
    /// Only ever moves forward as time passes, so each entry passes each window once.
    var startIndex: Int
}

/// Tips seen in the last minute, counted whether or not they feed the rules (chatter check).
struct TipBurst: Hashable, Codable, Sendable {
    var timeMilliseconds: Int64
    var tips: Int64
}

struct RainGaugeState: Hashable, Codable, Sendable {
    let sensorId: String

    // MARK: The tip record (tips that feed the rules)

    var entries: [TipEntry] = []
    /// `cumulativeTips` of the last entry compacted away, so cumulative values stay absolute.
    var cumulativeTipsBeforeEntries: Int64 = 0
    /// Tips that fed the rules since the state began (equals the last entry's cumulativeTips).
    var countedTips: Int64 = 0
    /// Every tip since the state began, chattering ones included: no tip is lost from the record.
    var tipsTotal: Int64 = 0
    var windows: [RainWindow]
    /// The most live entries the record may hold: a gauge that is not chattering cannot tip more
    /// than tipsPerMinuteMax times in any minute, so the longest window holds at most this many.
    var tipEntriesMax: Int

    // MARK: Chatter check

    var recentBursts: [TipBurst] = []
    var recentBurstsStart = 0
    var recentTips: Int64 = 0
    var tipsPerMinuteMax: Int64
    var chattering = false

    // MARK: Antecedent rainfall index

    /// P_a as set at the last daily update, in mm.
    var antecedentMillimeters = 0.0
    /// Counted tips since the last daily update: the rain of the rain day in progress.
    var tipsSinceAntecedentUpdate: Int64 = 0
    /// The rain day the index was last brought up to; nil until the gauge sees its first instant.
    var rainDayNumber: Int64?

    // MARK: Read failures (a broken GPIO line reports these)

    var readFailuresConsecutive = 0
    var readFailureReason: String?

    /// Removing dead entries only once they are at least half the array keeps compaction O(1)
    /// amortized per tip; below this many it is not worth the copy.
    static let compactionEntriesMin = 256

    init(sensorId: String, windowsMilliseconds: [Int64], tipsPerMinuteMax: Int) {
        self.sensorId = sensorId
        self.windows = windowsMilliseconds.map { RainWindow(windowMilliseconds: $0, startIndex: 0) }
        self.tipsPerMinuteMax = Int64(tipsPerMinuteMax)
        self.tipEntriesMax = RainGaugeState.entriesBound(windowsMilliseconds: windowsMilliseconds, tipsPerMinuteMax: tipsPerMinuteMax)
    }

    static func entriesBound(windowsMilliseconds: [Int64], tipsPerMinuteMax: Int) -> Int {
        let longest = windowsMilliseconds.max() ?? 0
        let minutes = (longest + Milliseconds.minute - 1) / Milliseconds.minute
        return max(1, Int(minutes) * max(1, tipsPerMinuteMax))
    }

    /// Keeps the record and the counters, re-aims the windows at a new configuration.
    mutating func reconfigure(windowsMilliseconds: [Int64], tipsPerMinuteMax: Int, now: Int64?) {
        windows = windowsMilliseconds.map { window in
            // A window the old configuration did not have starts at the first entry inside it
            // (or at the oldest kept entry when the record is shorter than the new window).
            let cutoff = (now ?? Int64.min / 2) - window
            let start = entries.firstIndex { $0.timeMilliseconds > cutoff } ?? entries.count
            return RainWindow(windowMilliseconds: window, startIndex: start)
        }
        self.tipsPerMinuteMax = Int64(tipsPerMinuteMax)
        tipEntriesMax = RainGaugeState.entriesBound(windowsMilliseconds: windowsMilliseconds, tipsPerMinuteMax: tipsPerMinuteMax)
        compact()
    }

    var faultReason: String? {
        if chattering {
            return "more than \(tipsPerMinuteMax) tips in a minute: chattering reed switch?"
        }
        if let reason = readFailureReason { return reason }
        return nil
    }

    /// Asked for every rule at every event: cheap, no string built.
    var isFaulty: Bool { chattering || readFailureReason != nil }

    // MARK: Time passing

    /// Slides every window, the chatter minute and the rain day up to `now`.
    mutating func advance(to now: Int64, rainDay: Int64, antecedentDecayPerDay: Double, micrometersPerTip: Int64) {
        for index in windows.indices {
            let cutoff = now - windows[index].windowMilliseconds
            var start = windows[index].startIndex
            while start < entries.count && entries[start].timeMilliseconds <= cutoff { start += 1 }
            windows[index].startIndex = start
        }
        compact()

        let chatterCutoff = now - Milliseconds.minute
        while recentBurstsStart < recentBursts.count && recentBursts[recentBurstsStart].timeMilliseconds <= chatterCutoff {
            recentTips -= recentBursts[recentBurstsStart].tips
            recentBurstsStart += 1
        }
        if recentBurstsStart >= RainGaugeState.compactionEntriesMin && recentBurstsStart * 2 >= recentBursts.count {
            recentBursts.removeFirst(recentBurstsStart)
            recentBurstsStart = 0
        }
        if chattering && recentTips <= tipsPerMinuteMax { chattering = false }

        updateAntecedent(rainDay: rainDay, decayPerDay: antecedentDecayPerDay, micrometersPerTip: micrometersPerTip)
    }

    /// P_a(d+1) = k · (P_a(d) + P(d)), once per rain day that ended; days the box missed (it was
    /// off) each apply once, with no rain of their own.
    private mutating func updateAntecedent(rainDay: Int64, decayPerDay: Double, micrometersPerTip: Int64) {
        guard let lastDay = rainDayNumber else {
            rainDayNumber = rainDay
            return
        }
        guard rainDay > lastDay else { return }
        let rainOfDayMillimeters = RainGaugeState.millimeters(tips: tipsSinceAntecedentUpdate, micrometersPerTip: micrometersPerTip)
        antecedentMillimeters = decayPerDay * (antecedentMillimeters + rainOfDayMillimeters)
        tipsSinceAntecedentUpdate = 0
        // After ten years of decay at k < 1 nothing is left to represent; the bound guards a
        // clock that jumped by centuries, where k = 1 keeps P_a as it is either way.
        let dryDays = min(rainDay - lastDay - 1, RainGaugeState.antecedentCatchUpDaysMax)
        for _ in 0..<max(0, dryDays) { antecedentMillimeters *= decayPerDay }
        rainDayNumber = rainDay
    }

    static let antecedentCatchUpDaysMax: Int64 = 3_660

    /// Drops entries that every window has passed: once they are worth the copy, or (`fully`)
    /// all of them now, before a snapshot.
    private mutating func compact(fully: Bool = false) {
        let passedByAll = oldestWindowStart
        guard passedByAll > 0 else { return }
        guard fully || windows.isEmpty || (passedByAll >= RainGaugeState.compactionEntriesMin && passedByAll * 2 >= entries.count) else {
            return
        }
        cumulativeTipsBeforeEntries = entries[passedByAll - 1].cumulativeTips
        entries.removeFirst(passedByAll)
        for index in windows.indices { windows[index].startIndex -= passedByAll }
    }

    /// Keeps only what a window or the chatter minute can still look at (a snapshot holds no
    /// dead history); changes nothing the gauge decides.
    mutating func compactFully() {
        compact(fully: true)
        if recentBurstsStart > 0 {
            recentBursts.removeFirst(recentBurstsStart)
            recentBurstsStart = 0
        }
    }

    // MARK: Tips

    enum TipOutcome { case counted, chattering }

    /// Records `count` tips at `now` (after `advance(to: now)`).
    mutating func recordTips(_ count: Int64, at now: Int64) -> TipOutcome {
        tipsTotal += count
        // A tip is the gauge's good reading: whatever failed before works again.
        readFailuresConsecutive = 0
        readFailureReason = nil
        recordRecentBurst(count, at: now)
        chattering = chattering || recentTips > tipsPerMinuteMax
        guard !chattering else { return .chattering }
        countedTips += count
        tipsSinceAntecedentUpdate += count
        guard !windows.isEmpty else { return .counted }
        if let last = entries.last, last.timeMilliseconds == now {
            entries[entries.count - 1].cumulativeTips = countedTips
        } else if liveEntries >= tipEntriesMax {
            // Unreachable while the chatter check holds (see tipEntriesMax); after a restore
            // under a lower tipsPerMinuteMax the tips join the newest entry rather than be lost.
            entries[entries.count - 1].cumulativeTips = countedTips
        } else {
            entries.append(TipEntry(timeMilliseconds: now, cumulativeTips: countedTips))
        }
        return .counted
    }

    private mutating func recordRecentBurst(_ count: Int64, at now: Int64) {
        recentTips += count
        if let last = recentBursts.last, recentBursts.count > recentBurstsStart, last.timeMilliseconds == now {
            recentBursts[recentBursts.count - 1].tips += count
        } else if recentBursts.count - recentBurstsStart > Int(tipsPerMinuteMax) {
            // More separate bursts than allowed tips in the minute: it is chattering for sure.
            // Fold into the newest burst and move it to now, so the record stays bounded; this
            // can only overstate the rate, so the gauge recovers late rather than early.
            recentBursts[recentBursts.count - 1].tips += count
            recentBursts[recentBursts.count - 1].timeMilliseconds = now
        } else {
            recentBursts.append(TipBurst(timeMilliseconds: now, tips: count))
        }
    }

    mutating func recordFailure(reason: String, readFailuresMax: Int) {
        readFailuresConsecutive += 1
        if readFailuresConsecutive >= readFailuresMax {
            readFailureReason = "\(readFailuresConsecutive) read failures in a row: \(reason)"
        }
    }

    var liveEntries: Int { entries.count - oldestWindowStart }

    /// The start of the longest-reaching window: entries before it are dead.
    var oldestWindowStart: Int {
        var oldest = entries.count
        for window in windows where window.startIndex < oldest { oldest = window.startIndex }
        return oldest
    }

    // MARK: Measures

    static func millimeters(tips: Int64, micrometersPerTip: Int64) -> Double {
        // Integer product, one division: 225 tips × 200 µm = 45.0 mm exactly.
        Double(tips * micrometersPerTip) / 1000
    }

    func tipsInWindow(_ windowIndex: Int) -> Int64 {
        let start = windows[windowIndex].startIndex
        let before = start == 0 ? cumulativeTipsBeforeEntries : entries[start - 1].cumulativeTips
        return countedTips - before
    }

    func antecedentIndexMillimeters(micrometersPerTip: Int64) -> Double {
        antecedentMillimeters + RainGaugeState.millimeters(tips: tipsSinceAntecedentUpdate, micrometersPerTip: micrometersPerTip)
    }

    // MARK: When something changes by itself

    /// The earliest instant after now at which a window loses a tip or the chatter ends.
    func nextChangeMilliseconds() -> Int64? {
        var earliest: Int64?
        for window in windows where window.startIndex < entries.count {
            let leaves = entries[window.startIndex].timeMilliseconds + window.windowMilliseconds
            earliest = min(earliest ?? leaves, leaves)
        }
        if chattering {
            // The rate falls back once enough of the oldest bursts have left the minute.
            var remaining = recentTips
            var index = recentBurstsStart
            while index < recentBursts.count {
                remaining -= recentBursts[index].tips
                if remaining <= tipsPerMinuteMax {
                    let recovers = recentBursts[index].timeMilliseconds + Milliseconds.minute
                    earliest = min(earliest ?? recovers, recovers)
                    break
                }
                index += 1
            }
        }
        return earliest
    }
}

/// Rain days run from the local `startHour` to the next; a tip exactly at the boundary belongs to
/// the day that ends there, as a tip at τ belongs to the windows ending at τ.
func rainDayNumber(at milliseconds: Int64, utcOffsetMinutes: Int, startHour: Int) -> Int64 {
    let shifted = milliseconds + Int64(utcOffsetMinutes) * Milliseconds.minute - Int64(startHour) * Milliseconds.hour - 1
    return shifted >= 0 ? shifted / Milliseconds.day : -((-shifted + Milliseconds.day - 1) / Milliseconds.day)
}
