// The push's pure parts: backoff with full jitter, the daily window, SL 651 serial numbers, and
// the modem registration the SMS worker reads for it.
import Drivers
import Testing
@testable import VillageGateway
import WarningLogic

@Suite struct PushBackoffTests {
    let policy = PushBackoffPolicy(
        baseMilliseconds: 1_000, capMilliseconds: 20_000, floorMilliseconds: 500, attemptsPerRoundMax: 8, restMilliseconds: 3_600_000)

    @Test func delaysStayWithinTheDoublingCeilingAndTheCap() {
        var random = PushRandom(seed: 42)
        for failures in 1...7 {
            let ceiling = min(20_000, Int64(1_000) << Int64(failures - 1))
            for _ in 0..<200 {
                let delay = policy.delayMilliseconds(afterFailures: failures, using: &random)
                #expect(delay >= 500 && delay <= ceiling, "failure \(failures): \(delay) ms")
            }
            #expect(policy.delayMillisecondsMax(afterFailures: failures) == ceiling)
        }
    }

    @Test func jitterSpreadsOverTheWholeRangeNotOnlyItsTop() {
        // Full jitter: the 6th failure draws from 500…20 000 ms; many boxes must not bunch up.
        var random = PushRandom(seed: 7)
        let draws = (0..<1_000).map { _ in policy.delayMilliseconds(afterFailures: 6, using: &random) }
        #expect(draws.filter { $0 < 5_000 }.count > 100)
        #expect(draws.filter { $0 > 15_000 }.count > 100)
        #expect(Set(draws).count > 500)
    }

    @Test func theSameSeedGivesTheSameDelays() {
        var first = PushRandom(seed: 99), second = PushRandom(seed: 99)
        var a = PushBackoff(policy: policy), b = PushBackoff(policy: policy)
        let delaysA = (0..<20).map { _ in a.failed(using: &first) }
        let delaysB = (0..<20).map { _ in b.failed(using: &second) }
        #expect(delaysA == delaysB)
    }

    @Test func afterTheRoundsLastAttemptItRestsThenStartsOverAndSuccessResets() {
        var random = PushRandom(seed: 1)
        var backoff = PushBackoff(policy: policy)
        let delays = (0..<9).map { _ in backoff.failed(using: &random) }
        #expect(delays[7] >= 3_600_000 && delays[7] <= 3_960_000)  // the 8th failure: rest an hour
        #expect(delays[8] >= 500 && delays[8] <= 1_000)  // a new round from the base
        backoff.succeeded()
        #expect(backoff.consecutiveFailures == 0)
        #expect(backoff.failed(using: &random) <= 1_000)
    }

    @Test func aBoxOfflineForYearsNeitherOverflowsNorStopsTrying() {
        var random = PushRandom(seed: 3)
        var backoff = PushBackoff(policy: policy)
        for _ in 0..<100_000 {
            let delay = backoff.failed(using: &random)
            #expect(delay >= 500 && delay <= 3_960_000)
        }
    }
}

@Suite struct PushScheduleTests {
    /// 2026-07-14 00:00 at +08:00.
    static let midnight = Timestamp(millisecondsSinceUnixEpoch: 1_783_958_400_000)

    func at(hour: Int, minute: Int = 0) -> Timestamp {
        Self.midnight.adding(milliseconds: Int64(hour) * Milliseconds.hour + Int64(minute) * Milliseconds.minute)
    }

    @Test func aWindowPastMidnightOpensAndClosesInStationLocalTime() {
        let schedule = PushSchedule(window: DailyWindow(startMinuteOfDay: 22 * 60, endMinuteOfDay: 6 * 60), utcOffsetMinutes: 480)
        #expect(schedule.minuteOfDay(at: at(hour: 23, minute: 30)) == 23 * 60 + 30)
        #expect(schedule.isOpen(at: at(hour: 23)))
        #expect(schedule.isOpen(at: at(hour: 5, minute: 59)))
        #expect(!schedule.isOpen(at: at(hour: 6)))
        #expect(!schedule.isOpen(at: at(hour: 12)))
        #expect(schedule.isOpen(at: at(hour: 22)))
        #expect(schedule.millisecondsUntilOpen(at: at(hour: 12)) == 10 * Milliseconds.hour)
        #expect(schedule.millisecondsUntilOpen(at: at(hour: 23)) == 0)
    }

