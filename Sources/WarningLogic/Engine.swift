// The warning engine: events in, actions out; decides the station level on the box, offline.

/// Everything the engine must not forget across a restart. Codable so the daemon can persist it;
/// its insides are the engine's business.
public struct EngineState: Hashable, Codable, Sendable {
    var lastEventTime: Timestamp?
    /// In configuration order of the rain gauges.
    var rainGauges: [RainGaugeState]
    /// In configuration order of the water-level and displacement sensors.
    var levelSensors: [LevelSensorState]
    var levels = StationLevels()
    var drill: DrillState?
    var output = OutputState()
    var acknowledgement: AcknowledgementRequest?
    var drillAcknowledgement: AcknowledgementRequest?
}

struct DrillState: Hashable, Codable, Sendable {
    var level: WarningLevel
    var by: String
}

/// What the outputs (siren, lamp, broadcast) show now.
struct OutputState: Hashable, Codable, Sendable {
    var level: WarningLevel = .none
    /// The outputs show a drill's level, not the real one.
    var exercise = false
    var nextBroadcastAt: Timestamp?
    /// The hazard the real level's words speak of (chosen when the real level changed, so
    /// repeats and escalations say the same); nil: the level's general message. Drills speak
    /// the general message.
    var hazard: Hazard?
    /// While a drill shows over a real blue: the real level's own next repeat, so a drill never
    /// silences a real warning's repeats.
    var realNextBroadcastAt: Timestamp?
}

public struct Engine: Sendable {
    public let configuration: EngineConfiguration
    public private(set) var state: EngineState
    let plan: EnginePlan

    /// A fresh engine: no history, level none.
    public init(configuration: EngineConfiguration) {
        let plan = EnginePlan(configuration)
        self.configuration = configuration
        self.plan = plan
        self.state = EngineState(
            rainGauges: plan.rainSensors.indices.map { index in
                RainGaugeState(
                    sensorId: plan.rainSensors[index].id, windowsMilliseconds: plan.rainWindowsMilliseconds[index],
                    tipsPerMinuteMax: configuration.logic.tipsPerMinuteMax)
            },
            levelSensors: plan.levelSensors.indices.map { index in
                let sensor = plan.levelSensors[index]
                return LevelSensorState(
                    sensorId: sensor.id, kind: sensor.kind, longestSpanMilliseconds: plan.levelSpansMilliseconds[index].max() ?? 0,
                    configuredBaseline: sensor.kind == .displacement ? sensor.displacementBaseline : nil)
            })
    }

    /// After a restart or a configuration change: keeps what still applies (sensor histories by
    /// id, levels, latch, 叫应, drill), drops the state of sensors no longer configured.
    public init(configuration: EngineConfiguration, restoring saved: EngineState) {
        self.init(configuration: configuration)
        let now = saved.lastEventTime?.millisecondsSinceUnixEpoch
        for index in state.rainGauges.indices {
            let id = state.rainGauges[index].sensorId
            guard var kept = saved.rainGauges.first(where: { $0.sensorId == id }) else { continue }
            kept.reconfigure(
                windowsMilliseconds: plan.rainWindowsMilliseconds[index], tipsPerMinuteMax: configuration.logic.tipsPerMinuteMax, now: now)
            state.rainGauges[index] = kept
        }
        for index in state.levelSensors.indices {
            let fresh = state.levelSensors[index]
            guard var kept = saved.levelSensors.first(where: { $0.sensorId == fresh.sensorId && $0.kind == fresh.kind }) else { continue }
            kept.longestSpanMilliseconds = fresh.longestSpanMilliseconds
            // A baseline the county now configures wins over the one taken from a first reading.
            if let configured = fresh.baseline { kept.baseline = configured }
            state.levelSensors[index] = kept
        }
        state.lastEventTime = saved.lastEventTime
        state.levels = saved.levels
        state.drill = saved.drill
        state.output = saved.output
        state.acknowledgement = saved.acknowledgement
        state.drillAcknowledgement = saved.drillAcknowledgement
    }

    // MARK: Handling events

    public mutating func handle(_ event: Event) -> [Action] {
        var actions: [Action] = []
        var now = event.time
        if let last = state.lastEventTime, now < last {
            // A clock stepped back (NTP, RTC battery): never run time backwards; the event still
            // counts (a tip is rain), at the last instant the engine knows.
            reject("time went back \(last.milliseconds(since: now)) ms (event at \(now), engine at \(last)); handled at \(last)", at: last, into: &actions)
            now = last
        }
        state.lastEventTime = now
        advanceSensors(to: now, into: &actions)
        let drillRaised = apply(event.kind, at: now, into: &actions)
        var countyText: String?
        var countyWarning: (id: String, level: WarningLevel)?
        if case .countyWarning(let id, let level, let text) = event.kind, level > .none {
            countyText = text
            if state.levels.countyWarnings.contains(where: { $0.id == id }) { countyWarning = (id, level) }
        }
        decideLevels(at: now, drillRaised: drillRaised, countyWarning: countyWarning, into: &actions)
        if let countyText, !countyText.isEmpty {
            actions.append(.broadcast(message: countyText, exercise: false))
        }
        runDeadlines(at: now, into: &actions)
        // Debug builds (every test, every replay in a test) stop at a broken rule; a release box
        // keeps warning rather than crash-looping on a replayed event.
        assert(invariantViolation(after: actions) == nil, invariantViolation(after: actions) ?? "")
        return actions
    }

