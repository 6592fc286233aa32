// Board files as a technician meets them: the shipped boards check, and each mistake is named at its line.
import Drivers
import Foundation
import Testing
@testable import VillageGateway

enum BoardFixtures {
    static let boardsDirectory: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("boards").path

    /// A small valid real board; tests replace text to make one mistake at a time. Line numbers
    /// matter to the tests: keep them.
    static let minimal = """
        [board]
        name = "test-board"
        description = "A test board"
        source = "the test's own pinout"

        [inputs.rain_gauge]
        chip = "gpiochip0"
        line = 17

        [outputs.siren]
        chip = "gpiochip0"
        line = 23

        [outputs.lamp_red]
        chip = "gpiochip0"
        line = 24

        [serial.rs485]
        device = "/dev/ttyS1"

        [serial.console]
        device = "/dev/ttyS0"

        """

    static func problems(_ text: String, nameFromFile: String? = "test-board") -> [ConfigurationProblem] {
        do {
            _ = try BoardLoader.parse(text: text, file: "test-board.toml", nameFromFile: nameFromFile)
            return []
        } catch {
            return error.problems
        }
    }

    static func board(_ text: String = minimal) throws -> BoardDescription {
        try BoardLoader.parse(text: text, file: "test-board.toml", nameFromFile: "test-board")
    }

    static func replacing(_ old: String, with new: String) -> String {
        precondition(minimal.components(separatedBy: old).count == 2, "fixture text \(old) must occur once")
        return minimal.replacingOccurrences(of: old, with: new)
    }
}

@Suite struct ShippedBoardTests {
    @Test(arguments: ["sim", "raspberry-pi-4", "orange-pi-zero-3", "beaglebone-black"])
    func everyShippedBoardChecksAndHasAConsole(name: String) throws {
        let board = try BoardLoader.load(path: BoardFixtures.boardsDirectory + "/\(name).toml")
        #expect(board.name == name)
        #expect(board.console != nil)
        #expect(board.inputs[.rainGauge] != nil)
        #expect(board.outputs[.siren] != nil)
        #expect(board.serialPorts[.rs485] != nil)
        #expect(board.isSimulated == (name == "sim"))
        if !board.isSimulated {
            #expect(board.source?.isEmpty == false, "a real board cites its pinout")
            #expect(board.serialPorts.values.allSatisfy { $0.device.hasPrefix("/dev/") })
        }
    }

    @Test func theBuiltInSimulatedBoardIsTheShippedFileByteForByte() throws {
        let shipped = try String(contentsOfFile: BoardFixtures.boardsDirectory + "/sim.toml", encoding: .utf8)
        #expect(EmbeddedBoards.simulated == shipped)
        let board = BoardLoader.embeddedSimulatedBoard()
        #expect(board.isSimulated)
        #expect(board.serialPorts[.voice]?.voiceModel == .syn6288)
    }

    @Test func pinMapsFollowThePublishedNumbering() throws {
        // Orange Pi Zero 3: PC9 on header pin 7 is bank C (2) × 32 + 9.
        let orange = try BoardLoader.load(path: BoardFixtures.boardsDirectory + "/orange-pi-zero-3.toml")
        #expect(orange.inputs[.rainGauge]?.gpio == BoardGPIOLine(chip: "gpiochip0", line: .offset(73), pin: "header pin 7 (PC9)"))
        // BeagleBone Black: P8_11 is GPIO1_13, bank 1 → gpiochip1 line 13.
        let beagle = try BoardLoader.load(path: BoardFixtures.boardsDirectory + "/beaglebone-black.toml")
        #expect(beagle.inputs[.rainGauge]?.gpio.chip == "gpiochip1")
        #expect(beagle.inputs[.rainGauge]?.gpio.line == .offset(13))
        // Raspberry Pi 4: BCM numbers on gpiochip0; the rain gauge is GPIO17 on pin 11.
        let pi = try BoardLoader.load(path: BoardFixtures.boardsDirectory + "/raspberry-pi-4.toml")
        #expect(pi.inputs[.rainGauge]?.gpio.line == .offset(17))
        #expect(pi.serialPorts[.rs485]?.device == "/dev/ttyAMA3")
        // No line is used by a UART of the same board: Pi UART3/UART5 are GPIO4/5 and 12/13.
        let piLines = pi.inputs.values.map(\.gpio.line) + pi.outputs.values.map(\.gpio.line)
        let uartLines = [4, 5, 12, 13, 14, 15].map { GPIOLineSelector.offset($0) }
        #expect(!piLines.contains(where: uartLines.contains))
    }

