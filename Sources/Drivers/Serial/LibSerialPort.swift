// A SerialTransport for real UARTs and USB-serial adapters opened through libserialport, which
// knows each driver's quirks; reads and writes share the poll(2) code of the termios port.
import CSerialPort
import Glibc

public final class LibSerialPort: SerialTransport {
    public let path: String
    public let settings: SerialSettings
    public let portDescription: String
    private var port: OpaquePointer?
    private var descriptor: SerialDescriptor?

    /// Why an open failed: libserialport refusing the device itself (a pty) is worth a termios
    /// retry; anything else (missing, busy, permission, bad setting) is final.
    enum OpenFailure: Error {
        case refusedByLibrary(String)
        case failed(SerialError)
    }

    /// Opens `path` with libserialport; a device the library cannot drive (a pty) is reported
    /// as `.invalidSetting`. `SerialPorts.open` tries termios in that case.
    public convenience init(path: String, settings: SerialSettings) throws(SerialError) {
        do {
            try self.init(openingPath: path, settings: settings)
        } catch {
            switch error {
            case .refusedByLibrary(let detail): throw .invalidSetting(detail)
            case .failed(let failure): throw failure
            }
        }
    }

    init(openingPath path: String, settings: SerialSettings) throws(OpenFailure) {
        do throws(SerialError) {
            try settings.validate()
        } catch {
            throw .failed(error)
        }
        self.path = path
        self.settings = settings
        (port, descriptor) = try Self.openAndConfigure(path: path, settings: settings)
        portDescription = "\(path) (\(settings), opened with libserialport)"
    }

    deinit {
        close()
    }

    /// Releases the device; later reads and writes throw. Safe to call twice.
    public func close() {
        guard let port else { return }
        if descriptor != nil { sp_close(port) }
        sp_free_port(port)
        self.port = nil
        descriptor = nil
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

    private func openDescriptor(for operation: String) throws(SerialError) -> SerialDescriptor {
        guard let descriptor else { throw .io(path: path, operation: operation, detail: "the port is closed") }
        return descriptor
    }

    /// Finds, opens, locks and configures the device; on any failure frees what it took.
    private static func openAndConfigure(
        path: String, settings: SerialSettings
    ) throws(OpenFailure) -> (OpaquePointer, SerialDescriptor) {
        var found: OpaquePointer?
        guard sp_get_port_by_name(path, &found) == SP_OK, let found else {
            // libserialport finds ports by their sysfs entry: a missing device and a pty look
            // alike here, so tell them apart with access(2).
            if access(path, F_OK) != 0 { throw .failed(.notFound(path: path)) }
            throw .refusedByLibrary("libserialport does not know \(path) (no entry under /sys/class/tty)")
        }
        var isOpen = false
        do throws(OpenFailure) {
            guard sp_open(found, SP_MODE_READ_WRITE) == SP_OK else {
                let error = Int32(sp_last_error_code())
                if error == ENOTTY || error == EINVAL {
                    // What a pty answers to TIOCMGET: not a UART libserialport can drive.
                    throw .refusedByLibrary("libserialport cannot drive \(path): \(lastErrorMessage())")
                }
                throw .failed(serialOpenError(path: path, errorNumber: error))
            }
            isOpen = true
            var fileDescriptor: Int32 = -1
            guard sp_get_port_handle(found, &fileDescriptor) == SP_OK, fileDescriptor >= 0 else {
                throw .failed(.io(path: path, operation: "open", detail: lastErrorMessage()))
            }
            do throws(SerialError) {
                try lockSerialDescriptor(fileDescriptor, path: path)
                try configure(found, path: path, settings: settings)
                let opened = SerialDescriptor(fileDescriptor: fileDescriptor, path: path)
                // libserialport 0.1.1 has no RS-485 call; the kernel ioctl works on its descriptor.
                try opened.applyRS485(settings.rs485)
                try opened.discardInput()  // bytes that arrived before we owned the line belong to no one
                return (found, opened)
            } catch {
                throw .failed(error)
            }
        } catch {
            if isOpen { sp_close(found) }
            sp_free_port(found)
            throw error
        }
    }

    private static func configure(_ port: OpaquePointer, path: String, settings: SerialSettings) throws(SerialError) {
        let parity: sp_parity = switch settings.parity {
        case .none: SP_PARITY_NONE
        case .even: SP_PARITY_EVEN
        case .odd: SP_PARITY_ODD
        }
        let flowControl: sp_flowcontrol = switch settings.flowControl {
        case .none: SP_FLOWCONTROL_NONE
        case .rtsCts: SP_FLOWCONTROL_RTSCTS
        case .xonXoff: SP_FLOWCONTROL_XONXOFF
        }
        let steps: [(String, () -> sp_return)] = [
            ("baud rate \(settings.baudRate)", { sp_set_baudrate(port, Int32(settings.baudRate)) }),
            ("data bits \(settings.dataBits)", { sp_set_bits(port, Int32(settings.dataBits)) }),
            ("parity \(settings.parity.rawValue)", { sp_set_parity(port, parity) }),
            ("stop bits \(settings.stopBits)", { sp_set_stopbits(port, Int32(settings.stopBits)) }),
            ("flow control \(settings.flowControl.rawValue)", { sp_set_flowcontrol(port, flowControl) }),
        ]
        for (setting, apply) in steps {
            let result = apply()
            guard result == SP_OK else {
                if result == SP_ERR_ARG || result == SP_ERR_SUPP {
                    throw .invalidSetting("\(path) does not support \(setting)")
                }
                throw .io(path: path, operation: "set \(setting)", detail: lastErrorMessage())
            }
        }
    }

    static func lastErrorMessage() -> String {
        guard let message = sp_last_error_message() else { return "unknown libserialport error" }
        defer { sp_free_error_message(message) }
        return String(cString: message)
    }
}