    @Test func alarmsGoAtOnceOutsideTheWindowOthersWait() {
        let schedule = PushSchedule(window: DailyWindow(startMinuteOfDay: 22 * 60, endMinuteOfDay: 6 * 60), utcOffsetMinutes: 480)
        #expect(schedule.allows(.alarm, at: at(hour: 12)))
        #expect(!schedule.allows(.event, at: at(hour: 12)))
        #expect(!schedule.allows(.routine, at: at(hour: 12)))
        #expect(schedule.allows(.routine, at: at(hour: 2)))
    }

    @Test func noWindowIsAlwaysOpenAndTheOffsetIsHonoured() {
        #expect(PushSchedule(window: nil, utcOffsetMinutes: 480).isOpen(at: at(hour: 12)))
        // 01:00 at +08:00 is 17:00 UTC the day before: inside 16:00-18:00 UTC, not at +08:00.
        let utc = PushSchedule(window: DailyWindow(startMinuteOfDay: 16 * 60, endMinuteOfDay: 18 * 60), utcOffsetMinutes: 0)
        let local = PushSchedule(window: DailyWindow(startMinuteOfDay: 16 * 60, endMinuteOfDay: 18 * 60), utcOffsetMinutes: 480)
        #expect(utc.isOpen(at: at(hour: 1)))
        #expect(!local.isOpen(at: at(hour: 1)))
        #expect(local.millisecondsUntilOpen(at: at(hour: 1)) == 15 * Milliseconds.hour)
    }
}

@Suite struct SL651SerialNumberTests {
    @Test func serialsFollowTheSequenceAndWrapWithinOneTo65535() {
        #expect(SL651PushTransport.serialNumber(forSequence: 1) == 1)
        #expect(SL651PushTransport.serialNumber(forSequence: 65_535) == 65_535)
        #expect(SL651PushTransport.serialNumber(forSequence: 65_536) == 1)
        #expect(SL651PushTransport.serialNumber(forSequence: 131_071) == 1)
        #expect(SL651PushTransport.serialNumber(forSequence: 200_000) == UInt16((200_000 - 1) % 65_535 + 1))
        for sequence in Int64(65_530)...Int64(65_540) {
            #expect(SL651PushTransport.serialNumber(forSequence: sequence) != 0)
        }
    }
}

@Suite struct ModemRegistrationForPushTests {
    @Test func theSMSWorkerReadsRegistrationWhenIdleAndPublishesIt() throws {
        let board = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 120_000, driving: .manual)
        // A module that cannot report changes (AT+CREG=2 refused): the minute's read is all there is.
        board.modem.refusesRegistrationReports = true
        #expect(board.outputs.dataNetworkAvailable() == nil)  // not read yet
        _ = board.outputs.stepManually()
        #expect(board.modem.commands.suffix(3) == ["AT+CREG?", "AT+CEREG?", "AT+CGREG?"])
        #expect(board.outputs.dataNetworkAvailable() == true)

        board.modem.registration = 2
        board.modem.packetRegistration = 2
        board.modem.epsRegistration = 3  // denied
        // Not re-read before its interval: the modem's serial line belongs to SMS first.
        board.modemClock.advance(nanoseconds: (SMSWorker.registrationCheckEveryMilliseconds - 1) * 1_000_000)
        _ = board.outputs.stepManually()
        #expect(board.outputs.dataNetworkAvailable() == true)
        board.modemClock.advance(nanoseconds: 1_000_000)
        _ = board.outputs.stepManually()
        #expect(board.outputs.dataNetworkAvailable() == false)

        // A stale read is unknown, not "registered".
        board.modemClock.advance(nanoseconds: (HardwareOutputs.registrationReadAgeMillisecondsMax + 1) * 1_000_000)
        #expect(board.outputs.dataNetworkAvailable() == nil)
    }

    @Test func aReadySMSGoesBeforeTheRegistrationCheck() async throws {
        let board = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 120_000, driving: .manual)
        await board.outputs.perform(
            [.sendSMS(SMS(contact: Contact(name: "村长", phone: "+8613800000001", order: 1), text: "预警", exercise: false))],
            at: Timestamp(millisecondsSinceUnixEpoch: 1_700_000_000_000))
        let commands = board.modem.commands
        let sms = try #require(commands.firstIndex { $0.hasPrefix("AT+CMGS=") })
        #expect(!commands[..<sms].contains("AT+CREG?"))
        #expect(board.modem.receivedPDUs.count == 1)
    }

    @Test func aModemThatCannotAnswerLeavesTheNetworkUnknown() throws {
        let board = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 120_000, driving: .manual)
        board.modem.scriptedAnswers["AT+CREG?"] = Array("\r\n+CME ERROR: 10\r\n".utf8)
        _ = board.outputs.stepManually()
        #expect(board.outputs.dataNetworkAvailable() == nil)
    }
}
