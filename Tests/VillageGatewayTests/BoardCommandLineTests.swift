// `village-gateway boards` and `boards check` run as a technician would: exit codes, output, the directory used.
import Foundation
import Testing

@Suite(.serialized) struct BoardCommandLineTests {
    @Test func boardsListsTheShippedBoardsAndSaysWhichDirectory() throws {
        let outcome = try GatewayBinary.run(["boards", "--boards-dir", "boards"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.hasPrefix("Boards in boards (chosen by --boards-dir):"))
        for name in ["beaglebone-black", "orange-pi-zero-3", "raspberry-pi-4", "sim"] {
            #expect(outcome.standardOutput.contains("  \(name) "), "\(name) listed: \(outcome.standardOutput)")
        }
        #expect(outcome.standardOutput.contains("[boards/raspberry-pi-4.toml]"))
    }

    @Test func aMissingBoardsDirectoryIsNamed() throws {
        let outcome = try GatewayBinary.run(["boards", "--boards-dir", "no-such-directory"])
        #expect(outcome.status == 1)
        #expect(outcome.standardError.contains("no-such-directory: cannot list the boards directory"))
    }

    @Test func checkAcceptsAShippedBoardAndSaysWhatIsWiredWhere() throws {
        let outcome = try GatewayBinary.run(["boards", "check", "boards/beaglebone-black.toml"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.hasPrefix("boards/beaglebone-black.toml: OK\n"))
        #expect(outcome.standardOutput.contains("  rain_gauge: gpiochip1 line 13 (P8_11 (GPIO1_13)), active low, bias pull_up, debounce 20ms"))
        #expect(outcome.standardOutput.contains("  console: /dev/ttyS0 at 115200 baud"))
        #expect(outcome.standardOutput.contains("not wired: rs485_2"))
    }

    @Test func checkNamesEveryMistakeOfABrokenBoardAndFails() throws {
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-board-\(getpid()).toml")
        defer { try? FileManager.default.removeItem(at: broken) }
        try """
            [board]
            name = "broken-board-\(getpid())"
            description = "A board with mistakes"
            source = "none"

            [inputs.rain_guage]
            chip = "gpiochip0"
            line = 17

            [outputs.siren]
            chip = "gpiochip0"
            line = 17

            [serial.modem]
            device = "/dev/ttyUSB2"
            """.write(to: broken, atomically: true, encoding: .utf8)
        let outcome = try GatewayBinary.run(["boards", "check", broken.path])
        #expect(outcome.status == 1)
        #expect(outcome.standardError.contains("\(broken.path):6: [inputs.rain_guage]: unknown function \"rain_guage\"; did you mean \"rain_gauge\"?"))
        #expect(outcome.standardError.contains("\(broken.path):14: [serial.console]: missing"))
        #expect(outcome.standardError.contains("\(broken.path): 2 problems; the board file was not accepted"))
        #expect(outcome.standardOutput.isEmpty)
    }
}
