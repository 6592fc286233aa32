// The modem driver over a real pseudo-terminal and the termios port, against the simulated modem
// served from a thread on the pty's master end (bytes cross the kernel's tty layer for real).
import Foundation
import Glibc
import Testing
@testable import Drivers
import TimeSeam

/// Serves AT commands on the master end of a pty until stopped. The modem state is touched only
/// by the serving thread until `stop()` has joined it, hence the unchecked Sendable.
private final class PtyModemServer: @unchecked Sendable {
    /// Bounds one read from the master end.
    static let readChunkBytes = 512
    static let pollMilliseconds: Int32 = 20

    let masterFileDescriptor: Int32
    let modem = SimulatedModem()
    private let lock = NSLock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    init(masterFileDescriptor: Int32) {
        self.masterFileDescriptor = masterFileDescriptor
    }

    func start() {
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    /// Stops the thread and waits for it, so the test may read the modem's state afterwards.
    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        finished.wait()
    }

    private var shouldStop: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func serve() {
        defer { finished.signal() }
        var buffer = [UInt8](repeating: 0, count: Self.readChunkBytes)
        while !shouldStop {
            var descriptor = pollfd(fd: masterFileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Self.pollMilliseconds) > 0 else { continue }
            let count = Glibc.read(masterFileDescriptor, &buffer, buffer.count)
            guard count > 0 else { continue }
            let answer = modem.receive(Array(buffer.prefix(count)))
            var offset = 0
            while offset < answer.count {
                let written = answer[offset...].withUnsafeBytes { Glibc.write(masterFileDescriptor, $0.baseAddress, $0.count) }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

@Suite struct ModemPtyTests {
    @Test func aChineseSMSCrossesARealPtyAsTheEncodedPDU() throws {
        let pair = try PseudoTerminalPair()
        let server = PtyModemServer(masterFileDescriptor: pair.master!.fileDescriptor)
        server.start()
        let port = try TermiosSerialPort(path: pair.slavePath, settings: SerialSettings(baudRate: 115200))
        let modem = Modem(channel: ATChannel(transport: port, clock: SystemMonotonicClock()))
        let text = "山洪红色预警：请立即转移到安置点。"
        var sent: [Int] = []
        var quality: SignalQuality?
        do {
            try modem.configure()
            quality = try modem.signalQuality()
            sent = try modem.sendSMS(to: "+8613800138000", text: text)
        } catch {
            server.stop()
            throw error
        }
        server.stop()
        #expect(quality == SignalQuality(rssi: 20, bitErrorRate: 99))
        #expect(sent == [1])
        let expected = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: text, concatenationReference: 0, partsMax: 10)
        #expect(server.modem.receivedPDUs == expected.map(\.hex))
        #expect(server.modem.commands == ["AT", "ATE0", "AT+CMEE=1", "AT+CMGF=0", "AT+CSQ", "AT+CMGF=0", "AT+CMGS=\(expected[0].tpduLength)"])
    }

    @Test func aHungUpPtyIsADisconnectionNotATimeout() throws {
        let pair = try PseudoTerminalPair()
        let port = try TermiosSerialPort(path: pair.slavePath, settings: SerialSettings(baudRate: 115200))
        let modem = Modem(channel: ATChannel(transport: port, clock: SystemMonotonicClock()))
        pair.closeMaster()
        #expect(throws: ModemError.transport(.disconnected(path: pair.slavePath))) {
            _ = try modem.signalQuality()
        }
    }
}
