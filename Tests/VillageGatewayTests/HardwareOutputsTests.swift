// The outputs over the simulated twins: the siren switches at exact instants, rests after its
// maximum on-time, one lamp at a time, safe state, voice and SMS queues; no test sleeps to see
// a relay switch (time is each twin's simulated clock, stepped by hand).
import Drivers
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct HardwareSirenScheduleTests {
    /// (instant, on) pairs of every relay change from 0 to `until`.
    func switches(_ schedule: inout SirenSchedule, until: Int64) -> [(Int64, Bool)] {
        var result: [(Int64, Bool)] = [(0, schedule.relayOn)]
        while let next = schedule.nextChangeMilliseconds, next <= until {
            let before = schedule.relayOn
            schedule.advance(to: next)
            if schedule.relayOn != before { result.append((next, schedule.relayOn)) }
        }
        return result
    }

    @Test func aContinuousSirenRestsAfterItsMaximumOnTimeThenResumes() {
        var schedule = SirenSchedule(maxOnMilliseconds: 600_000, restMilliseconds: 120_000)
        schedule.set(.continuous, at: 0)
        let got = switches(&schedule, until: 1_500_000)
        #expect(got.map(\.0) == [0, 600_000, 720_000, 1_320_000, 1_440_000])
        #expect(got.map(\.1) == [true, false, true, false, true])
        #expect(schedule.restCount == 2)
    }

    @Test func intermittentOnTimesAddUpTowardsTheRest() {
        var schedule = SirenSchedule(maxOnMilliseconds: 5_000, restMilliseconds: 10_000)
        schedule.set(.intermittent(onMilliseconds: 2_000, offMilliseconds: 3_000), at: 0)
        let got = switches(&schedule, until: 23_000)
        // on 2 s, off 3 s, on 2 s (4 s used), off 3 s, on 1 s (5 s used) → rest 10 s → on again.
        #expect(got.map(\.0) == [0, 2_000, 5_000, 7_000, 10_000, 11_000, 21_000, 23_000])
        #expect(got.map(\.1) == [true, false, true, false, true, false, true, false])
    }

    @Test func theSamePatternAgainDoesNotRestartTheCycle() {
        var schedule = SirenSchedule(maxOnMilliseconds: 10_000, restMilliseconds: 5_000)
        schedule.set(.continuous, at: 0)
        schedule.set(.continuous, at: 8_000)
        #expect(schedule.nextChangeMilliseconds == 10_000)
        // A new pattern keeps the on-time used; only off forgets it.
        schedule.set(.intermittent(onMilliseconds: 4_000, offMilliseconds: 1_000), at: 9_000)
        #expect(schedule.nextChangeMilliseconds == 10_000)
        schedule.set(.off, at: 9_500)
        #expect(!schedule.relayOn && schedule.nextChangeMilliseconds == nil)
        schedule.set(.continuous, at: 9_600)
        #expect(schedule.nextChangeMilliseconds == 19_600)
    }

    @Test func aRestInProgressIsFinishedBeforeANewPattern() {
        var schedule = SirenSchedule(maxOnMilliseconds: 1_000, restMilliseconds: 5_000)
        schedule.set(.continuous, at: 0)
        schedule.advance(to: 2_000)
        #expect(!schedule.relayOn)
        schedule.set(.intermittent(onMilliseconds: 500, offMilliseconds: 500), at: 2_000)
        #expect(!schedule.relayOn && schedule.nextChangeMilliseconds == 6_000)
    }

    @Test func aLateWakeUpLandsOnTheRightState() {
        var schedule = SirenSchedule(maxOnMilliseconds: 3_600_000, restMilliseconds: 0)
        schedule.set(.intermittent(onMilliseconds: 2_000, offMilliseconds: 3_000), at: 0)
        schedule.advance(to: 51_000)  // 10 cycles of 5 s, then 1 s into an on-phase
        #expect(schedule.relayOn && schedule.nextChangeMilliseconds == 52_000)
    }
}

@Suite struct HardwareOutputsTests {
    static let start = Timestamp(millisecondsSinceUnixEpoch: 1_700_000_000_000)
    static let contact = Contact(name: "村长", phone: "+8613800000001", order: 1)

    func board(maxOn: Int64 = 600_000, rest: Int64 = 120_000) throws -> SimulatedBoardHardware {
        try SimulatedBoardHardware(sirenMaxOnMilliseconds: maxOn, sirenRestMilliseconds: rest, driving: .manual)
    }

