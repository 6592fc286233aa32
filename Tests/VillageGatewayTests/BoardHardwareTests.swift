// Opening a real board's hardware: a machine without the board's GPIO chip stops the start with
// a message naming the chip and the board file, before anything is armed.
import Drivers
import Foundation
import Logging
import Testing
@testable import VillageGateway

@Suite struct BoardHardwareTests {
    @Test func aBoxWithoutTheBoardsGPIOChipSaysWhichChipAndWhichBoardFile() throws {
        // This VM (and CI) has no /dev/gpiochip0: exactly the technician's "wrong board file" case.
        try #require(!FileManager.default.fileExists(atPath: "/dev/gpiochip0"), "this test needs a machine without GPIO chips")
        let root = GatewayBinary.repositoryRoot.path
        let configuration = try ConfigurationLoader.load(path: root + "/config/example.toml")
        let board = try BoardLoader.load(path: root + "/boards/raspberry-pi-4.toml")
        do {
            _ = try BoardHardware.open(board: board, configuration: configuration, configurationFile: "config/example.toml", logger: Logger(label: "test"))
            Issue.record("opening a board without its GPIO chip must fail")
        } catch {
            #expect(error.description.contains("no GPIO chip /dev/gpiochip0"), "\(error)")
            #expect(error.description.contains("right board file"), "\(error)")
            #expect(error.description.contains("raspberry-pi-4"), "\(error)")
        }
    }

    @Test func aConfigurationThatDoesNotFitTheBoardIsRefusedBeforeAnythingOpens() throws {
        let root = GatewayBinary.repositoryRoot.path
        var configuration = try ConfigurationLoader.load(path: root + "/config/example.toml")
        var board = try BoardLoader.load(path: root + "/boards/raspberry-pi-4.toml")
        board.serialPorts[.rs485] = nil
        configuration.hardware.buses = configuration.hardware.buses.filter { $0.key == "rs485" }
        do {
            _ = try BoardHardware.open(board: board, configuration: configuration, configurationFile: "config/example.toml", logger: Logger(label: "test"))
            Issue.record("a sensor on a bus the board lacks must be refused")
        } catch {
            #expect(error.description.hasPrefix("the configuration does not fit board raspberry-pi-4"), "\(error)")
            #expect(error.description.contains("rs485"), "\(error)")
        }
    }

    @Test func runOnARealBoardWithoutItsHardwareStopsWithTheReasonAndAnUnknownBusIsNamed() throws {
        try #require(!FileManager.default.fileExists(atPath: "/dev/gpiochip0"), "this test needs a machine without GPIO chips")
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("board-run-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let missing = try GatewayBinary.run(["run", "--config", "config/example.toml", "--board", "raspberry-pi-4", "--state-dir", state])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("no GPIO chip /dev/gpiochip0: is this the right board file? (board raspberry-pi-4"), "\(missing.standardError)")
        let typo = try GatewayBinary.run([
            "run", "--config", "config/example.toml", "--board", "raspberry-pi-4", "--bus", "rs458=/dev/ttyUSB0", "--state-dir", state,
        ])
        #expect(typo.status == 1)
        #expect(typo.standardError.contains("did you mean \"rs485\""), "\(typo.standardError)")
    }
}

/// The simulated board's serial twins open like exclusive ttys: busy while held, free again once
/// the owner lets go, so the modem worker's reopen after a time-out finds its modem.
@Suite struct SimulatedSerialTwinTests {
    @Test func aTwinsPortIsBusyWhileHeldAndOpensAgainOnceLetGo() throws {
        let board = BoardLoader.embeddedSimulatedBoard()
        let devices = SimulatedDevices(board: board, pace: SimulationPace(startNanoseconds: 0, speed: 1))
        let modem = try #require(board.serialPorts[.modem]?.device)
        let logger = Logger(label: "test.twins")
        var first: (any SerialTransport)? = try devices.openSerial(path: modem, settings: SerialSettings(baudRate: 115_200), logger: logger)
        #expect(throws: SerialError.busy(path: modem)) {
            _ = try devices.openSerial(path: modem, settings: SerialSettings(baudRate: 115_200), logger: logger)
        }
        #expect(first != nil)
        first = nil
        let again = try devices.openSerial(path: modem, settings: SerialSettings(baudRate: 115_200), logger: logger)
        try again.write(Array("AT\r".utf8), timeoutMilliseconds: 1_000)
        let answer = try again.read(maxBytes: 64, timeoutMilliseconds: 1_000)
        #expect(String(decoding: answer, as: UTF8.self).contains("OK"), "the reopened port reaches the modem twin")
    }
}

@Suite struct InstalledBoardFileTests {
    /// The systemd unit runs `--board /etc/village-gateway/board.toml`: the installer copies the
    /// village's board file there under that name, and the box must start from it.
    @Test func aBoardFileCopiedToTheInstalledPathIsReadWhateverItsFileName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("installed-board-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let installed = directory.appendingPathComponent("board.toml").path
        try FileManager.default.copyItem(atPath: GatewayBinary.repositoryRoot.path + "/boards/raspberry-pi-4.toml", toPath: installed)
        let board = try BoardLoader.resolve(nameOrPath: installed)
        #expect(board.name == "raspberry-pi-4")
        let unit = try String(contentsOfFile: GatewayBinary.repositoryRoot.path + "/packaging/village-gateway.service", encoding: .utf8)
        #expect(unit.contains("--board /etc/village-gateway/board.toml"), "the path this test stands for")
    }

    /// Looked up by name, a file must carry that name inside, or `--board NAME` would run another board.
    @Test func aBoardLookedUpByNameMustCarryThatName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("boards-dir-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            atPath: GatewayBinary.repositoryRoot.path + "/boards/raspberry-pi-4.toml", toPath: directory.appendingPathComponent("village.toml").path)
        do {
            _ = try BoardLoader.resolve(nameOrPath: "village", boardsDirectory: directory.path)
            Issue.record("a board named raspberry-pi-4 in village.toml must not be taken for --board village")
        } catch {
            #expect(error.description.contains("must be the file's name without .toml (\"village\")"), "\(error.description)")
        }
    }
}
