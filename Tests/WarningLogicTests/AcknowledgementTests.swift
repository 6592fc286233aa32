// 叫应: who is asked, how the silent are chased, when it gives up, and what each answer does.
import Foundation
import Testing
@testable import WarningLogic

@Suite struct AcknowledgementTests {
    @Test func reachingYellowTextsTheFirstGroupThenChasesEveryoneThenGivesUp() {
        var engine = Engine(configuration: villageConfiguration())
        let raised = engine.tips(90, at: storm)
        #expect(raised.messages.map(\.contact.name) == ["村长", "监测员"])
        #expect(raised.messages.first?.text == "【黄坑村 黄色预警】准备转移。")
        #expect(raised.reports.contains { $0.kind == .acknowledgementRequested(level: .yellow, contacts: ["村长", "监测员"], deadline: at(storm + 10 * minute)) })
        #expect(engine.status().acknowledgementDeadline == at(storm + 10 * minute))
        #expect(engine.nextWakeup() == at(storm + 10 * minute))

        let first = engine.tick(at: storm + 10 * minute)
        #expect(first.broadcasts == ["准备转移。"], "escalation repeats the broadcast")
        #expect(first.messages.map(\.contact.name) == ["村长", "监测员", "镇干部"], "the silent again, and the next order")
        #expect(first.reports.map(\.kind) == [.escalated(level: .yellow, step: 1, contacts: ["村长", "监测员", "镇干部"], called: [])])
        let second = engine.tick(at: storm + 20 * minute)
        #expect(second.messages.map(\.contact.name) == ["村长", "监测员", "镇干部"], "list exhausted: everyone unanswered, not only the last")
        let gaveUp = engine.tick(at: storm + 30 * minute)
        #expect(gaveUp.reports.map(\.kind) == [.acknowledgementUnanswered(level: .yellow, unanswered: ["村长", "监测员", "镇干部"])])
        #expect(gaveUp.messages.isEmpty)
        #expect(engine.status().level == .yellow, "nobody answering never lowers the level")
        #expect(engine.status().acknowledgementDeadline == nil)

        let late = engine.handle(Event(time: at(storm + 35 * minute), kind: .acknowledge(by: "村长")))
        #expect(late.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "村长", requestedAt: at(storm), channel: .scenario, secondsToAnswer: 35 * 60)])
    }

    @Test func withCallsTheSilentAreRungAndTheNextOrderTexted() {
        var engine = Engine(configuration: villageConfiguration(acknowledgement: AcknowledgementPolicy(
            fromLevel: .yellow, deadlineMilliseconds: minute, escalationsMax: 3, callUnanswered: true, callRingMilliseconds: 25_000)))
        _ = engine.tips(90, at: storm)
        let first = engine.tick(at: storm + minute)
        #expect(first.messages.map(\.contact.name) == ["镇干部"])
        let calls = first.compactMap { if case .call(let call) = $0 { call } else { nil } }
        #expect(calls.map(\.contact.name) == ["村长", "监测员"])
        #expect(calls.allSatisfy { $0.ringMilliseconds == 25_000 && $0.text == "【黄坑村 黄色预警】准备转移。" })
        #expect(first.reports.map(\.kind) == [.escalated(level: .yellow, step: 1, contacts: ["镇干部"], called: ["村长", "监测员"])])

        let pickedUp = engine.handle(Event(time: at(storm + minute + 20_000), kind: .callEnded(phone: "+8613800000001", reached: true, detail: "picked up")))
        #expect(pickedUp.reports.map(\.kind) == [.callEnded(level: .yellow, contact: "村长", reached: true, detail: "picked up")])
        #expect(engine.status().acknowledgement?.waiting == ["村长", "监测员", "镇干部"], "reached is not answered")
    }

    @Test func aReplyFromTheContactsNumberInAnyFormAnswersForThatContactOnly() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(90, at: storm)
        let answer = engine.handle(Event(time: at(storm + 3 * minute), kind: .reply(phone: "+8613800000001", channel: .sms, text: "收到")))
        #expect(answer.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "村长", requestedAt: at(storm), channel: .sms, secondsToAnswer: 180)])
        var status = engine.status().acknowledgement
        #expect(status?.answered.map(\.by) == ["村长"])
        #expect(status?.waiting == ["监测员"])
        #expect(engine.status().acknowledgementDeadline == at(storm + 10 * minute), "the others are still waited for")

        let first = engine.tick(at: storm + 10 * minute)
        #expect(first.messages.map(\.contact.name) == ["监测员"], "someone answered: only the silent are chased, no next order")

        let callBack = engine.handle(Event(time: at(storm + 11 * minute), kind: .reply(phone: "8613800000002", channel: .call, text: "")))
        #expect(callBack.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "监测员", requestedAt: at(storm), channel: .call, secondsToAnswer: 660)])
        status = engine.status().acknowledgement
        #expect(status?.complete == true)
        #expect(status?.waiting == [])
        #expect(engine.status().acknowledgementDeadline == nil)
        #expect(engine.runUntil(storm + 50 * minute).messages.isEmpty, "complete: nobody is chased")