    /// Brings every twin's clock to `milliseconds` (never back) and runs what became due.
    @discardableResult
    func advance(_ board: SimulatedBoardHardware, to milliseconds: Int64) -> Int64? {
        for clock in [board.relayClock, board.voiceClock, board.modemClock] where clock.nanoseconds < milliseconds * 1_000_000 {
            clock.advance(nanoseconds: milliseconds * 1_000_000 - clock.nanoseconds)
        }
        return board.outputs.stepManually()
    }

    /// Runs the relay worker deadline by deadline up to `until`.
    func runRelays(_ board: SimulatedBoardHardware, until: Int64) {
        var next = board.outputs.stepManually()
        while let deadline = next, deadline <= until {
            next = advance(board, to: max(deadline, board.relayClock.nowMilliseconds()))
        }
        advance(board, to: until)
    }

    func onOff(_ history: [SimulatedOutputChange]) -> [(Int64, Bool)] {
        history.map { ($0.atNanoseconds / 1_000_000, $0.on) }
    }

    @Test func anIntermittentSirenSwitchesAtTheExactInstants() async throws {
        let board = try board()
        await board.outputs.perform([.setSiren(.intermittent(onMilliseconds: 2_000, offMilliseconds: 3_000), exercise: false)], at: Self.start)
        runRelays(board, until: 12_000)
        let history = onOff(board.sirenHistory)
        // The opening write (off), then the pattern.
        #expect(history.map(\.0) == [0, 0, 2_000, 5_000, 7_000, 10_000, 12_000])
        #expect(history.map(\.1) == [false, true, false, true, false, true, false])
        let snapshot = await board.outputs.snapshot()
        #expect(snapshot.sirenPattern == "intermittent 2000ms on/3000ms off")
        #expect(!snapshot.sirenOn)
    }

    @Test func theSirenRestsAfterItsMaximumOnTime() async throws {
        let board = try board(maxOn: 60_000, rest: 30_000)
        await board.outputs.perform([.setSiren(.continuous, exercise: false)], at: Self.start)
        runRelays(board, until: 100_000)
        #expect(onOff(board.sirenHistory).map(\.0) == [0, 0, 60_000, 90_000])
        #expect(board.outputs.relayStatus.sirenRests == 1)
        #expect(await board.outputs.snapshot().sirenOn)
    }

    @Test func exactlyTheRequestedLampIsLitAndTheOthersGoOffFirst() async throws {
        let board = try board()
        await board.outputs.perform([.setLamp(.yellow, exercise: false)], at: Self.start)
        advance(board, to: 1_000)
        await board.outputs.perform([.setLamp(.red, exercise: false)], at: Self.start)
        #expect(onOff(board.lampHistory(.yellow)).map(\.1) == [false, true, false])
        #expect(onOff(board.lampHistory(.red)).map(\.1) == [false, true])
        #expect(board.lampHistory(.yellow).last!.atNanoseconds <= board.lampHistory(.red).last!.atNanoseconds)
        #expect(board.lampHistory(.blue).map(\.on) == [false])
        #expect(await board.outputs.snapshot().lamp == "red")
        await board.outputs.perform([.setLamp(nil, exercise: false)], at: Self.start)
        #expect(await board.outputs.snapshot().lamp == nil)
        #expect(board.lampHistory(.red).last?.on == false)
    }

    @Test func safeStateSilencesTheSirenDarkensTheLampsAndStopsSpeech() async throws {
        let board = try board()
        await board.outputs.perform(
            [.setSiren(.continuous, exercise: true), .setLamp(.orange, exercise: true), .broadcast(message: "【演练】请转移", exercise: true)],
            at: Self.start)
        #expect(await board.outputs.snapshot().sirenOn)
        #expect(await board.outputs.snapshot().exercise)
        await board.outputs.enterSafeState()
        let snapshot = await board.outputs.snapshot()
        #expect(!snapshot.sirenOn && snapshot.lamp == nil && snapshot.sirenPattern == "off")
        #expect(board.sirenHistory.last?.on == false)
        #expect(board.lampHistory(.orange).last?.on == false)
        #expect(board.voiceModule.stopCount >= 1)
        // It stays safe: time passing does not bring the pattern back.
        runRelays(board, until: 700_000)
        #expect(board.sirenHistory.last?.on == false)
    }

