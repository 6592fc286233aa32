// `village-gateway set-pin --config FILE`: sets the technician shell's PIN, stored only hashed.
import ArgumentParser
import Foundation

/// The terminal's settings while the PIN is typed without echo, restored if Ctrl-C ends set-pin.
nonisolated(unsafe) private var terminalBeforeHiding = termios()
nonisolated(unsafe) private var echoIsHidden = false

struct SetPinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-pin",
        abstract: "Set the technician shell's PIN in the configuration (stored salted and hashed).",
        discussion: """
            Asks for the PIN twice without echo; when standard input is not a terminal, reads it \
            from the first line there. Writes `[shell] pin_hash` (PBKDF2-SHA256, salted) into FILE \
            atomically, keeping the rest of the file as it is; the PIN itself is never stored. A \
            running box asks for the new PIN at the next login.
            """)

    @Option(name: .long, help: ArgumentHelp("The configuration file (TOML).", valueName: "file"))
    var config: String

    /// A PIN line longer than this is not a PIN (a pasted file).
    static let lineBytesMax = 64

    func run() throws {
        let text: String
        do {
            text = try ConfigurationLoader.readText(path: config)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        let pin: String
        if isatty(STDIN_FILENO) == 1 {
            guard let first = Self.readHidden(prompt: "New shell PIN: "), let second = Self.readHidden(prompt: "Again: ") else {
                printError("no PIN given; nothing changed")
                throw ExitCode.failure
            }
            guard first == second else {
                printError("the two PINs differ; nothing changed, run set-pin again")
                throw ExitCode.failure
            }
            pin = first
        } else {
            guard let line = Self.readLine() else {
                printError("no PIN on standard input; give it as one line (e.g. from a file), or run set-pin in a terminal")
                throw ExitCode.failure
            }
            pin = line
        }
        if let problem = PINHash.problem(withPIN: pin) {
            printError("not set: \(problem)")
            throw ExitCode.failure
        }
        var editor = ConfigurationEditor(file: config, text: text)
        do {
            try editor.set("shell.pin_hash", to: PINHash.make(pin: pin).description, allowingPINHash: true)
        } catch {
            printError("not set: \(error.description)")
            throw ExitCode.failure
        }
        if case .failure(let problems) = editor.check() {
            printError(problems.description + "\nthe PIN was not written: fix these first (village-gateway check-config \(config))")
            throw ExitCode.failure
        }
        do {
            try writeFileAtomically(path: config, contents: editor.stagedText)
        } catch {
            printError("not set: \(error.description)")
            throw ExitCode.failure
        }
        print("PIN set in \(config) (salted PBKDF2-SHA256 hash; the PIN itself is not stored).")
    }

    /// One line from standard input, without its line end; nil at end of input.
    private static func readLine() -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count <= lineBytesMax, read(STDIN_FILENO, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            if byte != UInt8(ascii: "\r") { bytes.append(byte) }
        }
        if bytes.isEmpty && byte != UInt8(ascii: "\n") { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Asks on standard error and reads a line with the terminal's echo off (restored after).
    private static func readHidden(prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        let canHide = tcgetattr(STDIN_FILENO, &saved) == 0
        if canHide {
            terminalBeforeHiding = saved
            echoIsHidden = true
            signal(SIGINT) { number in
                if echoIsHidden { tcsetattr(STDIN_FILENO, TCSANOW, &terminalBeforeHiding) }
                _exit(128 + number)
            }
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSANOW, &quiet)
        }
        let line = readLine()
        if canHide {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            echoIsHidden = false
        }
        FileHandle.standardError.write(Data("\n".utf8))
        return line
    }
}
