// Prints Modbus RTU transactions per second through our master over a pseudo-terminal, beside
// what a real line at the same baud rate could carry. A program that prints figures; never a test.
import Checksums
import Drivers
import Foundation
import Glibc

let transactionsPerRun = 1000
let slaveID: UInt8 = 1

/// Opens a kernel pty pair; returns the master descriptor and the slave's path.
func openPseudoTerminal() -> (master: Int32, slavePath: String) {
    let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
    precondition(master >= 0, "cannot open /dev/ptmx: \(String(cString: strerror(errno)))")
    var locked: Int32 = 0
    var number: UInt32 = 0
    // TIOCSPTLCK and TIOCGPTN (asm-generic numbers): unlock the pair, learn the slave's number.
    precondition(ioctl(master, UInt(0x4004_5431), &locked) == 0 && ioctl(master, UInt(0x8004_5430), &number) == 0)
    return (master, "/dev/pts/\(number)")
}

/// A slave as fast as a pty allows: reads each 8-byte request and answers with `reply` at once,
/// so the figure is the master's own cost. Ends when the master side hangs up.
func startSlave(master: Int32, reply: [UInt8]) -> Thread {
    let thread = Thread {
        var request = [UInt8](repeating: 0, count: 8)
        var received = 0
        while true {
            let count = request.withUnsafeMutableBytes { read(master, $0.baseAddress! + received, 8 - received) }
            if count <= 0 { return }
            received += count
            if received < 8 { continue }
            received = 0
            let written = reply.withUnsafeBytes { write(master, $0.baseAddress, reply.count) }
            if written != reply.count { return }
        }
    }
    thread.start()
    return thread
}

func replyFrame(registerCount: Int) -> [UInt8] {
    var body: [UInt8] = [slaveID, 0x03, UInt8(2 * registerCount)]
    for index in 0..<registerCount { body += [0x00, UInt8(index)] }
    let crc = CRC16Modbus.checksum(body)
    return body + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
}

struct Figures {
    var measuredPerSecond: Double
    var linePerSecond: Double
}

func run(baudRate: Int, registerCount: Int) throws -> Figures {
    let (master, slavePath) = openPseudoTerminal()
    let reply = replyFrame(registerCount: registerCount)
    let settings = SerialSettings(baudRate: baudRate)
    let port = try TermiosSerialPort(path: slavePath, settings: settings)
    let modbus = try ModbusRTUMaster(transport: port, settings: settings, configuration: .init(timeoutMilliseconds: 1000, retriesMax: 0))
    _ = startSlave(master: master, reply: reply)
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<transactionsPerRun {
        _ = try modbus.readRegisters(slaveID: slaveID, function: .holdingRegisters, address: 0, count: registerCount)
    }
    let elapsed = clock.now - start
    port.close()  // hangs up the pty; the slave thread's read fails and it ends
    close(master)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    // A real line: request (8 bytes) and reply on the wire at bits-per-character ÷ baud, and the
    // inter-frame silence before each of the two frames.
    let frameBytes = 8 + reply.count
    let lineSeconds = Double(frameBytes * settings.bitsPerCharacter) / Double(baudRate)
        + 2 * Double(modbus.interFrameSilenceMicroseconds) / 1e6
    let counters = modbus.counters[slaveID] ?? ModbusSlaveCounters()
    precondition(counters.goodReplies == transactionsPerRun, "every transaction must succeed: \(counters)")
    return Figures(measuredPerSecond: Double(transactionsPerRun) / seconds, linePerSecond: 1 / lineSeconds)
}

func formatted(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

print("Modbus RTU master over a pseudo-terminal: \(transactionsPerRun) read-holding-registers transactions per row")
print("")
print("NOTE: a pty has no real baud rate: bytes cross it at memory speed. The measured rate is our")
print("own overhead (syscalls, parsing, CRC) plus the inter-frame silences we honour (3.5 characters,")
print("1750 us above 19200 baud); the line limit is what a real RS-485 line at that baud could carry:")
print("(request + reply bytes) x bits per character / baud, plus two inter-frame silences.")
print("A ratio above 1 means the pty outran a real line; on a real line the line limit is the ceiling.")
print("")
print("baud     registers  frame bytes  measured tx/s  line limit tx/s  measured/limit")
for baudRate in [9600, 115200] {
    for registerCount in [1, 10, 125] {
        let figures = try run(baudRate: baudRate, registerCount: registerCount)
        let frameBytes = 8 + 5 + 2 * registerCount
        let columns = [
            String(baudRate).padding(toLength: 9, withPad: " ", startingAt: 0),
            String(registerCount).padding(toLength: 11, withPad: " ", startingAt: 0),
            String(frameBytes).padding(toLength: 13, withPad: " ", startingAt: 0),
            formatted(figures.measuredPerSecond, 0).padding(toLength: 15, withPad: " ", startingAt: 0),
            formatted(figures.linePerSecond, 1).padding(toLength: 17, withPad: " ", startingAt: 0),
            formatted(figures.measuredPerSecond / figures.linePerSecond, 2),
        ]
        print(columns.joined())
    }
}
