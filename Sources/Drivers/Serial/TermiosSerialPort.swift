// A SerialTransport over plain POSIX termios: opens what libserialport refuses (pseudo-terminals
// from socat/ser2net bridges to networked serial servers, and tests) as well as real UARTs.
import Glibc

public final class TermiosSerialPort: SerialTransport {
    public let path: String
    public let settings: SerialSettings
    public let portDescription: String
    private var descriptor: SerialDescriptor?

    /// Opens `path` read-write, exclusive, raw, with `settings` applied and verified.
    public init(path: String, settings: SerialSettings) throws(SerialError) {
        try settings.validate()
        self.path = path
        self.settings = settings
        // O_NOCTTY: a serial line must never become our controlling terminal (a hang-up would
        // send us SIGHUP). O_NONBLOCK: every wait goes through poll(2) with a deadline.
        let fileDescriptor = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fileDescriptor >= 0 else { throw serialOpenError(path: path, errorNumber: errno) }
        do {
            try lockSerialDescriptor(fileDescriptor, path: path)
            try Self.configure(fileDescriptor, path: path, settings: settings)
            let opened = SerialDescriptor(fileDescriptor: fileDescriptor, path: path)
            try opened.applyRS485(settings.rs485)
            try opened.discardInput()  // bytes that arrived before we owned the line belong to no one
            descriptor = opened
        } catch {
            Glibc.close(fileDescriptor)
            throw error
        }
        portDescription = "\(path) (\(settings), opened with termios)"
    }

    deinit {
        close()
    }

    /// Releases the device; later reads and writes throw. Safe to call twice.
    public func close() {
        guard let descriptor else { return }
        Glibc.close(descriptor.fileDescriptor)
        self.descriptor = nil
    }

    public func write(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialError) {
        try openDescriptor(for: "write").write(bytes, timeoutMilliseconds: timeoutMilliseconds)
    }

    public func read(maxBytes: Int, timeoutMilliseconds: Int) throws(SerialError) -> [UInt8] {
        try openDescriptor(for: "read").read(maxBytes: maxBytes, timeoutMilliseconds: timeoutMilliseconds)
    }

    public func discardInput() throws(SerialError) {
        try openDescriptor(for: "discard input").discardInput()
    }

    /// The descriptor, for tests that need to look at the kernel's queues.
    var fileDescriptorForTests: Int32? { descriptor?.fileDescriptor }

    private func openDescriptor(for operation: String) throws(SerialError) -> SerialDescriptor {
        guard let descriptor else { throw .io(path: path, operation: operation, detail: "the port is closed") }
        return descriptor
    }

    /// Raw mode, framing and speed, then read back: some drivers accept a tcsetattr and quietly
    /// keep another speed, which on a Modbus bus shows up only as "every slave times out".
    static func configure(_ fileDescriptor: Int32, path: String, settings: SerialSettings) throws(SerialError) {
        var options = termios()
        guard tcgetattr(fileDescriptor, &options) == 0 else {
            let error = errno
            if error == ENOTTY { throw .invalidSetting("\(path) is not a serial port (not a terminal device)") }
            throw .io(path: path, operation: "read settings", detail: String(cString: strerror(error)))
        }
        cfmakeraw(&options)
        options.c_cflag |= tcflag_t(CLOCAL | CREAD)  // ignore modem lines; enable the receiver
        options.c_cflag &= ~(tcflag_t(CSIZE | PARENB | PARODD | CSTOPB) | tcflag_t(CRTSCTS))
        let characterSize: tcflag_t = switch settings.dataBits {
        case 5: tcflag_t(CS5)
        case 6: tcflag_t(CS6)
        case 7: tcflag_t(CS7)
        default: tcflag_t(CS8)
        }
        options.c_cflag |= characterSize
        switch settings.parity {
        case .none: break
        case .even: options.c_cflag |= tcflag_t(PARENB)
        case .odd: options.c_cflag |= tcflag_t(PARENB | PARODD)
        }
        if settings.stopBits == 2 { options.c_cflag |= tcflag_t(CSTOPB) }
        options.c_iflag &= ~tcflag_t(IXON | IXOFF | IXANY)
        switch settings.flowControl {
        case .none: break
        case .rtsCts: options.c_cflag |= tcflag_t(CRTSCTS)
        case .xonXoff: options.c_iflag |= tcflag_t(IXON | IXOFF)
        }
        guard let speed = termiosSpeed(baudRate: settings.baudRate) else {
            throw .invalidSetting("baud rate \(settings.baudRate) has no termios speed")
        }
        guard cfsetispeed(&options, speed) == 0, cfsetospeed(&options, speed) == 0 else {
            throw .invalidSetting("baud rate \(settings.baudRate) refused by the C library")
        }
        guard tcsetattr(fileDescriptor, TCSANOW, &options) == 0 else {
            let error = errno
            if error == EINVAL {
                throw .invalidSetting("\(path) refused \(settings): the UART does not support these settings")
            }
            throw .io(path: path, operation: "apply settings", detail: String(cString: strerror(error)))
        }
        var applied = termios()
        guard tcgetattr(fileDescriptor, &applied) == 0 else {
            throw .io(path: path, operation: "read settings back", detail: String(cString: strerror(errno)))
        }
        guard cfgetospeed(&applied) == speed, applied.c_cflag & tcflag_t(CSIZE) == options.c_cflag & tcflag_t(CSIZE) else {
            throw .invalidSetting("\(path) did not keep \(settings): the UART does not support these settings")
        }
    }

    static func termiosSpeed(baudRate: Int) -> speed_t? {
        switch baudRate {
        case 300: speed_t(B300)
        case 600: speed_t(B600)
        case 1200: speed_t(B1200)
        case 1800: speed_t(B1800)
        case 2400: speed_t(B2400)
        case 4800: speed_t(B4800)
        case 9600: speed_t(B9600)
        case 19200: speed_t(B19200)
        case 38400: speed_t(B38400)
        case 57600: speed_t(B57600)
        case 115200: speed_t(B115200)
        case 230400: speed_t(B230400)
        case 460800: speed_t(B460800)
        case 921600: speed_t(B921600)
        default: nil
        }
    }
}