    /// What a decision must never do, checked after each one (STYLE.md: a real level change
    /// always produces its real outputs; a drill never runs beside a real warning).
    func invariantViolation(after actions: [Action]) -> String? {
        let levels = state.levels
        if let drill = state.drill, levels.stationLevel > .blue || !levels.countyWarnings.isEmpty {
            return "a \(drill.level.name) drill runs beside a real \(levels.stationLevel.name) or a county warning"
        }
        if state.output.exercise {
            guard let drill = state.drill, state.output.level == drill.level, drill.level > levels.stationLevel else {
                return "the outputs show an exercise at \(state.output.level.name) but no drill above the real level drives them"
            }
        } else if state.output.level != levels.stationLevel {
            return "the outputs show \(state.output.level.name), the real level is \(levels.stationLevel.name)"
        }
        if let latched = levels.latchedLevel, levels.stationLevel < latched {
            return "the station level \(levels.stationLevel.name) is below the latched \(latched.name)"
        }
        let realChanges = actions.compactMap { action -> LevelChange? in
            if case .levelChanged(let change) = action, !change.exercise { change } else { nil }
        }
        for change in realChanges {
            let outputs = configuration.outputs[change.to]
            guard actions.contains(.setSiren(outputs?.siren ?? .off, exercise: false)),
                actions.contains(.setLamp(outputs?.lamp, exercise: false))
            else { return "the real change to \(change.to.name) did not set its real siren and lamp" }
            if outputs != nil, !actions.contains(where: { if case .broadcast(_, false) = $0 { true } else { false } }) {
                return "the real change to \(change.to.name) was not broadcast as real"
            }
        }
        return nil
    }

    /// Why a drill may not start now, or nil. Real warnings pre-empt drills: none while a real
    /// level of yellow or above or a county warning is in force (a drill would put "this is an
    /// exercise" over a real warning); at a real blue only when forced (the person has seen it).
    public static func drillStartRefusal(realLevel: WarningLevel, countyWarningIds: [String], force: Bool) -> String? {
        if let county = countyWarningIds.first {
            return "county warning \(county) is in force, and real warnings pre-empt drills; start the drill once it is cancelled"
        }
        if realLevel >= .yellow {
            return "a real \(realLevel.name) warning is in force, and real warnings pre-empt drills; start the drill once it is over"
        }
        if realLevel == .blue && !force {
            return "a real blue warning is in force; a drill would sound over it, so it needs force (in the shell: drill start LEVEL --force)"
        }
        return nil
    }

    private func reject(_ reason: String, at now: Timestamp, into actions: inout [Action]) {
        actions.append(.enqueueReport(Report(time: now, kind: .inputRejected(reason: reason), exercise: false)))
    }

    private func healthReport(sensorId: String, wasFaulty: Bool, reason: String?, recovery: String, at now: Timestamp, into actions: inout [Action]) {
        let isFaulty = reason != nil
        guard isFaulty != wasFaulty else { return }
        actions.append(.enqueueReport(Report(
            time: now, kind: .sensorHealth(sensorId: sensorId, faulty: isFaulty, reason: reason ?? recovery), exercise: false)))
    }

    private mutating func advanceSensors(to now: Timestamp, into actions: inout [Action]) {
        let milliseconds = now.millisecondsSinceUnixEpoch
        let logic = configuration.logic
        let rainDay = rainDayNumber(at: milliseconds, utcOffsetMinutes: configuration.station.utcOffsetMinutes, startHour: logic.rainDayStartHour)
        for index in state.rainGauges.indices {
            let wasFaulty = state.rainGauges[index].isFaulty
            state.rainGauges[index].advance(
                to: milliseconds, rainDay: rainDay, antecedentDecayPerDay: logic.antecedentDecayPerDay,
                micrometersPerTip: plan.rainSensors[index].micrometersPerTip ?? 0)
            healthReport(
                sensorId: state.rainGauges[index].sensorId, wasFaulty: wasFaulty, reason: state.rainGauges[index].faultReason,
                recovery: "tip rate back to normal", at: now, into: &actions)
        }
        for index in state.levelSensors.indices {
            let wasFaulty = state.levelSensors[index].isFaulty
            state.levelSensors[index].advance(to: milliseconds, staleAfterMilliseconds: plan.levelSensors[index].staleAfterMilliseconds)
            healthReport(
                sensorId: state.levelSensors[index].sensorId, wasFaulty: wasFaulty, reason: state.levelSensors[index].faultReason,
                recovery: "good reading again", at: now, into: &actions)
        }
    }