        let again = engine.handle(Event(time: at(storm + 51 * minute), kind: .reply(phone: "13800000002", channel: .sms, text: "到")))
        #expect(again.reports.map(\.kind) == [.answerNotTaken(phone: "13800000002", channel: .sms, reason: "监测员 answered, but no 叫应 is waiting")])
    }

    @Test func anUnknownNumberIsReportedAndNotTaken() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(90, at: storm)
        let stranger = engine.handle(Event(time: at(storm + minute), kind: .reply(phone: "+8613911112222", channel: .sms, text: "收到")))
        #expect(stranger.reports.map(\.kind) == [.answerNotTaken(phone: "+8613911112222", channel: .sms, reason: "the number is not a [[contact]]")])
        #expect(stranger.reports.first?.isAlarm == false)
        let caller = engine.handle(Event(time: at(storm + minute), kind: .reply(phone: "10086", channel: .call, text: "")))
        #expect(caller.reports.map(\.kind) == [.answerNotTaken(phone: "10086", channel: .call, reason: "the number is not a [[contact]]")])
        #expect(engine.status().acknowledgement?.answered == [])
        #expect(engine.status().acknowledgement?.waiting == ["村长", "监测员"])
    }

    @Test func aReplyOutsideA叫应IsReportedAndNotTaken() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tick(at: storm)
        let reply = engine.handle(Event(time: at(storm + 1), kind: .reply(phone: "13800000001", channel: .sms, text: "1")))
        #expect(reply.reports.map(\.kind) == [.answerNotTaken(phone: "13800000001", channel: .sms, reason: "村长 answered, but no 叫应 is waiting")])
    }

    @Test func withKeywordsOnlyAKeywordAnswers() {
        var engine = Engine(configuration: villageConfiguration(acknowledgement: AcknowledgementPolicy(
            fromLevel: .yellow, deadlineMilliseconds: 10 * minute, escalationsMax: 2, answerKeywords: ["1", "收到", "到"])))
        _ = engine.tips(90, at: storm)
        let chatter = engine.handle(Event(time: at(storm + minute), kind: .reply(phone: "13800000001", channel: .sms, text: "什么事？")))
        #expect(chatter.reports.map(\.kind) == [.answerNotTaken(
            phone: "13800000001", channel: .sms, reason: "村长 replied \"什么事？\", which is not an answer keyword (1, 收到, 到)")])
        let answer = engine.handle(Event(time: at(storm + 2 * minute), kind: .reply(phone: "13800000001", channel: .sms, text: " 收到\n")))
        #expect(answer.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "村长", requestedAt: at(storm), channel: .sms, secondsToAnswer: 120)])
        let key = engine.handle(Event(time: at(storm + 3 * minute), kind: .reply(phone: "13800000002", channel: .keypress, text: "5")))
        #expect(key.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "监测员", requestedAt: at(storm), channel: .keypress, secondsToAnswer: 180)],
                "a key in the box's call is an answer whatever the keywords")
    }

    @Test func theButtonAnswersForEveryone() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(90, at: storm)
        let answer = engine.handle(Event(time: at(storm + 3 * minute), kind: .acknowledge(by: "button", channel: .button)))
        #expect(answer.reports.map(\.kind) == [.acknowledged(level: .yellow, by: "button", requestedAt: at(storm), channel: .button, secondsToAnswer: 180)])
        #expect(engine.status().acknowledgementDeadline == nil)
        #expect(engine.status().acknowledgement?.complete == true)
        #expect(engine.runUntil(storm + 50 * minute).messages.isEmpty)
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

    @Test func aWarningThatEndsUnansweredIsReportedOnceWithWhoNeverAnswered() {
        var engine = Engine(configuration: villageConfiguration(
            logic: LogicConfiguration(clearAfterMilliseconds: 0),
            acknowledgement: AcknowledgementPolicy(fromLevel: .yellow, deadlineMilliseconds: 2 * hour, escalationsMax: 2)))
        _ = engine.tips(90, at: storm)
        _ = engine.handle(Event(time: at(storm + minute), kind: .reply(phone: "13800000002", channel: .sms, text: "好")))
        let over = engine.tick(at: storm + hour)
        #expect(over.realLevelChanges.map(\.to) == [.none])
        #expect(over.reports.map(\.kind).contains(.acknowledgementUnanswered(level: .yellow, unanswered: ["村长"])))
        #expect(engine.nextWakeup() == at(storm + 3 * hour), "only the 3-h window is left")
    }

    @Test func phoneNumbersMatchInEveryWrittenForm() {
        for form in ["+8613800000001", "8613800000001", "13800000001", "008613800000001", "+86 138-0000-0001"] {
            #expect(PhoneNumber.same(form, "13800000001"), "\(form)")
            #expect(PhoneNumber.same(form, "+8613800000001"), "\(form)")
        }
        #expect(!PhoneNumber.same("+85213800000001", "13800000001"), "another country is another number")
        #expect(!PhoneNumber.same("13800000002", "13800000001"))
        #expect(PhoneNumber.comparable("China Mobile") == nil)
        #expect(!PhoneNumber.same("", ""))
    }

    @Test func aStateAndAJournalFromBeforeChannelsStillLoad() throws {
        // What a box running the previous release wrote: no answers, no channel.
        let savedRequest = #"{"level":2,"requestedAt":{"millisecondsSinceUnixEpoch":1000},"deadline":{"millisecondsSinceUnixEpoch":601000},"escalations":1,"exercise":false}"#
        let request = try decodeJSON(AcknowledgementRequest.self, savedRequest)
        #expect(request.answerList.isEmpty && !request.isComplete)
        let engine = Engine(configuration: villageConfiguration())
        #expect(engine.askedNames(request) == ["村长", "监测员", "镇干部"], "one escalation reached the second order")
        let journaled = try decodeJSON(Event.Kind.self, #"{"acknowledge":{"by":"shell ttyS0"}}"#)
        #expect(journaled == .acknowledge(by: "shell ttyS0", channel: nil))
        guard case .acknowledge(let by, let channel) = journaled else { return }
        #expect((channel ?? AnswerChannel.guessed(by: by)) == .shell)
    }
}

private func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    try JSONDecoder().decode(type, from: Data(text.utf8))
}