    @Test func theWiringSummaryNamesEveryFunction() throws {
        let board = try BoardFixtures.board()
        #expect(board.wiringSummary == [
            "rain_gauge: gpiochip0 line 17, active low, bias pull_up, debounce 20ms",
            "siren: gpiochip0 line 23, active high, safe off",
            "lamp_red: gpiochip0 line 24, active high, safe off",
            "rs485: /dev/ttyS1 at 9600 baud, direction switched by the transceiver",
            "console: /dev/ttyS0 at 115200 baud",
        ])
        let input = try #require(board.inputs[.rainGauge]).gpioConfiguration(consumer: "village-gateway rain1")
        #expect(input == GPIOInputConfiguration(line: .offset(17), consumer: "village-gateway rain1", debounceMilliseconds: 20,
                                                activeLow: true, bias: .pullUp))
    }
}

@Suite struct BoardValidationTests {
    @Test func theMinimalBoardIsAccepted() {
        #expect(BoardFixtures.problems(BoardFixtures.minimal).isEmpty)
    }

    @Test func anUnknownFunctionSuggestsTheNearestAtItsLine() {
        let problems = BoardFixtures.problems(BoardFixtures.replacing("[inputs.rain_gauge]", with: "[inputs.rain_guage]"))
        #expect(problems.map(\.description) == [
            "test-board.toml:6: [inputs.rain_guage]: unknown function \"rain_guage\"; did you mean \"rain_gauge\"?"
        ])
    }

    @Test func aFunctionUnderTheWrongTableSaysWhereItBelongs() {
        let problems = BoardFixtures.problems(BoardFixtures.replacing("[outputs.siren]", with: "[inputs.siren]"))
        #expect(problems.first?.allowed == "\"siren\" belongs in [outputs.siren], not under [inputs]")
    }

    @Test func aLampColourWeDoNotHaveIsNamedWithTheFourThereAre() {
        let problems = BoardFixtures.problems(BoardFixtures.replacing("[outputs.lamp_red]", with: "[outputs.lamp_green]"))
        #expect(problems.count == 1)
        #expect(problems.first?.line == 14)
        #expect(problems.first?.allowed.contains("\"lamp_blue\", \"lamp_yellow\", \"lamp_orange\" or \"lamp_red\"") == true)
    }

    @Test func theSecondFunctionOnALineIsBlamedAndTheFirstNamed() {
        let problems = BoardFixtures.problems(BoardFixtures.replacing("line = 24", with: "line = 23"))
        #expect(problems.map(\.description) == [
            "test-board.toml:16: [outputs.lamp_red] line = 23: gpiochip0 line 23 is already the siren relay (line 12); one line can do one job"
        ])
    }

    @Test func theSameLineOnAnotherChipIsNoClash() {
        let text = BoardFixtures.replacing("chip = \"gpiochip0\"\nline = 24", with: "chip = \"gpiochip1\"\nline = 23")
        #expect(BoardFixtures.problems(text).isEmpty)
    }

    @Test func aSerialDeviceUsedTwiceNeedsSharedWith() {
        let clash = BoardFixtures.replacing("device = \"/dev/ttyS1\"", with: "device = \"/dev/ttyS0\"")
        let problems = BoardFixtures.problems(clash)
        #expect(problems.count == 1)
        #expect(problems.first?.line == 22)
        #expect(problems.first?.allowed.hasPrefix("already the RS-485 bus's device (line 19)") == true)
        let shared = BoardFixtures.replacing("device = \"/dev/ttyS0\"", with: "device = \"/dev/ttyS1\"\nshared_with = \"rs485\"")
        #expect(BoardFixtures.problems(shared).isEmpty)
    }

    @Test func aBoardWithoutAConsoleIsRefused() {
        let problems = BoardFixtures.problems(BoardFixtures.replacing("[serial.console]\ndevice = \"/dev/ttyS0\"\n", with: ""))
        #expect(problems.count == 1)
        #expect(problems.first?.key == "[serial.console]")
        #expect(problems.first?.allowed.hasPrefix("missing") == true)
    }

    @Test func aDebounceIsADurationInMilliseconds() {
        let bare = BoardFixtures.problems(BoardFixtures.replacing("line = 17", with: "line = 17\ndebounce = \"20\""))
        #expect(bare.map(\.description) == ["test-board.toml:9: [inputs.rain_gauge] debounce = \"20\": a duration needs a unit: \"20ms\"? (1ms to 1s)"])
        let long = BoardFixtures.problems(BoardFixtures.replacing("line = 17", with: "line = 17\ndebounce = \"5s\""))
        #expect(long.first?.allowed.hasPrefix("must be from 1ms to 1s") == true)
    }

    @Test func chipsAreNamesNotPathsAndLinesAreOffsetsOrNames() {
        let path = BoardFixtures.problems(BoardFixtures.replacing("chip = \"gpiochip0\"\nline = 17", with: "chip = \"/dev/gpiochip0\"\nline = 17"))
        #expect(path.first?.allowed == "write the chip's name without /dev/: \"gpiochip0\"")
        let both = BoardFixtures.problems(BoardFixtures.replacing("line = 17", with: "line = 17\nline_name = \"GPIO17\""))
        #expect(both.first?.allowed == "give line or line_name, not both")
        let named = try? BoardFixtures.board(BoardFixtures.replacing("line = 17", with: "line_name = \"GPIO17\""))
        #expect(named?.inputs[.rainGauge]?.gpio.line == .name("GPIO17"))
        let negative = BoardFixtures.problems(BoardFixtures.replacing("line = 17", with: "line = -1"))
        #expect(negative.first?.key == "[inputs.rain_gauge] line")
    }

    @Test func realAndSimulatedDevicesDoNotMix() {
        let simulatedOnReal = BoardFixtures.problems(BoardFixtures.replacing("\"/dev/ttyS1\"", with: "\"sim:rs485\""))
        #expect(simulatedOnReal.first?.allowed.contains("\"sim:\" devices exist only on the simulated board") == true)
        let realOnSimulated = BoardFixtures.problems(BoardFixtures.replacing("source = \"the test's own pinout\"", with: "simulated = true"))
        #expect(realOnSimulated.count == 2, "both /dev devices: \(realOnSimulated.map(\.description))")
        #expect(realOnSimulated.allSatisfy { $0.allowed.contains("named \"sim:<name>\"") })
    }

    @Test func aRealBoardCitesItsPinoutAndIsNamedLikeItsFile() {
        let problems = BoardFixtures.problems(BoardFixtures.replacing("source = \"the test's own pinout\"\n", with: ""))
        #expect(problems.first?.key == "[board] source")
        let misnamed = BoardFixtures.problems(BoardFixtures.minimal, nameFromFile: "other")
        #expect(misnamed.first?.allowed.hasPrefix("must be the file's name without .toml (\"other\")") == true)
    }

    @Test func aMissingNameAsksForTheFilesName() {
        let problems = BoardFixtures.problems(BoardFixtures.replacing("name = \"test-board\"\n", with: ""))
        #expect(problems.map(\.description) == [
            "test-board.toml:1: [board] name: missing; the board's name, as `--board NAME` gives it and the file is named, e.g. name = \"test-board\""
        ])
    }

    @Test func voicePortsNeedAModelAndOnlyBusesHaveADirection() {
        let text = BoardFixtures.minimal + "[serial.voice]\ndevice = \"/dev/ttyS4\"\ndirection = \"rts\"\n"
        let problems = BoardFixtures.problems(text)
        #expect(Set(problems.map(\.key)) == ["[serial.voice] direction", "[serial.voice] model"])
    }

    @Test func everyMistakeIsReportedInOneRun() {
        var text = BoardFixtures.replacing("[inputs.rain_gauge]", with: "[inputs.rain_guage]")
        text = text.replacingOccurrences(of: "line = 24", with: "line = 23")
        text = text.replacingOccurrences(of: "[serial.console]\ndevice = \"/dev/ttyS0\"\n", with: "")
        let problems = BoardFixtures.problems(text)
        #expect(problems.count == 3)
        #expect(problems.map(\.line) == [6, 16, 18], "the missing console is placed on the [serial] tables")
    }
}