    /// Applies one event's own effect. Returns true when a drill started or rose (it may ask for 叫应).
    private mutating func apply(_ kind: Event.Kind, at now: Timestamp, into actions: inout [Action]) -> Bool {
        let milliseconds = now.millisecondsSinceUnixEpoch
        switch kind {
        case .tick:
            break
        case .tips(let sensorId, let count):
            guard case .rain(let index)? = plan.sensorSlots[sensorId] else {
                reject(plan.sensorSlots[sensorId] == nil ? "tips from unknown sensor \"\(sensorId)\"" : "tips from \"\(sensorId)\", which is not a rain gauge", at: now, into: &actions)
                break
            }
            guard count > 0 else {
                reject("\(count) tips from \"\(sensorId)\": a tip count must be positive", at: now, into: &actions)
                break
            }
            let wasFaulty = state.rainGauges[index].isFaulty
            _ = state.rainGauges[index].recordTips(Int64(count), at: milliseconds)
            healthReport(
                sensorId: sensorId, wasFaulty: wasFaulty, reason: state.rainGauges[index].faultReason, recovery: "tipping again",
                at: now, into: &actions)
        case .reading(let sensorId, let value):
            guard case .level(let index)? = plan.sensorSlots[sensorId] else {
                reject(plan.sensorSlots[sensorId] == nil ? "reading from unknown sensor \"\(sensorId)\"" : "a reading from rain gauge \"\(sensorId)\", which gives tips", at: now, into: &actions)
                break
            }
            let sensor = plan.levelSensors[index]
            let wasFaulty = state.levelSensors[index].isFaulty
            _ = state.levelSensors[index].record(
                value, at: milliseconds, rangeMinimum: sensor.rangeMinimum, rangeMaximum: sensor.rangeMaximum, unit: sensor.unit)
            healthReport(
                sensorId: sensorId, wasFaulty: wasFaulty, reason: state.levelSensors[index].faultReason, recovery: "good reading again",
                at: now, into: &actions)
        case .readFailure(let sensorId, let reason):
            switch plan.sensorSlots[sensorId] {
            case .rain(let index):
                let wasFaulty = state.rainGauges[index].isFaulty
                state.rainGauges[index].recordFailure(reason: reason, readFailuresMax: plan.rainSensors[index].readFailuresMax)
                healthReport(sensorId: sensorId, wasFaulty: wasFaulty, reason: state.rainGauges[index].faultReason, recovery: "tip rate back to normal", at: now, into: &actions)
            case .level(let index):
                let wasFaulty = state.levelSensors[index].isFaulty
                state.levelSensors[index].recordFailure(reason: reason, readFailuresMax: plan.levelSensors[index].readFailuresMax)
                healthReport(sensorId: sensorId, wasFaulty: wasFaulty, reason: state.levelSensors[index].faultReason, recovery: "good reading again", at: now, into: &actions)
            case nil:
                reject("read failure from unknown sensor \"\(sensorId)\": \(reason)", at: now, into: &actions)
            }
        case .manual(let level, let by):
            state.levels.manualLevel = level == .none ? nil : level
            actions.append(.enqueueReport(Report(time: now, kind: .manualLevel(level: level, by: by), exercise: false)))
        case .countyWarning(let id, let level, _):
            if level == .none {
                return apply(.countyCancel(id: id), at: now, into: &actions)
            }
            if let index = state.levels.countyWarnings.firstIndex(where: { $0.id == id }) {
                state.levels.countyWarnings[index].level = level
            } else if state.levels.countyWarnings.count >= StationLevels.countyWarningsMax {
                reject("county warning \"\(id)\" refused: \(StationLevels.countyWarningsMax) county warnings are already active", at: now, into: &actions)
                break
            } else {
                state.levels.countyWarnings.append(CountyWarningState(id: id, level: level))
            }
            actions.append(.enqueueReport(Report(time: now, kind: .countyWarning(id: id, level: level, cancelled: false), exercise: false)))
        case .countyCancel(let id):
            guard let index = state.levels.countyWarnings.firstIndex(where: { $0.id == id }) else {
                reject("county cancel for unknown warning \"\(id)\"", at: now, into: &actions)
                break
            }
            let cancelled = state.levels.countyWarnings.remove(at: index)
            actions.append(.enqueueReport(Report(time: now, kind: .countyWarning(id: id, level: cancelled.level, cancelled: true), exercise: false)))
        case .acknowledge(let by, let channel):
            acknowledgeAll(by: by, channel: channel ?? AnswerChannel.guessed(by: by), at: now, into: &actions)
        case .reply(let phone, let channel, let text):
            takeReply(phone: phone, channel: channel, text: text, at: now, into: &actions)
        case .callEnded(let phone, let reached, let detail):
            let contact = configuration.contacts.first { PhoneNumber.same($0.phone, phone) }
            let request = state.acknowledgement ?? state.drillAcknowledgement
            actions.append(.enqueueReport(Report(
                time: now, kind: .callEnded(level: request?.level, contact: contact?.name ?? phone, reached: reached, detail: detail),
                exercise: request?.exercise ?? false)))
        case .clearLatch(let by):
            // Clearing implies the person has seen the warning: it answers the 叫应 too.
            acknowledgeAll(by: by, channel: AnswerChannel.guessed(by: by), at: now, into: &actions)
            if let latched = state.levels.latchedLevel {
                state.levels.clearLatch()
                actions.append(.enqueueReport(Report(time: now, kind: .latchCleared(level: latched, by: by), exercise: false)))
            }
        case .drillStart(let level, let by, let force):
            guard level > .none else {
                reject("a drill needs a level above none (asked by \(by))", at: now, into: &actions)
                break
            }
            if let refusal = Engine.drillStartRefusal(
                realLevel: state.levels.stationLevel, countyWarningIds: state.levels.countyWarnings.map(\.id), force: force ?? false)
            {
                reject("\(level.name) drill by \(by) refused: \(refusal)", at: now, into: &actions)
                break
            }
            let raised = level > (state.drill?.level ?? .none)
            state.drill = DrillState(level: level, by: by)
            actions.append(.enqueueReport(Report(time: now, kind: .drill(started: true, level: level, by: by), exercise: true)))
            return raised
        case .drillStop(let by):
            guard let drill = state.drill else {
                reject("drill stop by \(by), but no drill is running", at: now, into: &actions)
                break
            }
            endDrill(drill, by: by, preemptedBy: nil, at: now, into: &actions)
        }
        return false
    }

