// The modem's registration is a link signal (issue 18): the reports it sends on its own
// (+CREG/+CGREG/+CEREG, turned on at modem start) end the push's backoff the moment the module
// is registered for data again; over the modem twin, through the push, and across a real pty.
import Foundation
import Logging
import Synchronization
import Testing
@testable import Drivers
import TimeSeam
@testable import VillageGateway
import WarningLogic

@Suite struct ModemLinkSignalTests {
    func board() throws -> SimulatedBoardHardware {
        try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 120_000, driving: .manual)
    }

    /// One look at the port for what the modem said on its own.
    func listen(_ board: SimulatedBoardHardware) {
        board.modemClock.advance(nanoseconds: SMSWorker.listenEveryMilliseconds * 1_000_000)
        board.outputs.stepManually()
    }

    /// The network as a module loses it: LTE searching, no data attach, circuit searching.
    func loseTheNetwork(_ modem: SimulatedModem) {
        modem.epsRegistration = 2
        modem.packetRegistration = 0
        modem.registration = 2
    }

    @Test func theModemComingBackIsASignalEachTimeDataGetsSurerNeverOnACellChange() throws {
        let board = try board()
        let heard = Mutex<[String]>([])
        board.outputs.observeModemNetworkReturn { detail in heard.withLock { $0.append(detail) } }
        board.outputs.stepManually()
        #expect(board.modem.commands.contains("AT+CREG=2") && board.modem.commands.contains("AT+CGREG=2") && board.modem.commands.contains("AT+CEREG=2"))
        #expect(heard.withLock { $0 } == ["registered (home) on LTE, registration read"], "read at once at modem start")
        #expect(board.outputs.modemStatus?.data == "on LTE")

        loseTheNetwork(board.modem)
        listen(board)
        #expect(board.outputs.modemStatus?.registration == "searching")
        #expect(board.outputs.modemStatus?.data == "none")
        #expect(board.outputs.dataNetworkAvailable() == false, "the push learns it from the report, not a minute later")
        #expect(heard.withLock { $0.count } == 1)

        // Circuit first (data likely), then the data attach (data now): two signals, each worth a try.
        board.modem.registration = 5
        listen(board)
        #expect(heard.withLock { $0.last } == "registered (roaming) on the network, +CREG report")
        #expect(board.outputs.modemStatus?.data == "not attached (registered for calls and SMS)")
        board.modem.packetRegistration = 5
        listen(board)
        #expect(heard.withLock { $0.last } == "registered (roaming) on 2G/3G data, +CGREG report")
        #expect(board.outputs.dataNetworkAvailable() == true)

        // LTE joining 3G data, cells changing under a registered module: nothing new for the push.
        board.modem.epsRegistration = 1
        listen(board)
        board.modem.changeCell()
        board.modem.changeCell()
        listen(board)
        #expect(heard.withLock { $0.count } == 3)
        #expect(board.outputs.modemStatus?.data == "on LTE")
    }

    @Test func aModemThatReportsNothingIsReadEveryMinuteAndStillSignals() throws {
        let board = try board()
        board.modem.refusesRegistrationReports = true
        let heard = Mutex<[String]>([])
        board.outputs.observeModemNetworkReturn { detail in heard.withLock { $0.append(detail) } }
        board.outputs.stepManually()
        loseTheNetwork(board.modem)
        board.modemClock.advance(nanoseconds: SMSWorker.registrationCheckEveryMilliseconds * 1_000_000)
        board.outputs.stepManually()
        #expect(board.outputs.dataNetworkAvailable() == false)
        board.modem.epsRegistration = 1
        listen(board)
        #expect(heard.withLock { $0.count } == 1, "not reported: unheard until the read")
        board.modemClock.advance(nanoseconds: SMSWorker.registrationCheckEveryMilliseconds * 1_000_000)
        board.outputs.stepManually()
        #expect(heard.withLock { $0.last } == "registered (home) on LTE, registration read")
    }

    /// The push found no data network and rests; the modem registers again after an hour and
    /// says so: the rest ends at once, the backlog goes, and the county hears of the outage.
    @Test func aRegistrationReportEndsThePushsRestAndTheBacklogGoes() async throws {
        let board = try board()
        board.outputs.stepManually()
        loseTheNetwork(board.modem)
        listen(board)
        #expect(board.outputs.dataNetworkAvailable() == false)

        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        let sleeper = HangingSleeper()
        let clock = ManualClock()
        let log = EventLog()
        try await county.serve { port in
            var configuration = CountyConfiguration()
            configuration.httpPush = HTTPPushConfiguration(url: "http://127.0.0.1:\(port)/v1/push", keyFile: try PushFixture.keyFile(), batchMax: 2)
            let service = try PushService(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration, station: PushFixture.station, clock: clock, logger: Logger(label: "test.push"),
                registration: board.outputs, sleeper: sleeper, random: PushRandom(seed: 18), observer: log.record, probeSleeper: HangingSleeper())
            CountyRuntime.watchModemRegistration(signals: service.signals, outputs: board.outputs, clock: clock)
            let running = Task { await service.run() }
            #expect(await eventually { log.all.contains(.noNetwork(transport: "http")) && sleeper.all.contains(PushTimings.standard.noNetworkRecheckMilliseconds) })
            #expect(service.signals.uplink.isUp == false)
            clock.advance(by: Milliseconds.hour)
            board.modem.epsRegistration = 1
            listen(board)
            #expect(await eventually { fixture.undelivered.isEmpty && county.storedSequences.count == 8 })
            running.cancel()
            await running.value
            #expect(service.signals.uplink.isUp == true)
            #expect(service.signals.uplink.signal == "modem: registered (home) on LTE, +CEREG report")
        }
        #expect(log.all.contains(.woken(transport: "http", by: "modem: registered (home) on LTE, +CEREG report")))
        #expect(log.all.contains(.outageReported(sequence: 8, waiting: 7)))
        #expect(county.bodies.first?.reports.map(\.sequence) == [2, 5], "alarms first")
        #expect(!sleeper.all.contains { $0 > PushTimings.standard.noNetworkRecheckMilliseconds }, "no backoff was waited out")
    }

    /// Across a real pty (termios, the worker on its own thread, the real clock): the module's
    /// +CEREG line raises the link signal.
    @Test func theModemsReportCrossesARealPtyAndRaisesTheLinkSignal() async throws {
        let pty = try PtyModem()
        defer { pty.stop() }
        let path = pty.slavePath
        let endpoint = ModemEndpoint(portDescription: path, model: .quectelEC2x) { () throws(ModemError) -> Modem in
            do throws(SerialError) {
                return Modem(channel: ATChannel(transport: try TermiosSerialPort(path: path, settings: SerialSettings(baudRate: 115200)), clock: SystemMonotonicClock()))
            } catch {
                throw .transport(error)
            }
        }
        let outputs = try HardwareOutputs(
            siren: nil, lamps: [:], voice: nil, modem: endpoint, sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 60_000)
        defer { outputs.shutdown() }
        let signals = LinkSignals()
        CountyRuntime.watchModemRegistration(signals: signals, outputs: outputs, clock: SystemClock())
        #expect(await eventually { outputs.modemStatus?.data == "on LTE" })
        #expect(pty.withModem { $0.commands.contains("AT+CEREG=2") })
        loseTheNetwork(pty.modem)
        #expect(await eventually { outputs.modemStatus?.data == "none" })
        let generation = signals.generation
        pty.modem.epsRegistration = 1
        #expect(await eventually { signals.generation != generation })
        #expect(signals.uplink.lastSignal?.source == .modem)
        #expect(signals.uplink.lastSignal?.description == "modem: registered (home) on LTE, +CEREG report")
    }
}
