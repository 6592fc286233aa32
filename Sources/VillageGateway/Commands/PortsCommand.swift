// `village-gateway ports`: which serial ports this box has, with the USB identity of each
// adapter, so a technician can tell which /dev/ttyUSB* is the cable they just plugged in.
import ArgumentParser
import Drivers

struct PortsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ports",
        abstract: "List serial ports (UARTs and USB-serial adapters) with USB vendor:product, maker and serial number.",
        discussion: """
            Pseudo-terminals made by socat or ser2net are not listed; use them by path \
            (e.g. `probe modbus --port /tmp/ttyV0`).
            """
    )

    func run() throws {
        let ports: [SerialPorts.PortInfo]
        do {
            ports = try SerialPorts.list()
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        print(Self.render(ports), terminator: "")
    }

    /// The listing as printed; separate from `run` so its wording can be checked without hardware.
    static func render(_ ports: [SerialPorts.PortInfo]) -> String {
        guard !ports.isEmpty else {
            return """
                No serial ports found: this machine has no UART or USB-serial adapter that the kernel \
                lists under /sys/class/tty.
                If an adapter is plugged in, check `dmesg | tail` for its driver (ch341, cp210x, ftdi_sio, pl2303).

                """
        }
        var text = "\(ports.count) serial port\(ports.count == 1 ? "" : "s"):\n"
        for port in ports {
            var fields = [port.path, port.transport == "native" ? "on-board UART" : port.transport]
            if let vendorProduct = port.usbVendorProduct { fields.append(vendorProduct) }
            if let manufacturer = port.usbManufacturer { fields.append("maker \"\(manufacturer)\"") }
            if let product = port.usbProduct { fields.append("product \"\(product)\"") }
            if let serialNumber = port.usbSerialNumber { fields.append("serial \"\(serialNumber)\"") }
            // libserialport describes an on-board UART by its own name; only say something new.
            let name = port.path.split(separator: "/").last.map(String.init) ?? port.path
            if !port.description.isEmpty, port.description != port.usbProduct, port.description != name {
                fields.append("(\(port.description))")
            }
            text += "  " + fields.joined(separator: "  ") + "\n"
        }
        return text
    }
}