@Suite struct BoardLoaderTests {
    @Test func theDirectoryIsChosenInTheDocumentedOrder() {
        let none: (String) -> Bool = { _ in false }
        let all: (String) -> Bool = { _ in true }
        #expect(BoardDirectory.choose(explicit: "/a", environment: ["VILLAGE_GATEWAY_BOARDS": "/b"], directoryExists: all)?.chosenBecause == "--boards-dir")
        #expect(BoardDirectory.choose(explicit: nil, environment: ["VILLAGE_GATEWAY_BOARDS": "/b"], directoryExists: all)?.path == "/b")
        #expect(BoardDirectory.choose(explicit: nil, environment: [:], directoryExists: all)?.path == "/usr/share/village-gateway/boards")
        #expect(BoardDirectory.choose(explicit: nil, environment: [:], directoryExists: { $0 == "boards" })?.path == "boards")
        #expect(BoardDirectory.choose(explicit: nil, environment: [:], directoryExists: none) == nil)
    }

    @Test func aNameIsFoundInTheDirectoryAndAPathIsReadAsItIs() throws {
        let byName = try BoardLoader.resolve(nameOrPath: "beaglebone-black", boardsDirectory: BoardFixtures.boardsDirectory)
        #expect(byName.name == "beaglebone-black")
        let byPath = try BoardLoader.resolve(nameOrPath: BoardFixtures.boardsDirectory + "/raspberry-pi-4.toml")
        #expect(byPath.name == "raspberry-pi-4")
    }

