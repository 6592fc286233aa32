// 叫应 (call-and-answer): ask the responsible people to answer a warning, chase everyone who has
// not, and record who answered, how and how fast. The policy is `AcknowledgementPolicy`'s.

/// One person's answer.
public struct AcknowledgementAnswer: Hashable, Codable, Sendable {
    /// The contact's name, or who answered at the box ("button", "shell ttyS0").
    public var by: String
    public var channel: AnswerChannel
    public var time: Timestamp
}

/// One warning waiting for an answer.
struct AcknowledgementRequest: Hashable, Codable, Sendable {
    var level: WarningLevel
    var requestedAt: Timestamp
    /// When to escalate next; nil once the escalations ran out or the 叫应 is complete. The
    /// request stays so a late answer is still recorded and `status` shows who answered.
    var deadline: Timestamp?
    var escalations: Int
    var exercise: Bool
    // Optional so a state saved before answers were kept per person still loads.
    /// Who answered so far, in order.
    var answers: [AcknowledgementAnswer]?
    /// Contact names asked so far (texted or rung), in order.
    var asked: [String]?
    /// Order groups texted so far.
    var groupsAsked: Int?
    /// Everyone asked has answered, or someone at the box answered for all.
    var complete: Bool?

    var answerList: [AcknowledgementAnswer] { answers ?? [] }
    var isComplete: Bool { complete ?? false }
}

/// 叫应 as `status` shows it.
public struct AcknowledgementStatus: Hashable, Codable, Sendable {
    public var level: WarningLevel
    public var exercise: Bool
    public var requestedAt: Timestamp
    /// The next escalation; nil when complete or when the escalations ran out.
    public var deadline: Timestamp?
    public var answered: [AcknowledgementAnswer]
    /// Asked and not answered yet.
    public var waiting: [String]
    public var complete: Bool
}

extension Engine {
    /// SMS and broadcast texts name the village and the level, so a phone screen says it all;
    /// drills say so first, so nobody evacuates for an exercise.
    func messageText(level: WarningLevel, exercise: Bool) -> String {
        let body = configuration.outputs[level]?.message(for: hazard(forMessagesAt: level, exercise: exercise)) ?? "请立即回复确认收到预警。"
        let text = "【\(configuration.station.name) \(level.chineseName)】" + body
        return exercise ? Engine.exerciseMark + text : text
    }

    /// The hazard a real warning at `level` speaks of: the one its outputs chose; none for drills.
    func hazard(forMessagesAt level: WarningLevel, exercise: Bool) -> Hazard? {
        !exercise && level == state.levels.stationLevel ? state.output.hazard : nil
    }

    /// Every word a drill speaks starts with this, so nobody evacuates for an exercise.
    static let exerciseMark = "【演练】"

    func broadcastText(_ message: String, exercise: Bool) -> String {
        // A configured text may carry the mark already (the drill-end message's default does).
        exercise && !message.hasPrefix(Engine.exerciseMark) ? Engine.exerciseMark + message : message
    }

    /// Texts the first contact group and starts the clock.
    func requestAcknowledgement(level: WarningLevel, exercise: Bool, now: Timestamp, into actions: inout [Action]) -> AcknowledgementRequest {
        let group = plan.contactGroups.first ?? []
        let text = messageText(level: level, exercise: exercise)
        for contact in group { actions.append(.sendSMS(SMS(contact: contact, text: text, exercise: exercise))) }
        let deadline = now.adding(milliseconds: configuration.acknowledgement.deadlineMilliseconds)
        actions.append(.enqueueReport(Report(
            time: now, kind: .acknowledgementRequested(level: level, contacts: group.map(\.name), deadline: deadline), exercise: exercise)))
        return AcknowledgementRequest(
            level: level, requestedAt: now, deadline: deadline, escalations: 0, exercise: exercise,
            answers: [], asked: group.map(\.name), groupsAsked: plan.contactGroups.isEmpty ? 0 : 1, complete: false)
    }

    /// Contact names asked so far (a request saved before this was kept: the groups its
    /// escalations reached).
    func askedNames(_ request: AcknowledgementRequest) -> [String] {
        if let asked = request.asked { return asked }
        let groups = plan.contactGroups
        guard !groups.isEmpty else { return [] }
        return groups[0...min(request.escalations, groups.count - 1)].flatMap { $0.map(\.name) }
    }

