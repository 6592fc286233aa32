// `village-gateway boards` and `boards check FILE`: which boards the box knows, and whether a board file is right.
import ArgumentParser
import Foundation

struct BoardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boards",
        abstract: "List the board files, or check one.",
        discussion: """
            A board file says which GPIO line is the rain gauge, which relays are the siren and the \
            lamps, and which serial ports are the RS-485 bus, the voice module, the modem and the \
            console. Boards are read from --boards-dir DIR, else $VILLAGE_GATEWAY_BOARDS, else \
            /usr/share/village-gateway/boards, else boards/ in the current directory.
            """,
        subcommands: [ListBoards.self, CheckBoard.self],
        defaultSubcommand: ListBoards.self
    )
}

struct ListBoards: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the board files (the default).")

    @Option(name: .customLong("boards-dir"), help: "Read board files from this directory.")
    var boardsDirectory: String?

    func run() throws {
        guard let directory = BoardDirectory.choose(explicit: boardsDirectory) else {
            printError("""
                no boards directory: give --boards-dir DIR, set $\(BoardDirectory.environmentVariable), or install the \
                boards in \(BoardDirectory.installedPath). The simulated board "sim" is built in.
                """)
            throw ExitCode(1)
        }
        let listings: [BoardListing]
        let omittedCount: Int
        do {
            (listings, omittedCount) = try BoardLoader.listWithOmittedCount(directory: directory.path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        print("Boards in \(directory.path) (chosen by \(directory.chosenBecause)):")
        if listings.isEmpty {
            print("  none (no *.toml files); the simulated board \"sim\" is built in")
            return
        }
        let nameWidth = min(listings.map(\.name.count).max() ?? 0, 24)
        for listing in listings {
            let padded = listing.name.padding(toLength: max(nameWidth, listing.name.count), withPad: " ", startingAt: 0)
            if let count = listing.problemCount {
                print("  \(padded)  \(count) problem\(count == 1 ? "" : "s"): run `village-gateway boards check \(listing.file)`")
            } else {
                print("  \(padded)  \(listing.description)  [\(listing.file)]")
            }
        }
        if omittedCount > 0 {
            print("  … and \(omittedCount) more board files not listed (at most \(BoardLimits.boardFilesMax)): is this the right directory?")
        }
        if !listings.contains(where: { $0.name == BoardLoader.simulatedName }) {
            print("  \(BoardLoader.simulatedName.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  the simulated board (built in)")
        }
    }
}

struct CheckBoard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a board file.",
        discussion: """
            Reports every problem at once, each with its file, line, key, the value given and what is \
            allowed, and exits with status 1. On success prints "FILE: OK" and what is wired where.
            """
    )

    @Argument(help: "The board file, e.g. boards/raspberry-pi-4.toml.")
    var file: String

    func run() throws {
        let board: BoardDescription
        do {
            board = try BoardLoader.load(path: file)
        } catch {
            let count = error.problems.count
            printError(error.description + "\n\(file): \(count) problem\(count == 1 ? "" : "s"); the board file was not accepted")
            throw ExitCode(1)
        }
        print("\(file): OK")
        print("board \(board.name): \(board.description)\(board.isSimulated ? " (simulated)" : "")")
        if let source = board.source { print("pinout source: \(source)") }
        for line in board.wiringSummary { print("  " + line) }
        let missing = BoardInputFunction.allCases.filter { board.inputs[$0] == nil }.map(\.rawValue)
            + BoardOutputFunction.allCases.filter { board.outputs[$0] == nil }.map(\.rawValue)
            + BoardSerialFunction.allCases.filter { board.serialPorts[$0] == nil }.map(\.rawValue)
        if !missing.isEmpty { print("not wired: " + missing.joined(separator: ", ")) }
    }
}
