// Runs Modbus slaves we did not write (pymodbus) and our misbehaving one as real processes on
// the far end of a socat pty pair, the way a ser2net bridge would present a remote bus.
import Foundation
import Glibc
@testable import Drivers

/// The package root, found from this file's path, for the fixtures and the project's .venv.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The Python that has pymodbus: $VILLAGE_GATEWAY_PYTHON, else the .venv `make venv` builds.
func pythonWithPymodbus() throws -> String {
    if let configured = ProcessInfo.processInfo.environment["VILLAGE_GATEWAY_PYTHON"] { return configured }
    let venvPython = packageRoot.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: venvPython) else {
        throw TestSetupError("no \(venvPython): run `make venv` (or `make test`) to install the pinned pymodbus")
    }
    return venvPython
}

/// Reads a child's output line by line with a hang guard, so a fixture that never gets ready
/// fails the test instead of hanging it.
final class LineReader {
    private let descriptor: SerialDescriptor
    private var pending: [UInt8] = []
    private(set) var everything = ""

    init(_ pipe: Pipe, name: String) {
        descriptor = SerialDescriptor(fileDescriptor: pipe.fileHandleForReading.fileDescriptor, path: name)
    }

    /// Returns once a line containing `text` has been read; throws after the hang guard.
    func waitForLine(containing text: String, hangGuardMilliseconds: Int = 20_000) throws {
        let deadline = MonotonicDeadline(millisecondsFromNow: hangGuardMilliseconds)
        while true {
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                everything += line + "\n"
                if line.contains(text) { return }
            }
            let remaining = deadline.remainingMilliseconds
            guard remaining > 0 else { throw TestSetupError("no line with '\(text)' within the hang guard; output:\n\(everything)") }
            do {
                pending += try descriptor.read(maxBytes: 4096, timeoutMilliseconds: remaining)
            } catch {
                throw TestSetupError("output ended before a line with '\(text)': \(everything)\(String(decoding: pending, as: UTF8.self))")
            }
        }
    }
}

/// Starts a process; stopped (SIGTERM, then reaped) when the owner goes away.
/// @unchecked Sendable: after start, only `stop()` touches the process, and tests call it from
/// one thread at a time (the main test thread or the one thread that kills it mid-transaction).
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let output: LineReader
    let errors: LineReader
    private let outputPipe = Pipe()
    private let errorPipe = Pipe()

    init(_ executable: String, _ arguments: [String], name: String) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        process.standardInput = FileHandle.nullDevice
        output = LineReader(outputPipe, name: "\(name) stdout")
        errors = LineReader(errorPipe, name: "\(name) stderr")
        try process.run()
    }

    /// SIGKILL, because children started from the test runner inherit a signal mask with
    /// SIGTERM blocked: a SIGTERM would leave the fixture running and the wait hanging.
    func stop() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A socat pty pair: the gateway opens `gatewayPath`, a slave process opens `slavePath`.
final class SocatLine: @unchecked Sendable {
    let directory: String
    let gatewayPath: String
    let slavePath: String
    let socat: ChildProcess

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/village-gateway-modbus-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TestSetupError("mkdtemp failed") }
        directory = String(cString: made)
        gatewayPath = directory + "/gateway"
        slavePath = directory + "/slave"
        socat = try ChildProcess(
            "/usr/bin/socat",
            ["-d", "-d", "pty,raw,echo=0,link=\(gatewayPath)", "pty,raw,echo=0,link=\(slavePath)"], name: "socat")
        // socat says this once both ptys exist and it is copying bytes between them.
        try socat.errors.waitForLine(containing: "starting data transfer loop")
    }

    deinit {
        socat.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A Python slave fixture on the slave end of a socat line, ready when it says READY.
final class PythonSlave: @unchecked Sendable {
    let child: ChildProcess

    init(script: String, arguments: [String]) throws {
        let scriptPath = packageRoot.appendingPathComponent("Tests/DriversTests/Fixtures/\(script)").path
        child = try ChildProcess(try pythonWithPymodbus(), ["-u", scriptPath] + arguments, name: script)
        do {
            try child.output.waitForLine(containing: "READY")
        } catch {
            child.stop()
            throw TestSetupError("\(script) did not start: \(error)")
        }
    }

    static func pymodbus(on line: SocatLine, slaveIDs: [Int], baudRate: Int = 9600) throws -> PythonSlave {
        try PythonSlave(
            script: "pymodbus_slave.py",
            arguments: ["--port", line.slavePath, "--baud", "\(baudRate)"] + slaveIDs.flatMap { ["--slave", "\($0)"] })
    }

    static func misbehaving(on line: SocatLine) throws -> PythonSlave {
        try PythonSlave(script: "misbehaving_slave.py", arguments: ["--port", line.slavePath])
    }
}
