// `village-county stations`: the county's list of boxes. Adds a box (with a fresh key if asked),
// checks the file and every key in it, lists the boxes, and makes keys.
import ArgumentParser
import ConfigurationFiles
import CountyProtocol
import Crypto
import Foundation

struct StationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stations",
        abstract: "Keep the stations file: the boxes the county pulls, and their keys.",
        subcommands: [StationsAddCommand.self, StationsCheckCommand.self, StationsListCommand.self, StationsKeyCommand.self]
    )

    enum Status {
        /// The stations file or a key in it is unusable.
        static let unusable = ExitCode(2)
    }
}

/// Where the stations file is; shared by the subcommands.
struct StationsFileOption: ParsableArguments {
    @Option(help: ArgumentHelp("The stations file (TOML, [[station]] blocks).", valueName: "file"))
    var stations: String
}

struct StationsKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Make a station key: 32 random bytes as hex, as `openssl rand -hex 32` does.",
        discussion: """
            With --out the key is written to a new file readable by its owner only (0600) and the \
            path is printed; the same file goes to the box as its [county.api] key_file. Without \
            --out the key is printed.
            """
    )

    @Option(help: ArgumentHelp("Write the key to this new file (refused if it exists).", valueName: "file"))
    var out: String?

    func run() throws {
        let key = StationKeys.make()
        guard let out else {
            print(key)
            return
        }
        do {
            try StationKeys.write(key, to: out)
        } catch {
            printError(error.description)
            throw StationsCommand.Status.unusable
        }
        print(out)
    }
}

struct StationsAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a box to the stations file (created if absent), checked before it is written.",
        discussion: """
            The new [[station]] block is appended to the file's own text, so comments and order \
            survive. The whole file is checked with the block added, and written (atomically) only \
            if it passes. --make-key also writes a new key to --key-file; give that file to the box.
            """
    )

    @OptionGroup var file: StationsFileOption

    @Option(help: ArgumentHelp("The box's 10-digit station id ([station] id in its gateway.toml).", valueName: "id"))
    var id: String

    @Option(help: ArgumentHelp("The village's name, as the county's people know it.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("Where the box's API answers: http://host:port ([county.api] listen).", valueName: "url"))
    var url: String

    @Option(help: ArgumentHelp("The box's key file; relative paths are beside the stations file.", valueName: "file"))
    var keyFile: String

    @Flag(help: "Make a new key and write it to --key-file (refused if that file exists).")
    var makeKey = false

    func run() throws {
        let exists = FileManager.default.fileExists(atPath: file.stations)
        var text = ""
        if exists {
            do {
                text = try StationsFile.readText(path: file.stations)
            } catch {
                printError(error.description)
                throw StationsCommand.Status.unusable
            }
        }
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        if !text.isEmpty { text += "\n" }
        text += """
            [[station]]
            id = \(tomlQuoted(id))
            name = \(tomlQuoted(name))
            url = \(tomlQuoted(url))
            key_file = \(tomlQuoted(keyFile))

            """
        let stations: [PullStation]
        do {
            stations = try StationsFile.parse(text: text, file: file.stations)
        } catch {
            printError(error.description)
            printError("\(file.stations): not changed")
            throw StationsCommand.Status.unusable
        }
        let keyPath = StationsFile.resolve(keyFile, besideFile: file.stations)
        if makeKey {
            do {
                try StationKeys.write(StationKeys.make(), to: keyPath)
            } catch {
                printError(error.description)
                printError("\(file.stations): not changed")
                throw StationsCommand.Status.unusable
            }
        }
        do {
            try StationKeys.writeAtomically(text, to: file.stations)
        } catch {
            printError(error.description)
            throw StationsCommand.Status.unusable
        }
        print("\(file.stations): station \(id) \(name) added (\(stations.count) station\(stations.count == 1 ? "" : "s"))")
        if makeKey { print("new key in \(keyPath): copy it to the box as its [county.api] key_file") }
    }
}

struct StationsCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the stations file and every key file it names.",
        discussion: "Exit status: 0 all good; 2 the file or a key is unusable (each problem is printed)."
    )

    @OptionGroup var file: StationsFileOption

    func run() throws {
        let stations: [PullStation]
        do {
            stations = try StationsFile.load(path: file.stations)
        } catch {
            printError(error.description)
            throw StationsCommand.Status.unusable
        }
        var bad = 0
        for station in stations {
            do {
                _ = try SigningKey.load(path: station.keyFile)
            } catch {
                printError("station \(station.id) \(station.name): \(error.description)")
                bad += 1
            }
        }
        guard bad == 0 else { throw StationsCommand.Status.unusable }
        print("\(file.stations): \(stations.count) station\(stations.count == 1 ? "" : "s"), every key readable")
    }
}

struct StationsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the boxes in the stations file, one line each."
    )

    @OptionGroup var file: StationsFileOption

    func run() throws {
        let stations: [PullStation]
        do {
            stations = try StationsFile.load(path: file.stations)
        } catch {
            printError(error.description)
            throw StationsCommand.Status.unusable
        }
        for station in stations {
            let key = (try? SigningKey.load(path: station.keyFile)) == nil ? "key unreadable" : "key ok"
            print(PullSummary.truncate("\(station.id)  \(station.name)  \(station.url)  \(key)", PullSummary.columns))
        }
    }
}

/// Station keys: made from the system's secure random source through swift-crypto.
enum StationKeys {
    /// 32 bytes, the smallest key the box accepts (`SigningKey.bytesMin`) and HMAC-SHA256's block.
    static let keyBytes = SigningKey.bytesMin

    static func make() -> String {
        SymmetricKey(size: SymmetricKeySize(bitCount: keyBytes * 8)).withUnsafeBytes { Array($0) }.hexText
    }

    /// Creates `path` with mode 0600 and the key; an existing file is never overwritten (it may be
    /// the key a box already holds).
    static func write(_ key: String, to path: String) throws(KeyFileError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "it exists already; a box may hold that key, so it is not overwritten" : String(cString: strerror(errno))
            throw KeyFileError(description: "cannot create the key file \(path): \(reason)")
        }
        defer { close(descriptor) }
        let bytes = Array((key + "\n").utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw KeyFileError(description: "cannot write the key file \(path): \(reason)")
        }
    }

    /// Writes through a temporary file and a rename, so a crash leaves the old file or the new one.
    static func writeAtomically(_ text: String, to path: String) throws(KeyFileError) {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw KeyFileError(description: "cannot write \(path): \(error.localizedDescription)")
        }
    }
}

struct KeyFileError: Error, CustomStringConvertible {
    var description: String
}