    @Test func aFailedRelayWritePutsEveryRelaySafeAndRetriesTheWish() async throws {
        let board = try board()
        await board.outputs.perform([.setLamp(.red, exercise: false)], at: Self.start)
        #expect(board.lampHistory(.red).last?.on == true)
        board.relayChip.failNextWrites(offset: SimulatedBoardHardware.sirenLineOffset, count: 1)
        await board.outputs.perform([.setSiren(.continuous, exercise: false)], at: Self.start)
        #expect(board.outputs.relayStatus.relayFailures == 1)
        #expect(board.lampHistory(.red).last?.on == false)
        #expect(!(await board.outputs.snapshot().sirenOn))
        runRelays(board, until: RelayWorker.retryAfterFailureMilliseconds - 1)
        #expect(board.sirenHistory.last?.on == false)
        runRelays(board, until: RelayWorker.retryAfterFailureMilliseconds)
        #expect(onOff(board.sirenHistory).last! == (RelayWorker.retryAfterFailureMilliseconds, true))
        #expect(board.lampHistory(.red).last?.on == true)
    }

    @Test func broadcastsAreSpokenAsGivenAndWaitWhileTheModuleIsBusy() async throws {
        let board = try board()
        await board.outputs.perform([.broadcast(message: "【演练】黄色预警", exercise: true)], at: Self.start)
        #expect(board.spokenTexts == ["【演练】黄色预警"])
        await board.outputs.perform([.broadcast(message: "红色预警 立即转移", exercise: false)], at: Self.start)
        // The module still speaks the first announcement: the second waits, polled.
        advance(board, to: 2_000)
        #expect(board.spokenTexts.count == 1)
        #expect(await board.outputs.snapshot().lastSpoken == "【演练】黄色预警")
        board.voiceModule.speaking = false
        advance(board, to: 2_000 + VoiceWorker.busyPollMilliseconds)
        #expect(board.spokenTexts == ["【演练】黄色预警", "红色预警 立即转移"])
        #expect(await board.outputs.snapshot().lastSpoken == "红色预警 立即转移")
    }

    /// Real warnings pre-empt drills at the loudspeaker too: drill words waiting in the queue
    /// give way, all but the newest (the drill's end, which the engine says just before the real
    /// warning), so the real warning follows the one playing and that one.
    @Test func aRealAnnouncementWaitsBehindAtMostTheDrillsEnd() async throws {
        let board = try board()
        await board.outputs.perform([.broadcast(message: "【演练】红色预警 立即转移", exercise: true)], at: Self.start)
        await board.outputs.perform([
            .broadcast(message: "【演练】红色预警 再次", exercise: true), .broadcast(message: "【演练】演练结束。", exercise: true),
            .broadcast(message: "橙色预警 准备转移", exercise: false),
        ], at: Self.start)
        #expect(board.outputs.voiceStatus?.drillDropped == 1)
        var now: Int64 = 0
        while board.spokenTexts.count < 3 && now < 60_000 {
            board.voiceModule.speaking = false
            now += VoiceWorker.busyPollMilliseconds
            advance(board, to: now)
        }
        #expect(board.spokenTexts == ["【演练】红色预警 立即转移", "【演练】演练结束。", "橙色预警 准备转移"])
    }

    @Test func aFullVoiceQueueDropsTheOldestWaitingAnnouncementNotTheNewest() async throws {
        let board = try board()
        await board.outputs.perform([.broadcast(message: "speaking", exercise: false)], at: Self.start)
        let waiting = (1...VoiceWorker.queuedMessagesMax + 1).map { "message \($0)" }
        for message in waiting {
            await board.outputs.perform([.broadcast(message: message, exercise: false)], at: Self.start)
        }
        #expect(board.outputs.voiceStatus?.dropped == 1)
        var now: Int64 = 0
        while board.spokenTexts.count < VoiceWorker.queuedMessagesMax + 1 && now < 60_000 {
            board.voiceModule.speaking = false
            now += VoiceWorker.busyPollMilliseconds
            advance(board, to: now)
        }
        #expect(board.spokenTexts == ["speaking"] + waiting.dropFirst())
    }

    @Test func anSMSIsSentThroughTheModem() async throws {
        let board = try board()
        await board.outputs.perform([.sendSMS(SMS(contact: Self.contact, text: "红色预警，请立即组织转移", exercise: false))], at: Self.start)
        #expect(board.modem.receivedPDUs.count == 1)
        let snapshot = await board.outputs.snapshot()
        #expect(snapshot.smsSent == 1 && snapshot.smsFailed == 0 && snapshot.smsQueued == 0)
    }

