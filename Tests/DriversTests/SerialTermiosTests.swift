// The termios serial port against a real kernel pseudo-terminal: what a socat bridge gives us.
import Glibc
import Testing
@testable import Drivers

@Suite struct SerialTermiosTests {
    @Test func everyByteValuePassesUnchangedBothWays() throws {
        // Raw mode matters: a cooked line would turn 0x0D into 0x0A, swallow 0x11/0x13 as XON/XOFF
        // and echo bytes back, any of which breaks a Modbus CRC.
        let pty = try PseudoTerminalPair()
        let port = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings(baudRate: 9600))
        let allBytes = (0...255).map { UInt8($0) }
        try pty.send(allBytes)
        var received: [UInt8] = []
        while received.count < allBytes.count {
            let chunk = try port.read(maxBytes: 256, timeoutMilliseconds: 2000)
            #expect(!chunk.isEmpty, "no byte within the hang guard after \(received.count)")
            if chunk.isEmpty { break }
            received += chunk
        }
        #expect(received == allBytes)
        try port.write(allBytes, timeoutMilliseconds: 2000)
        #expect(try pty.receive(count: allBytes.count) == allBytes)
    }

    @Test func readReturnsNothingWhenTheLineStaysSilent() throws {
        let pty = try PseudoTerminalPair()
        let port = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings())
        #expect(try port.read(maxBytes: 16, timeoutMilliseconds: 20) == [])
    }

    @Test func discardInputDropsBytesThatArrivedBeforeTheRequest() throws {
        let pty = try PseudoTerminalPair()
        let port = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings())
        try pty.send([0xAA, 0xBB])
        // Wait until the stale bytes are certainly in the input queue before discarding them.
        let deadline = MonotonicDeadline(millisecondsFromNow: 2000)
        var pending: Int32 = 0
        while pending < 2 && deadline.remainingMilliseconds > 0 {
            _ = ioctl(try #require(port.fileDescriptorForTests), UInt(FIONREAD), &pending)
            if pending < 2 { usleep(1000) }
        }
        #expect(pending == 2)
        try port.discardInput()
        try pty.send([0x01])
        #expect(try port.read(maxBytes: 16, timeoutMilliseconds: 2000) == [0x01])
    }

    @Test func aMissingDeviceSaysSo() {
        #expect(throws: SerialError.notFound(path: "/dev/ttyNoSuchAdapter9")) {
            try TermiosSerialPort(path: "/dev/ttyNoSuchAdapter9", settings: SerialSettings())
        }
    }

    @Test func aFileThatIsNotATerminalIsRefused() {
        #expect {
            try TermiosSerialPort(path: "/dev/null", settings: SerialSettings())
        } throws: { error in
            guard case SerialError.invalidSetting(let detail) = error else { return false }
            return detail.contains("not a serial port")
        }
    }

    @Test func aNonStandardBaudRateIsRefusedWithTheAllowedList() throws {
        let pty = try PseudoTerminalPair()
        #expect {
            try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings(baudRate: 96000))
        } throws: { error in
            guard case SerialError.invalidSetting(let detail) = error else { return false }
            return detail.contains("96000") && detail.contains("9600,")
        }
    }

    @Test func aSecondOwnerOfTheSameLineIsTurnedAway() throws {
        let pty = try PseudoTerminalPair()
        let first = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings())
        #expect(throws: SerialError.busy(path: pty.slavePath)) {
            try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings())
        }
        first.close()
        _ = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings())
    }

    @Test func aLineThatHangsUpIsReportedAsDisconnected() throws {
        let pty = try PseudoTerminalPair()
        let port = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings())
        pty.closeMaster()
        #expect(throws: SerialError.disconnected(path: pty.slavePath)) {
            try port.read(maxBytes: 16, timeoutMilliseconds: 2000)
        }
        #expect(throws: SerialError.disconnected(path: pty.slavePath)) {
            try port.write([0x01], timeoutMilliseconds: 2000)
        }
    }

    @Test func kernelRS485OnALineWithoutItIsAnActionableError() throws {
        let pty = try PseudoTerminalPair()
        #expect {
            try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings(rs485: .init()))
        } throws: { error in
            guard case SerialError.invalidSetting(let detail) = error else { return false }
            return detail.contains("RS-485")
        }
    }

    @Test func theDescriptionNamesThePathSettingsAndOpeningPath() throws {
        let pty = try PseudoTerminalPair()
        let port = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings(baudRate: 19200, parity: .even))
        #expect(port.portDescription == "\(pty.slavePath) (19200 8E1, opened with termios)")
    }

    @Test func aClosedPortRefusesFurtherUse() throws {
        let pty = try PseudoTerminalPair()
        let port = try TermiosSerialPort(path: pty.slavePath, settings: SerialSettings())
        port.close()
        #expect(throws: SerialError.self) { try port.read(maxBytes: 1, timeoutMilliseconds: 10) }
    }
}