    @Test func simWorksWithNoBoardsDirectory() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("no-boards-\(getpid())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let board = try BoardLoader.resolve(nameOrPath: "sim", boardsDirectory: empty.path)
        #expect(board.isSimulated)
        #expect(board.file == BoardLoader.embeddedFileName)
    }

    @Test func aMisspeltBoardNameSuggestsTheNearest() {
        do {
            _ = try BoardLoader.resolve(nameOrPath: "raspbery-pi-4", boardsDirectory: BoardFixtures.boardsDirectory)
            Issue.record("a board that does not exist was found")
        } catch {
            #expect(error.description.contains("no board named \"raspbery-pi-4\""))
            #expect(error.description.contains("did you mean \"raspberry-pi-4\"?"))
        }
    }

    @Test func theListingHasEveryShippedBoardAndFlagsABrokenFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("boards-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try BoardFixtures.minimal.write(to: directory.appendingPathComponent("test-board.toml"), atomically: true, encoding: .utf8)
        try "[board]\nname = \"broken\"\n".write(to: directory.appendingPathComponent("broken.toml"), atomically: true, encoding: .utf8)
        let listings = try BoardLoader.list(directory: directory.path)
        #expect(listings.map(\.name) == ["broken", "test-board"])
        #expect(listings[0].problemCount ?? 0 > 0)
        #expect(listings[1].problemCount == nil)
        #expect(listings[1].description == "A test board")
        let shipped = try BoardLoader.list(directory: BoardFixtures.boardsDirectory)
        #expect(shipped.map(\.name) == ["beaglebone-black", "orange-pi-zero-3", "raspberry-pi-4", "sim"])
        #expect(shipped.allSatisfy { $0.problemCount == nil })
    }
}