    @Test func aFailingSMSIsRetriedWithBackoffThenGivenUpAndCounted() async throws {
        let board = try board()
        board.modem.smsErrorCode = 331  // no network
        await board.outputs.perform([.sendSMS(SMS(contact: Self.contact, text: "预警", exercise: false))], at: Self.start)
        func attempts() -> Int { board.modem.commands.filter { $0.hasPrefix("AT+CMGS=") }.count }
        #expect(attempts() == 1)
        #expect(await board.outputs.snapshot().smsQueued == 1)
        // Retries 10 s, 20 s, 40 s, 80 s after each failure (as measured on the modem's clock).
        var failedAt = board.modemClock.nowMilliseconds()
        for attempt in 1..<SMSWorker.attemptsMax {
            let delay = SMSWorker.retryDelayMilliseconds(afterAttempts: attempt)
            advance(board, to: failedAt + delay - 1)
            #expect(attempts() == attempt)
            advance(board, to: failedAt + delay)
            #expect(attempts() == attempt + 1)
            failedAt = board.modemClock.nowMilliseconds()
        }
        let snapshot = await board.outputs.snapshot()
        #expect(snapshot.smsFailed == 1 && snapshot.smsQueued == 0 && snapshot.smsSent == 0)
        #expect(SMSWorker.retryDelayMilliseconds(afterAttempts: 1) == 10_000)
        #expect(SMSWorker.retryDelayMilliseconds(afterAttempts: 30) == SMSWorker.retryBackoffMaxMilliseconds)
    }

    @Test func anInvalidNumberIsGivenUpAtOnceWithoutHoldingBackTheOthers() async throws {
        let board = try board()
        let bad = Contact(name: "错号", phone: "13x", order: 1)
        await board.outputs.perform(
            [.sendSMS(SMS(contact: bad, text: "预警", exercise: false)), .sendSMS(SMS(contact: Self.contact, text: "预警", exercise: false))],
            at: Self.start)
        advance(board, to: 1)
        let snapshot = await board.outputs.snapshot()
        #expect(snapshot.smsFailed == 1 && snapshot.smsSent == 1 && snapshot.smsQueued == 0)
    }

    @Test func aFullSMSQueueGivesUpTheOldestDrillRetryFirst() {
        func sms(_ name: String, exercise: Bool) -> SMS {
            SMS(contact: Contact(name: name, phone: "+861380000000", order: 1), text: name, exercise: exercise)
        }
        var queue = SMSQueue(capacity: 3)
        #expect(queue.append(sms("real retry", exercise: false)) == nil)
        #expect(queue.append(sms("drill retry", exercise: true)) == nil)
        #expect(queue.append(sms("drill new", exercise: true)) == nil)
        // Both of the first two fail once: now they are retries.
        for _ in 0..<2 {
            #expect(queue.takeReady(nowMilliseconds: 0) != nil)
            #expect(!queue.failed(nowMilliseconds: 0, attemptsMax: 5) { _ in 1_000 })
        }
        #expect(queue.append(sms("new 1", exercise: false))?.text == "drill retry")
        #expect(queue.append(sms("new 2", exercise: false))?.text == "real retry")
        #expect(queue.append(sms("new 3", exercise: false))?.text == "drill new")
        #expect(queue.append(sms("new 4", exercise: false))?.text == "new 1")
        #expect(queue.entries.map(\.sms.text) == ["new 2", "new 3", "new 4"])
        // The one being sent is never given up.
        #expect(queue.takeReady(nowMilliseconds: 0)?.text == "new 2")
        #expect(queue.append(sms("new 5", exercise: false))?.text == "new 3")
        #expect(queue.entries.count == 3)
    }

    @Test func theBoxWithRealThreadsSwitchesAndReturnsToSafeState() async throws {
        let board = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 60_000, driving: .dedicatedThreads)
        await board.outputs.perform(
            [.setSiren(.continuous, exercise: false), .setLamp(.red, exercise: false), .broadcast(message: "立即转移", exercise: false)],
            at: Self.start)
        // A hang guard, not a timing assertion: the relay thread wakes at once.
        var guardRounds = 0
        while !(await board.outputs.snapshot().sirenOn) && guardRounds < 2_000 {
            try await Task.sleep(nanoseconds: 5_000_000)
            guardRounds += 1
        }
        #expect(await board.outputs.snapshot().sirenOn)
        #expect(await board.outputs.snapshot().lamp == "red")
        await board.outputs.enterSafeState()
        let snapshot = await board.outputs.snapshot()
        #expect(!snapshot.sirenOn && snapshot.lamp == nil)
        board.outputs.shutdown()
        // Opening (off), on, the safe state; stopping the worker asserts off once more.
        #expect(board.sirenHistory.map(\.on).prefix(3) == [false, true, false])
        #expect(board.sirenHistory.dropFirst(2).allSatisfy { !$0.on })
        #expect(board.lampHistory(.red).map(\.on).prefix(3) == [false, true, false])
        #expect(board.lampHistory(.red).dropFirst(2).allSatisfy { !$0.on })
    }

    @Test func impossibleSirenLimitsAreRefusedWithTheKeyName() {
        #expect(throws: HardwareSetupError.self) {
            try SimulatedBoardHardware(sirenMaxOnMilliseconds: 0, sirenRestMilliseconds: 1, driving: .manual)
        }
        do {
            _ = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 1_000, sirenRestMilliseconds: -1, driving: .manual)
            Issue.record("a negative rest was accepted")
        } catch {
            #expect(error.description.contains("siren_rest"))
        }
    }
}

