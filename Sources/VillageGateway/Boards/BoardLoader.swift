// Finds board files (the boards directory, a path, or the built-in simulated board) and reads them.
import Foundation

/// The directory board files are read from, and why that one.
struct BoardDirectory: Sendable, Equatable {
    var path: String
    /// "--boards-dir", "$VILLAGE_GATEWAY_BOARDS", "installed", "boards/ in the current directory".
    var chosenBecause: String

    static let environmentVariable = "VILLAGE_GATEWAY_BOARDS"
    static let installedPath = "/usr/share/village-gateway/boards"
    static let besideCurrentDirectory = "boards"

    /// `--boards-dir DIR`, else `$VILLAGE_GATEWAY_BOARDS`, else the installed boards, else
    /// `boards/` in the current directory; nil when none of the last two exists. An explicit
    /// choice is kept even when it does not exist, so the technician hears about their typo.
    static func choose(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                       directoryExists: (String) -> Bool = BoardDirectory.isDirectory) -> BoardDirectory? {
        if let explicit, !explicit.isEmpty { return BoardDirectory(path: explicit, chosenBecause: "--boards-dir") }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            return BoardDirectory(path: fromEnvironment, chosenBecause: "$\(environmentVariable)")
        }
        if directoryExists(installedPath) { return BoardDirectory(path: installedPath, chosenBecause: "the installed boards") }
        if directoryExists(besideCurrentDirectory) {
            return BoardDirectory(path: besideCurrentDirectory, chosenBecause: "boards/ in the current directory")
        }
        return nil
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The path of board `name` in this directory.
    func file(for name: String) -> String {
        (path.hasSuffix("/") ? path : path + "/") + name + ".toml"
    }
}

/// One line of `village-gateway boards`.
struct BoardListing: Sendable, Equatable {
    var name: String
    var description: String
    var file: String
    /// Nil when the file is a good board file; otherwise how many problems it has.
    var problemCount: Int?
}

enum BoardLoader {
    /// The name that always means the simulated board.
    static let simulatedName = "sim"
    /// What the built-in simulated board's problems and listing call its file.
    static let embeddedFileName = "(built in) sim.toml"

    /// Reads and checks the board file at `path`. `requiringNameOfFile`: for files found by name
    /// in a boards directory, `[board] name` must be the file's name, or `--board NAME` would not
    /// find it; a file given by its path (the installed /etc/village-gateway/board.toml, a copy
    /// being checked) may be called anything.
    static func load(path: String, requiringNameOfFile: Bool = false) throws(ConfigurationError) -> BoardDescription {
        let text = try ConfigurationLoader.readText(path: path)
        return try parse(text: text, file: path, nameFromFile: requiringNameOfFile ? nameImplied(byPath: path) : nil)
    }

    /// Checks the text of a board file; `nameFromFile`, when given, is the name `[board] name` must have.
    static func parse(text: String, file: String, nameFromFile: String?) throws(ConfigurationError) -> BoardDescription {
        let document = try ConfigurationLoader.parseDocument(text: text, file: file, what: "a board file")
        let problems = ProblemCollector(file: file, locator: document.locator)
        let board = BoardReader(root: document.root, problems: problems, nameFromFile: nameFromFile).read()
        guard problems.isEmpty else { throw ConfigurationError(problems: problems.problems) }
        return board
    }

    /// The built-in simulated board.
    static func embeddedSimulatedBoard() -> BoardDescription {
        do {
            return try parse(text: EmbeddedBoards.simulated, file: embeddedFileName, nameFromFile: simulatedName)
        } catch {
            // The text is compiled in and checked by a test: failing here is a programmer error.
            fatalError("the built-in simulated board does not check: \(error.description)")
        }
    }

    /// For `run --board NAME|FILE`: a path (it has a `/` or ends in `.toml`) is read as it is; a
    /// name is looked up in the boards directory; `sim` falls back to the built-in board when
    /// the directory has no sim.toml.
    static func resolve(nameOrPath: String, boardsDirectory: String? = nil,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> BoardDescription {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".toml") {
            return try load(path: nameOrPath)
        }
        let directory = BoardDirectory.choose(explicit: boardsDirectory, environment: environment)
        if let directory, FileManager.default.fileExists(atPath: directory.file(for: nameOrPath)) {
            return try load(path: directory.file(for: nameOrPath), requiringNameOfFile: true)
        }
        if nameOrPath == simulatedName { return embeddedSimulatedBoard() }
        var message = "no board named \"\(nameOrPath)\""
        if let directory {
            message += " in \(directory.path) (chosen by \(directory.chosenBecause))"
            let names = (try? list(directory: directory.path).map(\.name)) ?? []
            if let suggestion = closestName(to: nameOrPath, among: names + [simulatedName]) {
                message += "; did you mean \"\(suggestion)\"?"
            } else if !names.isEmpty {
                message += "; the boards there are " + quotedList(names, conjunction: "and")
            }
        } else {
            message += ": no boards directory (give --boards-dir DIR, set $\(BoardDirectory.environmentVariable), "
                + "or install the boards in \(BoardDirectory.installedPath)); give a board file's path instead"
        }
        throw ConfigurationError(problems: [ConfigurationProblem(file: nameOrPath, line: nil, key: "", given: nil, allowed: message)])
    }

    /// The board files in `directory`, by name. Files that do not check are listed with their
    /// problem count rather than hidden: a technician looking for a board should see it is there.
    static func list(directory: String) throws(ConfigurationError) -> [BoardListing] {
        try listWithOmittedCount(directory: directory).listings
    }

    /// The listing, and how many board files were left out beyond `BoardLimits.boardFilesMax`.
    static func listWithOmittedCount(directory: String) throws(ConfigurationError) -> (listings: [BoardListing], omittedCount: Int) {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ConfigurationError(problems: [ConfigurationProblem(
                file: directory, line: nil, key: "", given: nil, allowed: "cannot list the boards directory: it does not exist or cannot be read")])
        }
        let files = entries.filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.sorted()
        var listings: [BoardListing] = []
        for name in files.prefix(BoardLimits.boardFilesMax) {
            let path = (directory.hasSuffix("/") ? directory : directory + "/") + name
            let nameFromFile = String(name.dropLast(".toml".count))
            do {
                let board = try load(path: path, requiringNameOfFile: true)
                listings.append(BoardListing(name: board.name, description: board.description, file: path, problemCount: nil))
            } catch {
                listings.append(BoardListing(name: nameFromFile, description: "", file: path, problemCount: error.problems.count))
            }
        }
        return (listings, max(files.count - BoardLimits.boardFilesMax, 0))
    }

    /// `raspberry-pi-4` for `…/raspberry-pi-4.toml`; nil for a file not named `*.toml`.
    static func nameImplied(byPath path: String) -> String? {
        let base = lastPathComponent(path)
        guard base.hasSuffix(".toml"), base.count > 5 else { return nil }
        return String(base.dropLast(5))
    }
}