    /// Ends a drill: its 叫应 stops and the village hears that the exercise is over, marked as
    /// exercise. The outputs return to the real level in `updateOutputs`, after this message.
    private mutating func endDrill(_ drill: DrillState, by: String, preemptedBy: String?, at now: Timestamp, into actions: inout [Action]) {
        state.drill = nil
        state.drillAcknowledgement = nil
        actions.append(.broadcast(message: broadcastText(configuration.drillEndMessage, exercise: true), exercise: true))
        actions.append(.enqueueReport(Report(
            time: now, kind: .drill(started: false, level: drill.level, by: by, preemptedBy: preemptedBy), exercise: true)))
    }

    /// Someone at the box (or a scenario) answered: the 叫应 is complete for everyone.
    private mutating func acknowledgeAll(by person: String, channel: AnswerChannel, at now: Timestamp, into actions: inout [Action]) {
        let answer = AcknowledgementAnswer(by: person, channel: channel, time: now)
        if var request = state.acknowledgement {
            _ = record(answer, in: &request, forEveryone: true, into: &actions)
            state.acknowledgement = request
        }
        if var request = state.drillAcknowledgement {
            _ = record(answer, in: &request, forEveryone: true, into: &actions)
            state.drillAcknowledgement = request
        }
    }

    /// A phone answered: it counts for the contact with that number while a 叫应 waits for them;
    /// anything else is reported and not taken.
    private mutating func takeReply(phone: String, channel: AnswerChannel, text: String, at now: Timestamp, into actions: inout [Action]) {
        func notTaken(_ reason: String) {
            actions.append(.enqueueReport(Report(time: now, kind: .answerNotTaken(phone: phone, channel: channel, reason: reason), exercise: false)))
        }
        guard let contact = configuration.contacts.first(where: { PhoneNumber.same($0.phone, phone) }) else {
            notTaken(PhoneNumber.comparable(phone) == nil ? "the sender is not a phone number" : "the number is not a [[contact]]")
            return
        }
        let open = [state.acknowledgement, state.drillAcknowledgement].compactMap { $0 }.filter { !$0.isComplete }
        guard !open.isEmpty else {
            notTaken("\(contact.name) answered, but no 叫应 is waiting")
            return
        }
        if channel == .sms && !configuration.acknowledgement.answerKeywords.isEmpty && !configuration.acknowledgement.acceptsReply(text) {
            notTaken("\(contact.name) replied \"\(text.prefix(40))\", which is not an answer keyword (\(configuration.acknowledgement.answerKeywords.joined(separator: ", ")))")
            return
        }
        let answer = AcknowledgementAnswer(by: contact.name, channel: channel, time: now)
        var taken = false
        if var request = state.acknowledgement {
            taken = record(answer, in: &request, forEveryone: false, into: &actions) || taken
            state.acknowledgement = request
        }
        if var request = state.drillAcknowledgement {
            taken = record(answer, in: &request, forEveryone: false, into: &actions) || taken
            state.drillAcknowledgement = request
        }
        if !taken { notTaken("\(contact.name) had already answered") }
    }

