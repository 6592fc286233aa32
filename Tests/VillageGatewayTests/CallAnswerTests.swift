// 叫应 closed loop over the modem twin and over a real pty: replies by SMS and calls to the box
// reach the engine as answers, the box rings the silent, the SMS queue survives a restart, and an
// unplugged modem comes back.
import Foundation
import Glibc
import Logging
import Testing
@testable import Drivers
import TimeSeam
@testable import VillageGateway
import WarningLogic

/// The village of the tests: contacts stored the way a county may type them (bare 11 digits).
enum CallAnswerVillage {
    static let start = Timestamp(millisecondsSinceUnixEpoch: 1_596_499_200_000)
    static let contacts = [
        Contact(name: "王建国", phone: "13800000001", order: 1),
        Contact(name: "李秀英", phone: "+8613800000002", order: 1),
        Contact(name: "陈志强", phone: "13900000003", order: 2),
    ]

    static func engine(_ policy: AcknowledgementPolicy = AcknowledgementPolicy(fromLevel: .yellow, deadlineMilliseconds: 60_000, escalationsMax: 3)) -> Engine {
        var engine = Engine(configuration: EngineConfiguration(
            station: StationIdentity(id: "4312000001", name: "黄坑村"), sensors: [], rules: [], contacts: contacts,
            acknowledgement: policy, outputs: [.red: LevelOutputs(siren: .continuous, lamp: .red, message: "立即转移！")]))
        // The county orders red: 叫应 asks the first order.
        _ = engine.handle(Event(time: start, kind: .countyWarning(id: "w1", level: .red, text: nil)))
        return engine
    }

    /// A hand-written SMS-DELIVER from +8613800000001 saying 收到 in UCS-2 (what a phone's reply
    /// looks like in AT+CMGR): SMSC +8613800200500, TP-OA 0D 91 683108000000F1, DCS 08.
    static let replyPDU = "0891683108200005F0" + "04" + "0D91683108000000F1" + "00" + "08" + "02408040000023" + "04" + "65365230"
    /// The same from a number that is no contact (+8613711112222).
    static let strangerPDU = "0891683108200005F0" + "04" + "0D91683117112122F2" + "00" + "08" + "02408040000023" + "04" + "65365230"

    static func reports(_ actions: [Action]) -> [Report.Kind] {
        actions.compactMap { if case .enqueueReport(let report) = $0 { report.kind } else { nil } }
    }
}

@Suite struct CallAnswerOverTheTwinTests {
    typealias Village = CallAnswerVillage

