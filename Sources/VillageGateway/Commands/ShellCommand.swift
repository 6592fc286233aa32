// `village-gateway shell`: attaches this terminal to the running box's technician shell.
import ArgumentParser
import Foundation

/// The terminal's settings before raw mode, restored on every way out (a signal included).
nonisolated(unsafe) private var savedTerminal = termios()
nonisolated(unsafe) private var terminalIsRaw = false

private func restoreTerminal() {
    if terminalIsRaw {
        tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminal)
        terminalIsRaw = false
    }
}

struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Open the technician shell of the running box in this terminal.",
        discussion: """
            Connects to STATE-DIR/shell.sock of a running `village-gateway run`, puts the terminal \
            in raw mode (keys go to the box as typed: Ctrl-C abandons a line there, Ctrl-D logs out) \
            and restores it on exit. Ctrl-] leaves at once, whatever the box does. TERM is passed on: with TERM=dumb the box sends no ANSI \
            sequence. The box asks for its PIN (set with `village-gateway set-pin`).
            """)

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("The running daemon's state directory.", valueName: "dir"))
    var stateDirectory: String = "/var/lib/village-gateway"

    static let bufferBytes = 4_096
    /// Ctrl-]: telnet's escape. Leaves without asking the box, so a hung or locked box never
    /// traps the terminal.
    static let escapeByte: UInt8 = 0x1D

    func run() throws {
        let path = "\(stateDirectory)/\(ShellServer.socketFileName)"
        guard access(path, F_OK) == 0 else {
            printError("no village-gateway is running with state directory \(stateDirectory) (no \(ShellServer.socketFileName) there); start it with `village-gateway run`, or give --state-dir")
            throw ExitCode.failure
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0, var address = unixAddress(path) else {
            printError("cannot create a socket to reach \(path)")
            throw ExitCode.failure
        }
        defer { close(descriptor) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            printError("cannot reach the shell at \(path): \(String(cString: strerror(errno))) (is the daemon running, and are you root?)")
            throw ExitCode.failure
        }
        let term = ProcessInfo.processInfo.environment["TERM"] ?? "dumb"
        let hello = [UInt8(0)] + Array("TERM=\(term)\n".utf8)
        _ = hello.withUnsafeBytes { send(descriptor, $0.baseAddress!, hello.count, Int32(MSG_NOSIGNAL)) }

        if isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, &savedTerminal) == 0 {
            var raw = savedTerminal
            cfmakeraw(&raw)
            if tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0 { terminalIsRaw = true }
            for number in [SIGTERM, SIGHUP, SIGINT, SIGQUIT] {
                signal(number) { number in
                    restoreTerminal()
                    _exit(128 + number)
                }
            }
        }
        defer { restoreTerminal() }

        var buffer = [UInt8](repeating: 0, count: Self.bufferBytes)
        var inputOpen = true
        while true {
            var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
            if inputOpen { descriptors.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
            guard poll(&descriptors, nfds_t(descriptors.count), -1) >= 0 || errno == EINTR else { break }
            if descriptors[0].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
                if count <= 0 { break }
                guard Self.writeAll(STDOUT_FILENO, Array(buffer[..<count])) else { break }
            }
            if inputOpen, descriptors.count > 1, descriptors[1].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress!, $0.count) }
                if count <= 0 {
                    // Input ended (a pipe): let the box finish answering, then it closes.
                    inputOpen = false
                    shutdown(descriptor, Int32(SHUT_WR))
                    continue
                }
                let bytes = Array(buffer[..<count])
                if bytes.contains(Self.escapeByte) {
                    restoreTerminal()
                    _ = Self.writeAll(STDOUT_FILENO, Array("\r\nLeft the shell (Ctrl-]).\r\n".utf8))
                    return
                }
                guard bytes.withUnsafeBytes({ send(descriptor, $0.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { break }
            }
        }
        restoreTerminal()
        // The box ends its lines with \r\n; leave the local prompt on a fresh line, and say the
        // connection is gone (a box that stopped must not look like a prompt that came back).
        if isatty(STDOUT_FILENO) == 1 { _ = Self.writeAll(STDOUT_FILENO, Array("\r\nConnection to the box closed.\r\n".utf8)) }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return false }
            written += count
        }
        return true
    }
}