    // MARK: Deciding the level

    /// Each rule's current value, nil when its sensor is faulty or has no data yet.
    func ruleValue(_ ruleIndex: Int, now: Int64) -> Double? {
        switch plan.ruleSlots[ruleIndex] {
        case .rain(let index):
            guard !state.rainGauges[index].isFaulty else { return nil }
            let micrometersPerTip = plan.rainSensors[index].micrometersPerTip ?? 0
            switch plan.ruleMeasures[ruleIndex] {
            case .rainAccumulation:
                let tips = state.rainGauges[index].tipsInWindow(plan.ruleWindowIndices[ruleIndex])
                return RainGaugeState.millimeters(tips: tips, micrometersPerTip: micrometersPerTip)
            case .rainAntecedent:
                return state.rainGauges[index].antecedentIndexMillimeters(micrometersPerTip: micrometersPerTip)
            default:
                return nil
            }
        case .level(let index):
            guard !state.levelSensors[index].isFaulty else { return nil }
            switch plan.ruleMeasures[ruleIndex] {
            case .waterLevel:
                return state.levelSensors[index].latest?.value
            case .waterRise(let span):
                return state.levelSensors[index].rise(spanMilliseconds: span, now: now)
            case .displacement:
                return state.levelSensors[index].displacementMillimeters()
            case .displacementRate(let span):
                return state.levelSensors[index].rateMillimetersPerDay(spanMilliseconds: span, now: now)
            case .tangentAngle:
                let configured = plan.levelSensors[index]
                guard let steady = configured.steadyRateMillimetersPerDay,
                    let rate = state.levelSensors[index].rateMillimetersPerDay(spanMilliseconds: configured.tangentSpanMilliseconds, now: now)
                else { return nil }
                return Arctangent.degrees(rate / steady)
            default:
                return nil
            }
        }
    }

    /// The level each rule meets, then each combined rule, in configuration order.
    func levelsMet(now: Int64) -> (rules: [WarningLevel], combined: [WarningLevel]) {
        var rules: [WarningLevel] = []
        rules.reserveCapacity(plan.ruleSlots.count)
        for index in plan.ruleSlots.indices {
            rules.append(ruleValue(index, now: now).map { plan.ruleThresholds[index].level(reachedBy: $0) } ?? .none)
        }
        let combined = plan.combinedConditions.indices.map { index in
            plan.combinedConditions[index].allSatisfy { rules[$0.ruleIndex] >= $0.atLeast }
                ? configuration.combinedRules[index].level : .none
        }
        return (rules, combined)
    }

    private func causes(of level: WarningLevel, rules: [WarningLevel], combined: [WarningLevel]) -> [String] {
        guard level > .none else { return [] }
        var causes: [String] = []
        for index in plan.rules.indices where rules[index] >= level { causes.append(plan.rules[index].rule.id) }
        for index in combined.indices where combined[index] >= level { causes.append(configuration.combinedRules[index].id) }
        if let manual = state.levels.manualLevel, manual >= level { causes.append("manual") }
        for county in state.levels.countyWarnings where county.level >= level { causes.append("county:" + county.id) }
        if let latched = state.levels.latchedLevel, latched >= level { causes.append("latch") }
        return causes
    }

    private mutating func decideLevels(
        at now: Timestamp, drillRaised: Bool, countyWarning: (id: String, level: WarningLevel)?, into actions: inout [Action]
    ) {
        let met = levelsMet(now: now.millisecondsSinceUnixEpoch)
        let metLevel = max(met.rules.max() ?? .none, met.combined.max() ?? .none)
        state.levels.updateRuleLevel(met: metLevel, now: now, clearAfterMilliseconds: configuration.logic.clearAfterMilliseconds)
        state.levels.latch(latchedLevels: configuration.logic.latchedLevels)
        let previous = state.levels.stationLevel
        let level = state.levels.combinedLevel
        state.levels.stationLevel = level

        var realChange: LevelChange?
        if level != previous {
            // Causes are worked out only when someone will read them: most events change nothing.
            let causes = causes(of: level, rules: met.rules, combined: met.combined)
            let change = LevelChange(time: now, from: previous, to: level, causes: causes, exercise: false)
            realChange = change
            actions.append(.levelChanged(change))
            actions.append(.enqueueReport(Report(time: now, kind: .levelChanged(from: previous, to: level, causes: causes), exercise: false)))
        }
        // Real warnings pre-empt drills: any real level change or county warning ends a drill at
        // this instant, and the real level's outputs follow as if no drill had run.
        if let drill = state.drill {
            var preemptedBy: String?
            if let realChange {
                let causes = realChange.causes.isEmpty ? "" : " (\(realChange.causes.joined(separator: ", ")))"
                preemptedBy = "real level \(realChange.from.name) → \(realChange.to.name)\(causes)"
            } else if let countyWarning {
                preemptedBy = "county warning \(countyWarning.id) at \(countyWarning.level.name)"
            } else if level > .blue || !state.levels.countyWarnings.isEmpty {
                // Only from a state saved by a version that let drills run beside real warnings.
                preemptedBy = "real level \(level.name) in force"
            }
            if let preemptedBy { endDrill(drill, by: "engine", preemptedBy: preemptedBy, at: now, into: &actions) }
        }
        updateOutputs(at: now, met: met, realChanged: realChange != nil, into: &actions)
        updateAcknowledgements(previous: previous, level: level, drillRaised: drillRaised, at: now, into: &actions)
    }