    func board(queueFile: String? = nil) throws -> SimulatedBoardHardware {
        try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 120_000, driving: .manual, smsQueueFile: queueFile)
    }

    /// Advances the modem's clock by `milliseconds` and runs the workers.
    func pass(_ board: SimulatedBoardHardware, milliseconds: Int64) {
        board.modemClock.advance(nanoseconds: milliseconds * 1_000_000)
        board.outputs.stepManually()
    }

    /// Steps the modem worker until `condition` holds, a bounded number of simulated seconds.
    func run(_ board: SimulatedBoardHardware, secondsMax: Int = 120, until condition: () -> Bool) {
        var seconds = 0
        while !condition() && seconds < secondsMax {
            pass(board, milliseconds: 1_000)
            seconds += 1
        }
    }

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "callanswer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aUCS2ReplyFromTheInternationalNumberAnswersForTheContactStoredAsElevenDigits() throws {
        let board = try board()
        board.outputs.stepManually()  // opens the modem: caller id and +CMTI turned on
        #expect(board.modem.commands.contains("AT+CLIP=1"))
        #expect(board.modem.commands.contains("AT+CNMI=2,1,0,0,0"))
        var engine = Village.engine()
        board.modem.deliverPDU(Village.replyPDU)
        pass(board, milliseconds: SMSWorker.listenEveryMilliseconds)
        let answers = board.outputs.takeModemAnswers()
        #expect(answers == [.reply(phone: "+8613800000001", channel: .sms, text: "收到")])
        #expect(board.modem.storedMessageCount == 0, "read, then deleted: the SIM never fills")
        let actions = engine.handle(Event(time: Village.start.adding(milliseconds: 42_000), kind: answers[0]))
        #expect(Village.reports(actions) == [.acknowledged(level: .red, by: "王建国", requestedAt: Village.start, channel: .sms, secondsToAnswer: 42)])
        #expect(engine.status().acknowledgement?.waiting == ["李秀英"])
    }

    @Test func anUnknownSenderIsReportedAndNotTaken() throws {
        let board = try board()
        board.outputs.stepManually()
        var engine = Village.engine()
        board.modem.deliverPDU(Village.strangerPDU)
        pass(board, milliseconds: SMSWorker.listenEveryMilliseconds)
        let answers = board.outputs.takeModemAnswers()
        #expect(answers == [.reply(phone: "+8613711112222", channel: .sms, text: "收到")])
        #expect(board.modem.storedMessageCount == 0)
        let actions = engine.handle(Event(time: Village.start.adding(milliseconds: 5_000), kind: answers[0]))
        #expect(Village.reports(actions) == [.answerNotTaken(phone: "+8613711112222", channel: .sms, reason: "the number is not a [[contact]]")])
        #expect(engine.status().acknowledgement?.answered == [])
    }

    @Test func aCallToTheBoxIsHungUpUnansweredAndAcknowledges() throws {
        let board = try board()
        board.outputs.stepManually()
        var engine = Village.engine()
        board.modem.ring(from: "+8613800000002")
        pass(board, milliseconds: SMSWorker.listenEveryMilliseconds)
        #expect(board.modem.rejectedCallers == ["+8613800000002"], "hung up without answering: free for the caller")
        // The same call ringing again within the window is one answer.
        board.modem.ring(from: "+8613800000002")
        pass(board, milliseconds: SMSWorker.listenEveryMilliseconds)
        let answers = board.outputs.takeModemAnswers()
        #expect(answers == [.reply(phone: "+8613800000002", channel: .call, text: "")])
        let actions = engine.handle(Event(time: Village.start.adding(milliseconds: 45_000), kind: answers[0]))
        #expect(Village.reports(actions) == [.acknowledged(level: .red, by: "李秀英", requestedAt: Village.start, channel: .call, secondsToAnswer: 45)])
        #expect(board.outputs.modemStatus?.answersReceived == 1)
    }

    @Test func messagesThatArrivedWhileTheBoxWasOffAreReadAtStart() throws {
        let board = try board()
        board.modem.deliverPDU(Village.replyPDU)  // before AT+CNMI: stored, not announced
        board.outputs.stepManually()
        #expect(board.outputs.takeModemAnswers() == [.reply(phone: "+8613800000001", channel: .sms, text: "收到")])
        #expect(board.modem.storedMessageCount == 0)
    }

    @Test func theBoxRingsTheSilentSpeaksTheWarningAndTakesAKeyAsTheAnswer() async throws {
        let board = try board()
        board.outputs.stepManually()
        var engine = CallAnswerVillage.engine(AcknowledgementPolicy(
            fromLevel: .yellow, deadlineMilliseconds: 60_000, escalationsMax: 3, callUnanswered: true, callRingMilliseconds: 30_000))
        board.modem.setCallBehaviour(.pickUp(key: "1"), for: "13800000001")
        board.modem.setCallBehaviour(.noAnswer, for: "+8613800000002")
        let escalation = engine.handle(Event(time: Village.start.adding(milliseconds: 60_000), kind: .tick))
        await board.outputs.perform(escalation, at: Village.start.adding(milliseconds: 60_000))
        var events: [Event.Kind] = []
        run(board) {
            events += board.outputs.takeModemAnswers()
            return events.filter { if case .callEnded = $0 { true } else { false } }.count == 2
        }
        #expect(board.modem.dialled == ["13800000001", "+8613800000002"])
        #expect(board.modem.spokenInCalls.first?.hasPrefix("【黄坑村 红色预警】立即转移！") == true)
        #expect(events.contains(.reply(phone: "13800000001", channel: .keypress, text: "1")))
        #expect(events.contains(.callEnded(phone: "13800000001", reached: true, detail: "picked up, heard the warning and pressed 1")))
        #expect(events.contains(.callEnded(phone: "+8613800000002", reached: false, detail: "no answer within 30 s")))
        var reports: [Report.Kind] = []
        for event in events { reports += Village.reports(engine.handle(Event(time: Village.start.adding(milliseconds: 100_000), kind: event))) }
        #expect(reports.contains(.acknowledged(level: .red, by: "王建国", requestedAt: Village.start, channel: .keypress, secondsToAnswer: 100)))
        #expect(reports.contains(.callEnded(level: .red, contact: "李秀英", reached: false, detail: "no answer within 30 s")))
    }

    @Test func aModemThatCannotSpeakCountsAPickedUpCallAsReachedNotAnswered() {
        let clock = SimulatedClock()
        let twin = SimulatedModem()
        twin.speaksInCalls = false
        let modem = Modem(channel: ATChannel(transport: SimulatedSerialPort(clock: clock, device: twin), clock: clock))
        let worker = SMSWorker(modem: modem, model: .generic, clock: clock, logger: Logger(label: "test"))
        twin.setCallBehaviour(.pickUp(key: "1"), for: "13800000001")
        worker.request(call: PhoneCall(contact: Village.contacts[0], text: "红色预警", exercise: false, ringMilliseconds: 30_000))
        var events: [Event.Kind] = []
        for _ in 0..<10 where events.isEmpty {
            _ = worker.step(nowMilliseconds: clock.nowMilliseconds())
            clock.advance(milliseconds: 1_000)
            events += worker.answers.takeAll()
        }
        #expect(events == [.callEnded(phone: "13800000001", reached: true, detail: "picked up (this modem cannot speak: reached, not answered)")])
        #expect(!twin.commands.contains { $0.hasPrefix("AT+QTTS") || $0.hasPrefix("AT+QTONEDET") })
        #expect(!twin.callInProgress, "hung up")
    }

    @Test func aRestartWithQueuedSMSSendsThem() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = "\(directory)/\(SMSQueueFile.fileName)"
        let before = try board(queueFile: file)
        before.modem.smsErrorCode = 331  // no network: the messages wait
        await before.outputs.perform(
            Village.contacts.prefix(2).map { .sendSMS(SMS(contact: $0, text: "【黄坑村 红色预警】立即转移！", exercise: false)) }, at: Village.start)
        #expect(before.outputs.smsStatus?.queued == 2)
        before.outputs.shutdown()  // the box stops (or is killed) with both waiting
        #expect(FileManager.default.fileExists(atPath: file))

        let after = try board(queueFile: file)
        #expect(after.outputs.smsStatus?.queued == 2, "read back from the disk")
        run(after) { after.modem.receivedPDUs.count == 2 }
        #expect(after.modem.receivedPDUs.count == 2)
        #expect(after.outputs.smsStatus?.queued == 0)
        let third = try board(queueFile: file)
        #expect(third.outputs.smsStatus?.queued == 0, "sent messages are gone from the disk too")
    }

    @Test func aDamagedQueueFileIsSetAsideNotFatal() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = "\(directory)/\(SMSQueueFile.fileName)"
        try "{\"version\": 1, \"messages\": [tru".write(toFile: file, atomically: true, encoding: .utf8)
        let board = try board(queueFile: file)
        #expect(board.outputs.smsStatus?.queued == 0)
        #expect(FileManager.default.fileExists(atPath: file + ".damaged"))
    }

    @Test func scenarioAnswersTakeTheModemsPathOnTheSimulatedBoard() throws {
        let board = try board()
        board.outputs.stepManually()
        let replyTaken = try #require(ScenarioPlayer.deliver(.reply(phone: "+8613800000001", channel: .sms, text: "收到"), to: board.modem))
        let callTaken = try #require(ScenarioPlayer.deliver(.reply(phone: "13800000002", channel: .call, text: ""), to: board.modem))
        #expect(ScenarioPlayer.deliver(.acknowledge(by: "x", channel: .scenario), to: board.modem) == nil)
        #expect(!replyTaken() && !callTaken(), "nothing is taken before the modem's owner looks")
        pass(board, milliseconds: SMSWorker.listenEveryMilliseconds)
        #expect(replyTaken() && callTaken())
        #expect(board.outputs.takeModemAnswers() == [
            .reply(phone: "+8613800000001", channel: .sms, text: "收到"), .reply(phone: "13800000002", channel: .call, text: ""),
        ])
    }

    @Test func anUnpluggedModemComesBackAndSendsWhatWaited() async throws {
        let board = try board()
        board.outputs.stepManually()
        #expect(board.outputs.modemStatus?.opens == 1)
        #expect(board.outputs.modemStatus?.registration == "registered (home)")
        #expect(board.outputs.modemStatus?.signalDBm == -73)
        board.unplugModem()
        await board.outputs.perform([.sendSMS(SMS(contact: Village.contacts[0], text: "预警", exercise: false))], at: Village.start)
        var status = board.outputs.modemStatus
        #expect(status?.open == false)
        #expect(status?.lastError?.contains("modem lost") == true)
        pass(board, milliseconds: 5_000)
        #expect(board.outputs.modemStatus?.lastError?.contains("cannot be opened") == true, "still unplugged: tried, and trying again later")
        board.replugModem()
        run(board) { board.modem.receivedPDUs.count == 1 }
        status = board.outputs.modemStatus
        #expect(status?.open == true && status?.opens == 2 && status?.failures == 1)
        #expect(board.modem.receivedPDUs.count == 1)
        #expect(board.outputs.smsStatus?.queued == 0)
    }
}

