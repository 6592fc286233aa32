// Opening a real board's hardware: a machine without the board's GPIO chip stops the start with
// a message naming the chip and the board file, before anything is armed.
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
