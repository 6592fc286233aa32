// 叫应 (call-and-answer): ask the responsible people to answer a warning, escalate when nobody does.

/// One warning waiting for an answer.
struct AcknowledgementRequest: Hashable, Codable, Sendable {
    var level: WarningLevel
    var requestedAt: Timestamp
    /// When to escalate next; nil once the escalations ran out. The request stays open so a late
    /// answer is still recorded.
    var deadline: Timestamp?
    var escalations: Int
    var exercise: Bool
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

    /// Calls the first contact group and starts the clock.
    func requestAcknowledgement(level: WarningLevel, exercise: Bool, now: Timestamp, into actions: inout [Action]) -> AcknowledgementRequest {
        let group = plan.contactGroups.first ?? []
        let text = messageText(level: level, exercise: exercise)
        for contact in group { actions.append(.sendSMS(SMS(contact: contact, text: text, exercise: exercise))) }
        let deadline = now.adding(milliseconds: configuration.acknowledgement.deadlineMilliseconds)
        actions.append(.enqueueReport(Report(
            time: now, kind: .acknowledgementRequested(level: level, contacts: group.map(\.name), deadline: deadline), exercise: exercise)))
        return AcknowledgementRequest(level: level, requestedAt: now, deadline: deadline, escalations: 0, exercise: exercise)
    }

    /// At the deadline: repeat the broadcast and call the next group, or give up asking.
    func escalateIfDue(_ request: inout AcknowledgementRequest, broadcastLevel: WarningLevel, now: Timestamp, into actions: inout [Action]) {
        guard let deadline = request.deadline, deadline <= now else { return }
        let policy = configuration.acknowledgement
        guard request.escalations < policy.escalationsMax else {
            request.deadline = nil
            actions.append(.enqueueReport(Report(time: now, kind: .acknowledgementUnanswered(level: request.level), exercise: request.exercise)))
            return
        }
        request.escalations += 1
        // The next order group; when none is left, the last group again.
        let groups = plan.contactGroups
        let group = groups.isEmpty ? [] : groups[min(request.escalations, groups.count - 1)]
        if let outputs = configuration.outputs[broadcastLevel] {
            let hazard = hazard(forMessagesAt: broadcastLevel, exercise: request.exercise)
            actions.append(.broadcast(message: broadcastText(outputs.message(for: hazard), exercise: request.exercise), exercise: request.exercise))
        }
        let text = messageText(level: request.level, exercise: request.exercise)
        for contact in group { actions.append(.sendSMS(SMS(contact: contact, text: text, exercise: request.exercise))) }
        actions.append(.enqueueReport(Report(
            time: now, kind: .escalated(level: request.level, step: request.escalations, contacts: group.map(\.name)),
            exercise: request.exercise)))
        request.deadline = now.adding(milliseconds: policy.deadlineMilliseconds)
    }

    func acknowledged(_ request: AcknowledgementRequest, by person: String, now: Timestamp, into actions: inout [Action]) {
        actions.append(.enqueueReport(Report(
            time: now, kind: .acknowledged(level: request.level, by: person, requestedAt: request.requestedAt), exercise: request.exercise)))
    }

    /// Contacts grouped by `order`, lowest first; within a group, configuration order.
    static func contactGroups(_ contacts: [Contact]) -> [[Contact]] {
        var orders: [Int] = []
        for contact in contacts where !orders.contains(contact.order) { orders.append(contact.order) }
        return orders.sorted().map { order in contacts.filter { $0.order == order } }
    }
}