    /// The hazard the causes of `level` speak of: one hazard when every rule and combined rule
    /// holding the level names the same; nil (the general message) when they differ, when a
    /// combined rule names none, or when only people, the county or the latch hold the level.
    private func hazard(of level: WarningLevel, met: (rules: [WarningLevel], combined: [WarningLevel])) -> Hazard? {
        guard level > .none else { return nil }
        var found: Hazard?
        for index in plan.rules.indices where met.rules[index] >= level {
            let hazard = plan.ruleHazards[index]
            if let found, found != hazard { return nil }
            found = hazard
        }
        for index in met.combined.indices where met.combined[index] >= level {
            guard let hazard = configuration.combinedRules[index].hazard else { return nil }
            if let found, found != hazard { return nil }
            found = hazard
        }
        return found
    }

    /// The outputs show the higher of the real and the drill level. A drill only runs while the
    /// real level is at most blue (real warnings pre-empt drills), so it never hides a real alarm.
    private mutating func updateOutputs(
        at now: Timestamp, met: (rules: [WarningLevel], combined: [WarningLevel]), realChanged: Bool, into actions: inout [Action]
    ) {
        let real = state.levels.stationLevel
        let drillLevel = state.drill?.level ?? .none
        let level = max(real, drillLevel)
        let exercise = drillLevel > real
        let previous = state.output
        guard level != previous.level || exercise != previous.exercise else { return }
        if level != previous.level && (exercise || previous.exercise) {
            // The drill itself moved the outputs; the real level's change is reported on its own.
            let causes = exercise ? ["drill"] : causes(of: real, rules: met.rules, combined: met.combined)
            let change = LevelChange(time: now, from: previous.level, to: level, causes: causes, exercise: true)
            actions.append(.levelChanged(change))
            actions.append(.enqueueReport(Report(
                time: now, kind: .levelChanged(from: previous.level, to: level, causes: change.causes), exercise: true)))
        }
        let outputs = configuration.outputs[level]
        // A drill's words are the level's general ones; a real level's speak of its hazard.
        let realHazard = realChanged ? hazard(of: real, met: met) : previous.hazard
        let realRepeatEvery = configuration.outputs[real]?.repeatEveryMilliseconds
        var next = OutputState(level: level, exercise: exercise, hazard: realHazard)
        if exercise {
            // The real level's repeats go on under the drill, at the cadence they had.
            next.nextBroadcastAt = outputs?.repeatEveryMilliseconds.map { now.adding(milliseconds: $0) }
            if real > .none, realRepeatEvery != nil {
                next.realNextBroadcastAt = previous.exercise && !realChanged ? previous.realNextBroadcastAt : previous.nextBroadcastAt
            }
        } else if previous.exercise && !realChanged {
            // A drill ended over an unchanged real level: its repeats keep their cadence.
            next.nextBroadcastAt = previous.realNextBroadcastAt ?? realRepeatEvery.map { now.adding(milliseconds: $0) }
        } else {
            next.nextBroadcastAt = realRepeatEvery.map { now.adding(milliseconds: $0) }
        }
        actions.append(.setSiren(outputs?.siren ?? .off, exercise: exercise))
        actions.append(.setLamp(outputs?.lamp, exercise: exercise))
        // A drill that ends while the real level stays none returns the outputs to rest without
        // speaking the all-clear: "预警解除" would tell the village a real warning ended. While a
        // real warning is in force its words are spoken again, so "drill over" is never taken for
        // "all clear".
        let drillEndedAtRest = previous.exercise && !exercise && !realChanged && level == .none
        if let outputs, !drillEndedAtRest {
            let words = outputs.message(for: exercise ? nil : realHazard)
            actions.append(.broadcast(message: broadcastText(words, exercise: exercise), exercise: exercise))
        }
        state.output = next
    }

