// An in-memory SerialTransport whose far end is a Swift closure: the twin of a modem or a module.

/// The far end of a simulated serial line: it sees every byte the driver writes and may answer.
public protocol SimulatedSerialDevice: AnyObject {
    /// Called with each write; returns the bytes the device sends back (possibly none).
    func receive(_ bytes: [UInt8]) -> [UInt8]
    /// What the device says on its own since the last read (a modem's RING or +CMTI): the port
    /// asks before every read. May be called from the port owner's thread while another thread
    /// makes the device talk, so a device that talks on its own locks what it shares.
    func takeUnsolicitedBytes() -> [UInt8]
}

extension SimulatedSerialDevice {
    public func takeUnsolicitedBytes() -> [UInt8] { [] }
}

/// A serial port in memory. Reads return what the device answered; a read that finds nothing
/// advances the simulated clock by its whole timeout (as a real port would have waited), and
/// bytes advance it by their time on the wire, so deadlines hold without sleeping.
public final class SimulatedSerialPort: SerialTransport {
    /// Bounds the bytes waiting to be read, like a UART driver's buffer: beyond it, oldest bytes
    /// are dropped and counted (a real overrun).
    public static let inputBytesMax = 64 * 1024
    /// Bounds the write log kept for tests.
    public static let writeLogBytesMax = 256 * 1024

    public let portDescription: String
    public let clock: SimulatedClock
    public let device: SimulatedSerialDevice?
    /// Microseconds one byte takes on the wire (10 bits at 9600 baud ≈ 1042 µs).
    public let byteTimeMicroseconds: Int64

    public private(set) var pendingInput: [UInt8] = []
    public private(set) var writtenBytes: [UInt8] = []
    public private(set) var overrunBytesDropped = 0
    /// When set, every further operation fails as a yanked USB adapter would.
    public private(set) var vanished = false
    /// How many more reads succeed before the device vanishes (nil: never).
    public var readsBeforeVanishing: Int?
    /// Runs when the port goes away, as a real port is closed when its owner lets go of it: a
    /// board of twins lets the device be opened again then (the modem worker reopens its port
    /// after a time-out), and not before.
    private let onClose: (() -> Void)?

    public init(
        portDescription: String = "simulated:/dev/ttySIM0",
        clock: SimulatedClock,
        device: SimulatedSerialDevice?,
        byteTimeMicroseconds: Int64 = 1042,
        onClose: (() -> Void)? = nil
    ) {
        self.portDescription = portDescription
        self.clock = clock
        self.device = device
        self.byteTimeMicroseconds = byteTimeMicroseconds
        self.onClose = onClose
    }

    deinit { onClose?() }

    /// Makes the device disappear now (cable pulled).
    public func vanish() { vanished = true }

    /// Bytes that arrive unasked (a URC, line noise, a module resetting).
    public func inject(_ bytes: [UInt8]) { enqueue(bytes) }

    public func write(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialError) {
        guard !vanished else { throw .disconnected(path: portDescription) }
        guard timeoutMilliseconds >= 0 else {
            throw .invalidSetting("write timeout \(timeoutMilliseconds) ms is negative")
        }
        clock.advance(nanoseconds: Int64(bytes.count) * byteTimeMicroseconds * 1000)
        writtenBytes.append(contentsOf: bytes)
        if writtenBytes.count > Self.writeLogBytesMax {
            writtenBytes.removeFirst(writtenBytes.count - Self.writeLogBytesMax)
        }
        if let device {
            enqueue(device.receive(bytes))
        }
    }

    public func read(maxBytes: Int, timeoutMilliseconds: Int) throws(SerialError) -> [UInt8] {
        guard !vanished else { throw .disconnected(path: portDescription) }
        guard maxBytes > 0, timeoutMilliseconds >= 0 else {
            throw .invalidSetting("read of \(maxBytes) bytes with timeout \(timeoutMilliseconds) ms")
        }
        if let remaining = readsBeforeVanishing {
            if remaining <= 0 {
                vanished = true
                throw .disconnected(path: portDescription)
            }
            readsBeforeVanishing = remaining - 1
        }
        if let device {
            let unsolicited = device.takeUnsolicitedBytes()
            if !unsolicited.isEmpty { enqueue(unsolicited) }
        }
        if pendingInput.isEmpty {
            clock.advance(milliseconds: timeoutMilliseconds)
            return []
        }
        let count = min(maxBytes, pendingInput.count)
        let chunk = Array(pendingInput.prefix(count))
        pendingInput.removeFirst(count)
        clock.advance(nanoseconds: Int64(count) * byteTimeMicroseconds * 1000)
        return chunk
    }

    public func discardInput() throws(SerialError) {
        guard !vanished else { throw .disconnected(path: portDescription) }
        pendingInput.removeAll()
    }

    private func enqueue(_ bytes: [UInt8]) {
        pendingInput.append(contentsOf: bytes)
        if pendingInput.count > Self.inputBytesMax {
            let excess = pendingInput.count - Self.inputBytesMax
            pendingInput.removeFirst(excess)
            overrunBytesDropped += excess
        }
    }
}
