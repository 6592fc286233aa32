// Opening a serial device by path (libserialport first, termios for ptys) and listing the ports
// a technician can choose from, with the USB identity of each adapter.
import CSerialPort
import Glibc
import Logging

public enum SerialPorts {
    /// Which code path opened a port; logged, because "works with socat, fails on the adapter"
    /// is a question of which path was taken.
    public enum OpeningPath: String, Sendable {
        case libserialport
        case termios
    }

    /// Opens `path` with libserialport; if the library refuses the device itself (a pty made by
    /// socat or ser2net has no sysfs entry and no TIOCMGET), opens it with termios instead.
    /// Missing, busy and permission errors are final: the fallback would fail the same way.
    public static func open(
        path: String,
        settings: SerialSettings,
        logger: Logger = Logger(label: "village-gateway.serial")
    ) throws(SerialError) -> any SerialTransport {
        try settings.validate()
        do {
            let port = try LibSerialPort(openingPath: path, settings: settings)
            logger.info("opened serial port", metadata: portMetadata(path, settings, .libserialport))
            return port
        } catch {
            switch error {
            case .refusedByLibrary(let reason):
                logger.info(
                    "libserialport refused the device; falling back to termios",
                    metadata: ["path": "\(path)", "reason": "\(reason)"])
            case .failed(let failure):
                throw failure
            }
        }
        let port = try TermiosSerialPort(path: path, settings: settings)
        logger.info("opened serial port", metadata: portMetadata(path, settings, .termios))
        return port
    }

    private static func portMetadata(_ path: String, _ settings: SerialSettings, _ openingPath: OpeningPath) -> Logger.Metadata {
        ["path": "\(path)", "settings": "\(settings)", "opened-with": "\(openingPath.rawValue)"]
    }

    /// One serial port as libserialport sees it; USB fields are nil for on-board UARTs.
    public struct PortInfo: Sendable, Equatable {
        public var path: String
        public var description: String
        public var transport: String
        public var usbVendorID: UInt16?
        public var usbProductID: UInt16?
        public var usbManufacturer: String?
        public var usbProduct: String?
        public var usbSerialNumber: String?

        public init(
            path: String, description: String, transport: String, usbVendorID: UInt16? = nil,
            usbProductID: UInt16? = nil, usbManufacturer: String? = nil, usbProduct: String? = nil,
            usbSerialNumber: String? = nil
        ) {
            self.path = path
            self.description = description
            self.transport = transport
            self.usbVendorID = usbVendorID
            self.usbProductID = usbProductID
            self.usbManufacturer = usbManufacturer
            self.usbProduct = usbProduct
            self.usbSerialNumber = usbSerialNumber
        }

        /// "1a86:7523", how lsusb and adapter datasheets print it.
        public var usbVendorProduct: String? {
            guard let usbVendorID, let usbProductID else { return nil }
            return hex4(usbVendorID) + ":" + hex4(usbProductID)
        }

        private func hex4(_ value: UInt16) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 4 - digits.count) + digits
        }
    }

    /// A bound on the listing, so a broken udev setup with thousands of tty nodes cannot make
    /// `village-gateway ports` run away.
    public static let listedPortsMax = 256

    /// The ports libserialport finds under /sys/class/tty (UARTs with a driver, USB-serial
    /// adapters); pseudo-terminals are not listed. Sorted by path.
    public static func list() throws(SerialError) -> [PortInfo] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        guard sp_list_ports(&list) == SP_OK, let list else {
            throw .io(path: "/sys/class/tty", operation: "list serial ports", detail: LibSerialPort.lastErrorMessage())
        }
        defer { sp_free_port_list(list) }
        var ports: [PortInfo] = []
        var index = 0
        while let port = list[index], index < listedPortsMax {
            ports.append(info(port))
            index += 1
        }
        return ports.sorted { $0.path < $1.path }
    }

    private static func info(_ port: OpaquePointer) -> PortInfo {
        func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
            guard let pointer else { return nil }
            let value = String(cString: pointer)
            return value.isEmpty ? nil : value
        }
        let transport = sp_get_port_transport(port)
        let transportName = switch transport {
        case SP_TRANSPORT_USB: "usb"
        case SP_TRANSPORT_BLUETOOTH: "bluetooth"
        default: "native"
        }
        var result = PortInfo(
            path: text(sp_get_port_name(port)) ?? "?",
            description: text(sp_get_port_description(port)) ?? "",
            transport: transportName)
        if transport == SP_TRANSPORT_USB {
            var vendorID: Int32 = 0
            var productID: Int32 = 0
            if sp_get_port_usb_vid_pid(port, &vendorID, &productID) == SP_OK {
                result.usbVendorID = UInt16(truncatingIfNeeded: vendorID)
                result.usbProductID = UInt16(truncatingIfNeeded: productID)
            }
            result.usbManufacturer = text(sp_get_port_usb_manufacturer(port))
            result.usbProduct = text(sp_get_port_usb_product(port))
            result.usbSerialNumber = text(sp_get_port_usb_serial(port))
        }
        return result
    }
}