    private mutating func updateAcknowledgements(previous: WarningLevel, level: WarningLevel, drillRaised: Bool, at now: Timestamp, into actions: inout [Action]) {
        guard let fromLevel = configuration.acknowledgement.fromLevel else { return }
        if level > previous && level >= fromLevel {
            state.acknowledgement = requestAcknowledgement(level: level, exercise: false, now: now, into: &actions)
        } else if level < fromLevel, let request = state.acknowledgement {
            // The warning is over before everyone answered: say so once and stop asking.
            if request.deadline != nil {
                actions.append(.enqueueReport(Report(
                    time: now, kind: .acknowledgementUnanswered(level: request.level, unanswered: waitingNames(request)), exercise: false)))
            }
            state.acknowledgement = nil
        }
        // A drill asks for 叫应 only while it drives the outputs; a real alarm takes over.
        if let drill = state.drill, drill.level > level {
            if drillRaised && drill.level >= fromLevel {
                state.drillAcknowledgement = requestAcknowledgement(level: drill.level, exercise: true, now: now, into: &actions)
            }
        } else {
            state.drillAcknowledgement = nil
        }
    }

    private mutating func runDeadlines(at now: Timestamp, into actions: inout [Action]) {
        // An escalation's broadcast at this instant already repeated its level's message. A
        // drill's escalation never stands in for a real repeat.
        var realRebroadcast = false
        var drillRebroadcast = false
        if var request = state.acknowledgement, let deadline = request.deadline, deadline <= now {
            escalateIfDue(&request, broadcastLevel: state.levels.stationLevel, now: now, into: &actions)
            realRebroadcast = configuration.outputs[state.levels.stationLevel] != nil && request.deadline != nil
            state.acknowledgement = request
        }
        if var request = state.drillAcknowledgement, let deadline = request.deadline, deadline <= now {
            escalateIfDue(&request, broadcastLevel: state.drill?.level ?? .none, now: now, into: &actions)
            drillRebroadcast = configuration.outputs[state.drill?.level ?? .none] != nil && request.deadline != nil
            state.drillAcknowledgement = request
        }
        let exercise = state.output.exercise
        if let due = state.output.nextBroadcastAt, due <= now, let outputs = configuration.outputs[state.output.level],
            let repeatEvery = outputs.repeatEveryMilliseconds, repeatEvery > 0
        {
            if !(realRebroadcast || (exercise && drillRebroadcast)) {
                let words = outputs.message(for: exercise ? nil : state.output.hazard)
                actions.append(.broadcast(message: broadcastText(words, exercise: exercise), exercise: exercise))
            }
            state.output.nextBroadcastAt = Self.nextRepeat(after: due, every: repeatEvery, now: now)
        }
        if exercise, let due = state.output.realNextBroadcastAt, due <= now, let outputs = configuration.outputs[state.levels.stationLevel],
            let repeatEvery = outputs.repeatEveryMilliseconds, repeatEvery > 0
        {
            if !realRebroadcast {
                actions.append(.broadcast(message: outputs.message(for: state.output.hazard), exercise: false))
            }
            state.output.realNextBroadcastAt = Self.nextRepeat(after: due, every: repeatEvery, now: now)
        }
    }

    /// Keeps the cadence even after a gap; repeats missed while nothing ticked are not replayed.
    static func nextRepeat(after due: Timestamp, every repeatEvery: Int64, now: Timestamp) -> Timestamp {
        let missed = now.milliseconds(since: due) / repeatEvery
        return due.adding(milliseconds: (missed + 1) * repeatEvery)
    }

    /// Drops history no rule can look at any more (readings and tips older than every window),
    /// which the engine otherwise keeps until enough has piled up to be worth the copy. Changes
    /// no decision; the daemon calls it before each snapshot, so a snapshot holds only what the
    /// engine needs.
    public mutating func compactHistory() {
        for index in state.rainGauges.indices { state.rainGauges[index].compactFully() }
        for index in state.levelSensors.indices { state.levelSensors[index].compactFully() }
    }

    /// The siren and lamp as the outputs should show them now, without reports or broadcasts.
    /// `handle` only emits output actions on a change; after a restart (relays come up off) or
    /// a driver reconnecting, the daemon calls this so a restored red sounds again.
    public func currentOutputs() -> [Action] {
        let outputs = configuration.outputs[state.output.level]
        return [
            .setSiren(outputs?.siren ?? .off, exercise: state.output.exercise),
            .setLamp(outputs?.lamp, exercise: state.output.exercise),
        ]
    }

    // MARK: Looking ahead and looking at

