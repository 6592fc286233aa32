// 叫应: who gets the SMS, when it escalates, when it gives up, and what an answer does.
import Testing
@testable import WarningLogic

@Suite struct AcknowledgementTests {
    @Test func reachingYellowCallsTheFirstGroupThenEscalatesThenGivesUp() {
        var engine = Engine(configuration: villageConfiguration())
        let raised = engine.tips(90, at: storm)
        #expect(raised.messages.map(\.contact.name) == ["村长", "监测员"])
        #expect(raised.messages.first?.text == "【黄坑村 黄色预警】准备转移。")
        #expect(raised.reports.contains { $0.kind == .acknowledgementRequested(level: .yellow, contacts: ["村长", "监测员"], deadline: at(storm + 10 * minute)) })
        #expect(engine.status().acknowledgementDeadline == at(storm + 10 * minute))
        #expect(engine.nextWakeup() == at(storm + 10 * minute))

        let first = engine.tick(at: storm + 10 * minute)
        #expect(first.broadcasts == ["准备转移。"], "escalation repeats the broadcast")
        #expect(first.messages.map(\.contact.name) == ["镇干部"])
        #expect(first.reports.map(\.kind) == [.escalated(level: .yellow, step: 1, contacts: ["镇干部"])])
        let second = engine.tick(at: storm + 20 * minute)
        #expect(second.messages.map(\.contact.name) == ["镇干部"], "no further group: the last again")
        #expect(second.reports.map(\.kind) == [.escalated(level: .yellow, step: 2, contacts: ["镇干部"])])
        let gaveUp = engine.tick(at: storm + 30 * minute)
        #expect(gaveUp.reports.map(\.kind) == [.acknowledgementUnanswered(level: .yellow)])
        #expect(gaveUp.messages.isEmpty)
        #expect(engine.status().level == .yellow, "nobody answering never lowers the level")
        #expect(engine.status().acknowledgementDeadline == nil)

        let late = engine.handle(Event(time: at(storm + 35 * minute), kind: .acknowledge(by: "村长")))
        #expect(late.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "村长", requestedAt: at(storm))])
    }

    @Test func anAnswerStopsTheEscalation() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(90, at: storm)
        let answer = engine.handle(Event(time: at(storm + 3 * minute), kind: .acknowledge(by: "监测员")))
        #expect(answer.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "监测员", requestedAt: at(storm))])
        #expect(engine.status().acknowledgementDeadline == nil)
        let later = engine.runUntil(storm + 50 * minute)
        #expect(later.messages.isEmpty)
    }

    @Test func eachFurtherRiseAsksAgainAndBelowTheThresholdNobodyIsAsked() {
        var engine = Engine(configuration: villageConfiguration())
        #expect(engine.tips(70, at: storm).messages.isEmpty, "blue is below fromLevel yellow")
        _ = engine.tips(20, at: storm + 1)
        _ = engine.handle(Event(time: at(storm + 2), kind: .acknowledge(by: "村长")))
        let orange = engine.tips(30, at: storm + 3)
        #expect(orange.messages.map(\.text) == ["【黄坑村 橙色预警】立即转移。", "【黄坑村 橙色预警】立即转移。"])
        #expect(orange.reports.contains { $0.kind == .acknowledgementRequested(level: .orange, contacts: ["村长", "监测员"], deadline: at(storm + 3 + 10 * minute)) })
    }

    @Test func aWarningThatEndsUnansweredIsReportedOnce() {
        var engine = Engine(configuration: villageConfiguration(
            logic: LogicConfiguration(clearAfterMilliseconds: 0),
            acknowledgement: AcknowledgementPolicy(fromLevel: .yellow, deadlineMilliseconds: 2 * hour, escalationsMax: 2)))
        _ = engine.tips(90, at: storm)
        let over = engine.tick(at: storm + hour)
        #expect(over.realLevelChanges.map(\.to) == [.none])
        #expect(over.reports.map(\.kind).contains(.acknowledgementUnanswered(level: .yellow)))
        #expect(engine.nextWakeup() == at(storm + 3 * hour), "only the 3-h window is left")
    }
}
