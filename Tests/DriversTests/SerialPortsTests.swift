// Opening by path (libserialport first, termios for ptys) and listing ports, as the gateway does.
import Glibc
import Testing
@testable import Drivers

@Suite struct SerialPortsTests {
    @Test func aPseudoTerminalIsRefusedByLibserialportAndOpenedWithTermios() throws {
        let pty = try PseudoTerminalPair()
        #expect {
            try LibSerialPort(path: pty.slavePath, settings: SerialSettings())
        } throws: { error in
            guard case SerialError.invalidSetting(let detail) = error else { return false }
            return detail.contains("libserialport")
        }
        let port = try SerialPorts.open(path: pty.slavePath, settings: SerialSettings(baudRate: 115200))
        #expect(port.portDescription.hasSuffix("opened with termios)"))
        try pty.send([0x55])
        #expect(try port.read(maxBytes: 4, timeoutMilliseconds: 2000) == [0x55])
    }

    @Test func aMissingDeviceIsNotFoundOnEitherPath() {
        #expect(throws: SerialError.notFound(path: "/dev/ttyUSB97")) {
            try SerialPorts.open(path: "/dev/ttyUSB97", settings: SerialSettings())
        }
        #expect(throws: SerialError.notFound(path: "/dev/ttyUSB97")) {
            try LibSerialPort(path: "/dev/ttyUSB97", settings: SerialSettings())
        }
    }

    @Test func aWrongSettingIsRefusedBeforeTheDeviceIsTouched() {
        // The device does not exist: the settings error must come first, so the technician fixes
        // the typo rather than hunting for a cable.
        #expect {
            try SerialPorts.open(path: "/dev/ttyUSB97", settings: SerialSettings(baudRate: 9601, stopBits: 3))
        } throws: { error in
            guard case SerialError.invalidSetting(let detail) = error else { return false }
            return detail.contains("9601")
        }
        #expect(throws: SerialError.self) {
            try SerialPorts.open(path: "/dev/ttyUSB97", settings: SerialSettings(dataBits: 9))
        }
    }

    @Test func listedPortsHaveDevicePathsAndWellFormedUSBIdentities() throws {
        // Whatever this machine has (often nothing), every entry must be a device node, and a
        // USB adapter's vid:pid must print as lsusb does.
        for port in try SerialPorts.list() {
            #expect(port.path.hasPrefix("/dev/"))
            if let vendorProduct = port.usbVendorProduct {
                #expect(vendorProduct.count == 9 && vendorProduct.contains(":"))
            }
        }
        let adapter = SerialPorts.PortInfo(
            path: "/dev/ttyUSB0", description: "USB2.0-Serial", transport: "usb", usbVendorID: 0x1A86, usbProductID: 0x7523)
        #expect(adapter.usbVendorProduct == "1a86:7523")
    }

    @Test func settingsPrintTheWayManualsWriteThem() {
        #expect(SerialSettings().description == "9600 8N1")
        #expect(SerialSettings(baudRate: 19200, parity: .odd, stopBits: 2).description == "19200 8O2")
        #expect(SerialSettings(parity: .even).bitsPerCharacter == 11)
        #expect(SerialSettings().bitsPerCharacter == 10)
    }
}