@Suite struct HardwareVoiceSplitTests {
    @Test func aLongAnnouncementIsSpokenInPartsCutAfterPunctuation() async throws {
        let board = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 60_000, driving: .manual)
        // SYN6288 takes 200 bytes of text in a frame: 100 UTF-16 units; this message has 185.
        let sentence = "黄坑村河道水位已超过警戒水位，山洪即将到来，"
        let message = String(repeating: sentence, count: 8) + "请立即向高处转移。"
        await board.outputs.perform([.broadcast(message: message, exercise: false)], at: Timestamp(millisecondsSinceUnixEpoch: 0))
        var now: Int64 = 0
        while board.spokenTexts.joined() != message && now < 120_000 {
            board.voiceModule.speaking = false
            now += VoiceWorker.busyPollMilliseconds
            for clock in [board.voiceClock] where clock.nanoseconds < now * 1_000_000 {
                clock.advance(nanoseconds: now * 1_000_000 - clock.nanoseconds)
            }
            board.outputs.stepManually()
        }
        #expect(board.spokenTexts.joined() == message)
        #expect(board.spokenTexts.count > 1)
        #expect(board.spokenTexts.dropLast().allSatisfy { $0.hasSuffix("，") })
        #expect(board.outputs.voiceStatus?.failed == 0)
    }

    @Test func splittingKeepsEveryCharacterAndTheBound() {
        let text = String(repeating: "无标点的很长的一段话", count: 5)
        let parts = VoiceWorker.split(text, utf16UnitsMax: 12)
        #expect(parts.joined() == text)
        #expect(parts.allSatisfy { $0.utf16.count <= 12 })
        #expect(VoiceWorker.split("短句。", utf16UnitsMax: 12) == ["短句。"])
    }
}

/// The shell's `test` on the real outputs (over the twins): on as a drill, then back to what the
/// engine asked for, the siren's protection holding meanwhile.
@Suite struct HardwareOutputTestTests {
    @Test func aSirenTestSoundsThenTheOutputsGoBackToTheEnginesState() async throws {
        let suite = HardwareOutputsTests()
        let board = try suite.board(maxOn: 60_000, rest: 30_000)
        await board.outputs.perform([.setLamp(.yellow, exercise: false)], at: HardwareOutputsTests.start)
        suite.advance(board, to: 1_000)
        #expect(await board.outputs.beginTest(.siren, at: HardwareOutputsTests.start) == nil)
        suite.runRelays(board, until: 2_000)
        var snapshot = await board.outputs.snapshot()
        #expect(snapshot.sirenOn && snapshot.exercise && snapshot.lamp == "yellow")
        await board.outputs.endTest()
        suite.runRelays(board, until: 3_000)
        snapshot = await board.outputs.snapshot()
        #expect(!snapshot.sirenOn && snapshot.sirenPattern == "off" && snapshot.lamp == "yellow" && !snapshot.exercise)
        #expect(suite.onOff(board.sirenHistory).map(\.1) == [false, true, false])
    }

    @Test func aLampTestLightsTheColourAndEndsWithTheEnginesLamp() async throws {
        let suite = HardwareOutputsTests()
        let board = try suite.board()
        #expect(await board.outputs.beginTest(.lamp(.red), at: HardwareOutputsTests.start) == nil)
        suite.advance(board, to: 1_000)
        #expect(await board.outputs.snapshot().lamp == "red")
        await board.outputs.endTest()
        suite.advance(board, to: 2_000)
        #expect(await board.outputs.snapshot().lamp == nil)
        #expect(suite.onOff(board.lampHistory(.red)).map(\.1) == [false, true, false])
    }

    @Test func aTestSMSIsQueuedForTheModemAsADrill() async throws {
        let suite = HardwareOutputsTests()
        let board = try suite.board()
        let text = "【测试】黄坑村预警设备短信测试"
        #expect(await board.outputs.beginTest(.sms(HardwareOutputsTests.contact, text: text), at: HardwareOutputsTests.start) == nil)
        let status = board.outputs.smsStatus
        #expect((status?.queued ?? 0) + (status?.sent ?? 0) + (status?.failed ?? 0) >= 1)
    }
}
