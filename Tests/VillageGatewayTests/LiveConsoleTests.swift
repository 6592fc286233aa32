// The `run` console's live line: cut to the terminal's width by display columns (Chinese takes
// two), redrawn at most twice a second, and log lines kept whole above it; the last test runs
// the real daemon on a pseudo-terminal of 80 columns.
import Foundation
import Synchronization
import Testing
@testable import VillageGateway

@Suite(.serialized) struct LiveConsoleTests {
    final class Screen: Sendable {
        let writes = Mutex<[(standardError: Bool, text: String)]>([])
        var all: String { writes.withLock { $0.map(\.text).joined() } }
        var draws: Int { writes.withLock { $0.filter { $0.text.hasPrefix(LiveConsole.clearLine) && $0.text.count > LiveConsole.clearLine.count }.count } }
    }

    static func console(columns: Int = 80) -> (LiveConsole, Screen) {
        let screen = Screen()
        let console = LiveConsole(columns: { columns }) { standardError, text in screen.writes.withLock { $0.append((standardError, text)) } }
        return (console, screen)
    }

    @Test func chineseTextIsCutByDisplayWidthNotByCharacters() {
        let (console, screen) = Self.console()
        let line = "2020-08-04T03:10:00+08:00  RED  siren ON  lamp red  SMS 3  «黄坑村红色预警：立即转移！请马上撤离到村小学安置点，不要返回。»"
        console.show(line, nowMilliseconds: 0)
        let drawn = String(screen.all.dropFirst(LiveConsole.clearLine.count))
        #expect(drawn.terminalColumns <= 79, "\(drawn) takes \(drawn.terminalColumns) columns")
        #expect(drawn.hasSuffix("…") && drawn.contains("黄坑村"))
    }

    @Test func itRedrawsAtMostTwiceASecondAndOnlyWhenTheLineChanged() {
        let (console, screen) = Self.console()
        // Four updates a second for ten seconds, as --speed 60 produced them.
        for step in 0..<40 { console.show("box time \(step)", nowMilliseconds: Int64(step) * 250) }
        #expect(screen.draws == 20, "one draw per \(LiveConsole.redrawMillisecondsMin) ms")
        for step in 40..<80 { console.show("box time 38", nowMilliseconds: Int64(step) * 250) }
        #expect(screen.draws == 20, "an unchanged line is not drawn again")
    }

    @Test func aLogLineIsWholeOnItsOwnLineAndTheLiveLineComesBack() {
        let (console, screen) = Self.console()
        console.show("live 1", nowMilliseconds: 0)
        console.log("2020-08-04T03:10:00+08:00 notice village-gateway: decision")
        let writes = screen.writes.withLock { $0.map(\.text) }
        #expect(writes == [LiveConsole.clearLine + "live 1", LiveConsole.clearLine, "2020-08-04T03:10:00+08:00 notice village-gateway: decision\n", "live 1"])
        console.finish()
        console.log("stopped")
        #expect(screen.writes.withLock { $0.suffix(2).map(\.text) } == ["\n", "stopped\n"], "after the end, logs print plainly below")
    }

    @Test func theRunningDaemonsTerminalKeepsOneLiveLineAndWholeLogLines() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-live-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A red at once (its Chinese broadcast repeats every 5 min), then an hour of readings.
        var scenario = "time,sensor,value\n2020-08-04T03:00:00+08:00,river1,2.0\n2020-08-04T03:00:30+08:00,manual,red\n"
        for minute in 1...60 { scenario += String(format: "2020-08-04T%02d:%02d:00+08:00,river1,2.0\n", 3 + minute / 60, minute % 60) }
        try scenario.write(toFile: directory + "/scenario.csv", atomically: true, encoding: .utf8)
        let terminal = try PseudoTerminal()
        var size = winsize(ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0)
        #expect(ioctl(terminal.master, UInt(TIOCSWINSZ), &size) == 0)
        let process = Process()
        process.executableURL = GatewayBinary.url
        process.arguments = ["run", "--config", ConfigurationFixtures.examplePath, "--board", "sim", "--scenario", directory + "/scenario.csv",
                             "--speed", "600", "--state-dir", directory + "/state", "--exit-after-scenario"]
        let descriptor = open(terminal.slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        let slave = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = slave
        process.standardError = slave
        try process.run()
        try slave.close()
        defer { if process.isRunning { process.terminate() } }
        // Until the red broadcast is on the live line and two repeats were logged after it.
        terminal.expect("«黄坑村红色预警")
        terminal.expect("decision")
        terminal.expect("decision")
        process.terminate()
        #expect(ShellPseudoTerminalTests.waitForExit(process, terminal: terminal))
        let segments = terminal.text.components(separatedBy: LiveConsole.clearLine).dropFirst()
        #expect(segments.count >= 3)
        for segment in segments {
            let lines = segment.components(separatedBy: "\r\n")
            // A live line alone (no line end), or one whole log line; never both glued.
            #expect(lines.first.map { $0.terminalColumns <= 79 || $0.hasPrefix("20") } == true, "\(segment)")
            if lines.count > 1 {
                #expect(lines[0].hasPrefix("20") || lines[0].hasPrefix("2020-08-04T0"), "a log line starts the line: \(segment)")
            }
        }
        for line in terminal.text.components(separatedBy: "\r\n") {
            let drawn = line.components(separatedBy: LiveConsole.clearLine).last ?? ""
            if drawn.contains("«") { #expect(drawn.terminalColumns <= 79, "\(drawn)") }
        }
    }
}