    public func nextWakeup() -> Timestamp? {
        guard let now = state.lastEventTime else { return nil }
        let nowMilliseconds = now.millisecondsSinceUnixEpoch
        var earliest = Int64.max
        func consider(_ candidate: Int64?) {
            if let candidate, candidate > nowMilliseconds, candidate < earliest { earliest = candidate }
        }
        for gauge in state.rainGauges { consider(gauge.nextChangeMilliseconds()) }
        for index in state.levelSensors.indices {
            let sensor = state.levelSensors[index]
            consider(sensor.staleDeadline(staleAfterMilliseconds: plan.levelSensors[index].staleAfterMilliseconds))
            for span in plan.levelSpansMilliseconds[index] {
                consider(sensor.nextReferenceChange(spanMilliseconds: span, now: nowMilliseconds))
            }
        }
        consider(lowerAt?.millisecondsSinceUnixEpoch)
        consider(state.acknowledgement?.deadline?.millisecondsSinceUnixEpoch)
        consider(state.drillAcknowledgement?.deadline?.millisecondsSinceUnixEpoch)
        consider(state.output.nextBroadcastAt?.millisecondsSinceUnixEpoch)
        if state.output.exercise { consider(state.output.realNextBroadcastAt?.millisecondsSinceUnixEpoch) }
        return earliest == Int64.max ? nil : Timestamp(millisecondsSinceUnixEpoch: earliest)
    }

    /// When the rule level will be lowered if nothing rises again.
    /// What the status page shows: the rule lowering only when it would lower the station, not
    /// when a latch, a manual or a county level holds the station where it is anyway.
    var stationLowerAt: Timestamp? {
        let levels = state.levels
        let heldOtherwise = max(levels.latchedLevel ?? .none, levels.manualLevel ?? .none, levels.countyLevel)
        return levels.ruleLevel > heldOtherwise ? lowerAt : nil
    }

    var lowerAt: Timestamp? {
        state.levels.lowerPendingSince?.adding(milliseconds: configuration.logic.clearAfterMilliseconds)
    }

    public func status() -> StationStatus {
        let now = state.lastEventTime ?? Timestamp(millisecondsSinceUnixEpoch: 0)
        let met = levelsMet(now: now.millisecondsSinceUnixEpoch)
        var sensors: [SensorStatus] = []
        for sensor in configuration.sensors {
            switch plan.sensorSlots[sensor.id] {
            case .rain(let index):
                let gauge = state.rainGauges[index]
                sensors.append(SensorStatus(
                    id: sensor.id, faulty: gauge.isFaulty, faultReason: gauge.faultReason, lastValue: nil, lastTime: nil,
                    readFailuresConsecutive: gauge.readFailuresConsecutive, tipsTotal: gauge.tipsTotal))
            case .level(let index):
                let levelSensor = state.levelSensors[index]
                sensors.append(SensorStatus(
                    id: sensor.id, faulty: levelSensor.isFaulty, faultReason: levelSensor.faultReason, lastValue: levelSensor.lastValue,
                    lastTime: levelSensor.lastValueTime.map { Timestamp(millisecondsSinceUnixEpoch: $0) },
                    readFailuresConsecutive: levelSensor.readFailuresConsecutive, tipsTotal: nil))
            case nil:
                break
            }
        }
        let measures = plan.rules.indices.map { index in
            let rule = plan.rules[index].rule
            return MeasureStatus(
                ruleId: rule.id, sensorId: rule.sensorId, measure: rule.measure,
                value: ruleValue(index, now: now.millisecondsSinceUnixEpoch), levelMet: met.rules[index], thresholds: rule.thresholds)
        }
        return StationStatus(
            time: now, level: state.levels.stationLevel, causes: causes(of: state.levels.stationLevel, rules: met.rules, combined: met.combined),
            drillLevel: state.drill?.level,
            outputLevel: max(state.levels.stationLevel, state.drill?.level ?? .none), degraded: sensors.contains { $0.faulty },
            lowerAt: stationLowerAt, latchedLevel: state.levels.latchedLevel, acknowledgementDeadline: state.acknowledgement?.deadline,
            sensors: sensors, measures: measures, latchClear: latchClearOutcome(met: met),
            acknowledgement: (state.acknowledgement ?? state.drillAcknowledgement).map(acknowledgementStatus))
    }

    /// What `clearLatch` would leave now: the same levels `decideLevels` combines, without the latch.
    private func latchClearOutcome(met: (rules: [WarningLevel], combined: [WarningLevel])) -> LatchClearOutcome? {
        guard let latched = state.levels.latchedLevel else { return nil }
        var levels = state.levels
        levels.clearLatch()
        let level = levels.combinedLevel
        let causes = causes(of: level, rules: met.rules, combined: met.combined).filter { $0 != "latch" }
        return LatchClearOutcome(
            latchedLevel: latched, level: level, causes: causes,
            lowerAt: causes.isEmpty && level > .none && levels.ruleLevel == level ? lowerAt : nil)
    }
}