    func waitingNames(_ request: AcknowledgementRequest) -> [String] {
        let answered = Set(request.answerList.map(\.by))
        return askedNames(request).filter { !answered.contains($0) }
    }

    /// At the deadline: repeat the broadcast, chase everyone asked who has not answered, and
    /// while nobody at all has answered, text the next order. Stops after `escalationsMax`.
    func escalateIfDue(_ request: inout AcknowledgementRequest, broadcastLevel: WarningLevel, now: Timestamp, into actions: inout [Action]) {
        guard let deadline = request.deadline, deadline <= now else { return }
        let policy = configuration.acknowledgement
        let waiting = waitingNames(request)
        guard request.escalations < policy.escalationsMax else {
            request.deadline = nil
            actions.append(.enqueueReport(Report(
                time: now, kind: .acknowledgementUnanswered(level: request.level, unanswered: waiting), exercise: request.exercise)))
            return
        }
        request.escalations += 1
        let groups = plan.contactGroups
        let groupsAsked = request.groupsAsked ?? min(request.escalations, groups.count)
        var texted: [Contact] = []
        var called: [Contact] = []
        // Those asked before and still silent: a call wakes people an SMS does not.
        for name in waiting {
            guard let contact = configuration.contacts.first(where: { $0.name == name }) else { continue }
            if policy.callUnanswered { called.append(contact) } else { texted.append(contact) }
        }
        var asked = askedNames(request)
        if request.answerList.isEmpty && groupsAsked < groups.count {
            for contact in groups[groupsAsked] where !asked.contains(contact.name) {
                texted.append(contact)
                asked.append(contact.name)
            }
            request.groupsAsked = groupsAsked + 1
        } else {
            request.groupsAsked = groupsAsked
        }
        request.asked = asked
        if let outputs = configuration.outputs[broadcastLevel] {
            let hazard = hazard(forMessagesAt: broadcastLevel, exercise: request.exercise)
            actions.append(.broadcast(message: broadcastText(outputs.message(for: hazard), exercise: request.exercise), exercise: request.exercise))
        }
        let text = messageText(level: request.level, exercise: request.exercise)
        for contact in texted { actions.append(.sendSMS(SMS(contact: contact, text: text, exercise: request.exercise))) }
        for contact in called {
            actions.append(.call(PhoneCall(contact: contact, text: text, exercise: request.exercise, ringMilliseconds: policy.callRingMilliseconds)))
        }
        actions.append(.enqueueReport(Report(
            time: now, kind: .escalated(level: request.level, step: request.escalations, contacts: texted.map(\.name), called: called.map(\.name)),
            exercise: request.exercise)))
        request.deadline = now.adding(milliseconds: policy.deadlineMilliseconds)
    }

    /// Records `answer`; returns false when that person had already answered (nothing to do).
    /// `forEveryone`: someone at the box answered, which completes the 叫应.
    func record(_ answer: AcknowledgementAnswer, in request: inout AcknowledgementRequest, forEveryone: Bool, into actions: inout [Action]) -> Bool {
        guard !request.isComplete, !request.answerList.contains(where: { $0.by == answer.by }) else { return false }
        request.answers = request.answerList + [answer]
        let seconds = max(0, answer.time.milliseconds(since: request.requestedAt)) / Milliseconds.second
        actions.append(.enqueueReport(Report(
            time: answer.time,
            kind: .acknowledged(level: request.level, by: answer.by, requestedAt: request.requestedAt, channel: answer.channel, secondsToAnswer: seconds),
            exercise: request.exercise)))
        if forEveryone || waitingNames(request).isEmpty {
            request.complete = true
            request.deadline = nil
        }
        return true
    }

    /// Contacts grouped by `order`, lowest first; within a group, configuration order.
    static func contactGroups(_ contacts: [Contact]) -> [[Contact]] {
        var orders: [Int] = []
        for contact in contacts where !orders.contains(contact.order) { orders.append(contact.order) }
        return orders.sorted().map { order in contacts.filter { $0.order == order } }
    }

    func acknowledgementStatus(_ request: AcknowledgementRequest) -> AcknowledgementStatus {
        AcknowledgementStatus(
            level: request.level, exercise: request.exercise, requestedAt: request.requestedAt, deadline: request.deadline,
            answered: request.answerList, waiting: request.isComplete ? [] : waitingNames(request), complete: request.isComplete)
    }
}
