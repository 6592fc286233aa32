// The device factory `BoardHardware` opens a board through: the kernel's devices on a real board
// (libgpiod, libserialport), the drivers' twins on `--board sim`. Everything above it is the same.
import Drivers
import Logging
import TimeSeam
import WarningLogic

/// Where a board's chips, ports and driver clocks come from.
protocol BoardDevices: Sendable {
    /// For messages: "the kernel's devices", "the simulated twins".
    var devicesDescription: String { get }
    /// The GPIO chip at `path` ("/dev/gpiochip0"). A chip opened twice is the same chip.
    func openChip(path: String) throws(GPIOError) -> any GPIOChip
    /// A serial port ("/dev/ttyS1"; "sim:rs485" on the simulated board).
    func openSerial(path: String, settings: SerialSettings, logger: Logger) throws(SerialError) -> any SerialTransport
    /// A clock for one driver thread's deadlines (a clock belongs to one thread).
    func makeClock() -> any GatewayClock
    /// Turns a GPIO edge's timestamp into box time.
    var edgeTime: EdgeTimeConverter { get }
    /// One GPIO wait, on the chip's clock: bounds how late a cancelled input notices (250 ms of
    /// wall time on a board and in simulation alike).
    var gpioWaitSliceMilliseconds: Int { get }
}

/// A real board: libgpiod chips, libserialport (termios for ptys), CLOCK_MONOTONIC.
struct HostDevices: BoardDevices {
    var devicesDescription: String { "the board's devices" }

    func openChip(path: String) throws(GPIOError) -> any GPIOChip {
        try LibgpiodChip(path: path)
    }

    func openSerial(path: String, settings: SerialSettings, logger: Logger) throws(SerialError) -> any SerialTransport {
        try SerialPorts.open(path: path, settings: settings, logger: logger)
    }

    func makeClock() -> any GatewayClock { SystemMonotonicClock() }

    var edgeTime: EdgeTimeConverter { kernelEdgeTime }

    var gpioWaitSliceMilliseconds: Int { VillageGateway.gpioWaitSliceMilliseconds }
}