@Suite struct CallAnswerStatusTests {
    @Test func statusShowsWhoAnsweredHowFastWhoNotAndTheModem() {
        var engine = CallAnswerVillage.engine()
        _ = engine.handle(Event(time: CallAnswerVillage.start.adding(milliseconds: 42_000), kind: .reply(phone: "+8613800000001", channel: .sms, text: "收到")))
        let published = PublishedStatus(configuration: ScenarioTests.configuration, board: "sim", stateDirectory: "/tmp/x", inputs: [])
        var outputs = OutputSnapshot.safe
        outputs.modem = ModemSnapshot(
            port: "/dev/ttyUSB2", model: "quectel-ec2x", open: true, registration: "registered (home)", data: "on LTE", signalDBm: -73,
            lastError: "modem lost: modem: /dev/ttyUSB2 disappeared; reopening in 1 s")
        published.update(station: engine.status(), outputs: outputs, counters: RuntimeCounters())
        let text = published.report().humanText()
        #expect(text.contains("叫应      red · next round 08:01:00"), "\(text)")
        #expect(text.contains("          answered 王建国 sms 42 s"))
        #expect(text.contains("          waiting  李秀英"))
        #expect(text.contains("""
            Modem     registered (home) · data on LTE · signal -73 dBm
                      quectel-ec2x on /dev/ttyUSB2
                      last error: modem lost: modem: /dev/ttyUSB2 disappeared; reopening in
            """), "\(text)")
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= DaemonStatus.columnsMax })
    }
}

// MARK: over a real pty

/// A modem twin served on a pty's master end from its own thread, passing the twin's own words
/// (RING, +CMTI) as a real module would. `stop` hangs the line up (the cable pulled).
final class PtyModem: @unchecked Sendable {
    static let readChunkBytes = 512
    static let pollMilliseconds: Int32 = 10

    /// The twin's outside world (deliverPDU, ring, the network's registration, what it stored and
    /// who it hung up on) locks itself; what it heard and how it answers is behind `withModem`.
    let modem = SimulatedModem()
    let slavePath: String
    private let master: Int32
    private let lock = NSLock()
    /// Held while the serving thread feeds the twin, and by `withModem`: the twin's command state
    /// (smsErrorCode, commands, receivedPDUs) is not its own lock's.
    private let modemLock = NSLock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    /// `configure` sets the twin up before its line is served.
    init(configure: (SimulatedModem) -> Void = { _ in }) throws {
        configure(modem)
        let descriptor = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw PtySetupError(description: "open /dev/ptmx: \(String(cString: strerror(errno)))") }
        var locked: Int32 = 0
        var number: UInt32 = 0
        // TIOCSPTLCK and TIOCGPTN (asm-generic numbers): unlockpt and ptsname, which Glibc's module lacks.
        guard ioctl(descriptor, UInt(0x4004_5431), &locked) == 0, ioctl(descriptor, UInt(0x8004_5430), &number) == 0 else {
            close(descriptor)
            throw PtySetupError(description: "pty setup: \(String(cString: strerror(errno)))")
        }
        master = descriptor
        slavePath = "/dev/pts/\(number)"
        Thread { [self] in serve() }.start()
    }

    func stop() {
        lock.lock()
        let already = stopping
        stopping = true
        lock.unlock()
        if !already {
            finished.wait()
            close(master)
        }
    }

    /// Reads or changes the twin between two of the box's writes.
    func withModem<Result>(_ body: (SimulatedModem) -> Result) -> Result {
        modemLock.lock()
        defer { modemLock.unlock() }
        return body(modem)
    }

    private var shouldStop: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func serve() {
        defer { finished.signal() }
        var buffer = [UInt8](repeating: 0, count: Self.readChunkBytes)
        while !shouldStop {
            var answer = modem.takeUnsolicitedBytes()
            var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Self.pollMilliseconds) > 0 {
                let count = read(master, &buffer, buffer.count)
                if count > 0 { answer += withModem { $0.receive(Array(buffer.prefix(count))) } }
            }
            var offset = 0
            while offset < answer.count {
                let written = answer[offset...].withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
                if written <= 0 { break }
                offset += written
            }
        }
    }
}

struct PtySetupError: Error, CustomStringConvertible {
    var description: String
}

@Suite(.serialized) struct CallAnswerOverAPtyTests {
    typealias Village = CallAnswerVillage

    /// A worker on its own thread over the termios port at `path` (a symlink, as udev makes
    /// /dev/village-gateway/modem), with the real clock.
    func outputs(path: String, queueFile: String? = nil) throws -> HardwareOutputs {
        let endpoint = ModemEndpoint(portDescription: path, model: .quectelEC2x) { () throws(ModemError) -> Modem in
            do throws(SerialError) {
                return Modem(channel: ATChannel(transport: try TermiosSerialPort(path: path, settings: SerialSettings(baudRate: 115200)), clock: SystemMonotonicClock()))
            } catch {
                throw .transport(error)
            }
        }
        return try HardwareOutputs(
            siren: nil, lamps: [:], voice: nil, modem: endpoint, smsQueueFile: queueFile, sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 60_000)
    }

    /// A hang guard, not a timing assertion: a loaded machine is slow, a hung worker never comes.
    static let hangGuardWallMilliseconds: Int64 = 120_000

    /// Waits until `condition` holds; records an issue only when the hang guard runs out.
    func eventually(_ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = monotonicMilliseconds() + Self.hangGuardWallMilliseconds
        while !condition() {
            guard monotonicMilliseconds() < deadline else {
                Issue.record("not reached within the hang guard of \(Self.hangGuardWallMilliseconds / 1_000) s", sourceLocation: sourceLocation)
                return
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "callanswer-pty-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func repliesAndCallsCrossARealPtyAndAnswer() async throws {
        let pty = try PtyModem()
        defer { pty.stop() }
        let outputs = try outputs(path: pty.slavePath)
        defer { outputs.shutdown() }
        try await eventually { outputs.modemStatus?.open == true }
        var engine = Village.engine()
        pty.modem.deliverPDU(Village.replyPDU)
        pty.modem.deliverPDU(Village.strangerPDU)
        pty.modem.ring(from: "+8613800000002")
        var answers: [Event.Kind] = []
        try await eventually {
            answers += outputs.takeModemAnswers()
            return answers.count == 3
        }
        #expect(Set(answers) == [
            .reply(phone: "+8613800000001", channel: .sms, text: "收到"), .reply(phone: "+8613711112222", channel: .sms, text: "收到"),
            .reply(phone: "+8613800000002", channel: .call, text: ""),
        ])
        var reports: [Report.Kind] = []
        for answer in answers { reports += Village.reports(engine.handle(Event(time: Village.start.adding(milliseconds: 30_000), kind: answer))) }
        #expect(reports.contains(.acknowledged(level: .red, by: "王建国", requestedAt: Village.start, channel: .sms, secondsToAnswer: 30)))
        #expect(reports.contains(.acknowledged(level: .red, by: "李秀英", requestedAt: Village.start, channel: .call, secondsToAnswer: 30)))
        #expect(reports.contains(.answerNotTaken(phone: "+8613711112222", channel: .sms, reason: "the number is not a [[contact]]")))
        #expect(engine.status().acknowledgement?.complete == true, "both of the first order answered")
        try await eventually { pty.modem.storedMessageCount == 0 && !pty.modem.rejectedCallers.isEmpty }
        #expect(pty.modem.storedMessageCount == 0)
        #expect(pty.modem.rejectedCallers == ["+8613800000002"])
    }

    @Test func anUnpluggedModemComesBackUnderItsNameAndARestartSendsTheQueue() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let link = "\(directory)/modem"
        let queueFile = "\(directory)/\(SMSQueueFile.fileName)"
        // No network for SMS (331) on either tty until the restart: the message stays queued
        // however long the machine takes to notice the unplug and reopen, and its retries (10 s,
        // 20 s, … of wall time) can never send it early.
        let first = try PtyModem { $0.smsErrorCode = 331 }
        defer { first.stop() }
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: first.slavePath)
        var outputs = try outputs(path: link, queueFile: queueFile)
        try await eventually { outputs.modemStatus?.open == true }
        outputs.performNow([.sendSMS(SMS(contact: Village.contacts[0], text: "【黄坑村 红色预警】立即转移！", exercise: false))])
        try await eventually { first.withModem { $0.commands.contains { $0.hasPrefix("AT+CMGS=") } } }
        // Unplugged: the line hangs up; the kernel gives the modem a new tty, udev moves the link.
        first.stop()
        let second = try PtyModem { $0.smsErrorCode = 331 }
        defer { second.stop() }
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: second.slavePath)
        try await eventually { outputs.modemStatus?.opens == 2 }
        #expect(outputs.modemStatus?.failures == 1)
        #expect(outputs.modemStatus?.open == true)
        // The message waits out its retry: stop the box instead and start it again.
        outputs.shutdown()
        #expect(outputs.smsStatus?.queued == 1)
        #expect(second.withModem { $0.receivedPDUs.isEmpty })
        second.withModem { $0.smsErrorCode = nil }  // the network is back for SMS
        outputs = try self.outputs(path: link, queueFile: queueFile)
        defer { outputs.shutdown() }
        try await eventually { second.withModem { $0.receivedPDUs.count == 1 } }
        #expect(second.withModem { $0.receivedPDUs.count } == 1, "the message queued before the restart went out")
    }
}

@Suite struct CallAnswerConfigurationTests {
    static let acknowledgement = """
        [acknowledgement]
        deadline = "1m"
        answer_keywords = ["1", "收到", "到"]
        call_unanswered = true
        call_ring = "45s"

        """

    @Test func thePolicyIsReadAndPrintedWithItsDefaults() throws {
        let configuration = try ConfigurationLoader.parse(text: Self.acknowledgement + ConfigurationFixtures.minimal, file: "site.toml")
        let policy = configuration.engine.acknowledgement
        #expect(policy.answerKeywords == ["1", "收到", "到"])
        #expect(policy.callUnanswered && policy.callRingMilliseconds == 45_000 && policy.deadlineMilliseconds == 60_000)
        let defaults = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal, file: "site.toml").engine.acknowledgement
        #expect(defaults.answerKeywords.isEmpty && !defaults.callUnanswered && defaults.callRingMilliseconds == 30_000)
        let example = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine.acknowledgement
        #expect(example == defaults.with(fromLevel: example.fromLevel), "example.toml states the defaults")
    }

    @Test func aWrongPolicyIsNamedWithWhatIsAllowed() {
        let text = """
            [acknowledgement]
            answer_keywords = "收到"
            call_unanswered = "yes"
            call_ring = "5m"

            """ + ConfigurationFixtures.minimal
        let problems = ConfigurationFixtures.problems(text)
        #expect(Set(problems.map(\.key)) == ["[acknowledgement] answer_keywords", "[acknowledgement] call_unanswered", "[acknowledgement] call_ring"])
        #expect(problems.first { $0.key == "[acknowledgement] answer_keywords" }?.allowed.contains("any reply counts") == true)
        #expect(problems.first { $0.key == "[acknowledgement] call_unanswered" }?.allowed.contains("must be true") == true)
        let tooMany = ConfigurationFixtures.problems("[acknowledgement]\nanswer_keywords = [\"\"]\n\n" + ConfigurationFixtures.minimal)
        #expect(tooMany.map(\.key) == ["[acknowledgement] answer_keywords"])
    }

    @Test func aBoardDeclaresWhatItsModemCanDo() throws {
        let quectel = try BoardFixtures.board(BoardFixtures.minimal + "[serial.modem]\ndevice = \"/dev/ttyUSB2\"\nmodel = \"quectel-ec2x\"\n")
        #expect(quectel.serialPorts[.modem]?.modemModel == .quectelEC2x)
        let plain = try BoardFixtures.board(BoardFixtures.minimal + "[serial.modem]\ndevice = \"/dev/ttyUSB2\"\n")
        #expect(plain.serialPorts[.modem]?.modemModel == nil, "generic: SMS, caller id, calls that count as reached")
        let wrong = BoardFixtures.problems(BoardFixtures.minimal + "[serial.modem]\ndevice = \"/dev/ttyUSB2\"\nmodel = \"sim7600\"\n")
        #expect(wrong.map(\.key) == ["[serial.modem] model"])
        #expect(wrong.first?.allowed.contains("quectel-ec2x") == true)
        #expect(try BoardLoader.resolve(nameOrPath: "orange-pi-zero-3", boardsDirectory: nil).serialPorts[.modem]?.modemModel == .quectelEC2x)
        #expect(ModemModel.quectelEC2x.speaksInCalls && !ModemModel.generic.speaksInCalls)
    }
}

private extension AcknowledgementPolicy {
    func with(fromLevel: WarningLevel?) -> AcknowledgementPolicy {
        var copy = self
        copy.fromLevel = fromLevel
        return copy
    }
}
