// The real GPIO chip through libgpiod v1 (Debian bookworm's 1.6): /dev/gpiochipN character device.
import CGPIOD
import Glibc
import TimeSeam

/// A chip opened with `gpiod_chip_open`. Lines requested from it keep it alive; closing the
/// chip releases them, so inputs and outputs hold a strong reference.
public final class LibgpiodChip: GPIOChip {
    public let path: String
    fileprivate let handle: OpaquePointer

    /// Opens e.g. "/dev/gpiochip0"; says plainly when the chip is missing or forbidden.
    public init(path: String) throws(GPIOError) {
        guard let opened = gpiod_chip_open(path) else {
            throw Self.openError(path: path, errorNumber: errno)
        }
        self.path = path
        handle = opened
    }

    deinit { gpiod_chip_close(handle) }

    public var chipDescription: String { path }

    static func openError(path: String, errorNumber: Int32) -> GPIOError {
        switch errorNumber {
        case ENOENT, ENODEV, ENXIO: .noChip(path: path)
        case EACCES, EPERM: .permissionDenied(path: path)
        default: .io(chip: path, line: .offset(0), operation: "open chip", detail: Self.text(errorNumber))
        }
    }

    static func text(_ errorNumber: Int32) -> String {
        String(cString: strerror(errorNumber))
    }

    fileprivate func line(_ selector: GPIOLineSelector) throws(GPIOError) -> OpaquePointer {
        switch selector {
        case .offset(let offset):
            guard let found = gpiod_chip_get_line(handle, offset) else {
                throw errno == EINVAL ? .noLine(chip: path, line: selector) : lineError(selector, "get line", errno)
            }
            return found
        case .name(let name):
            guard let found = gpiod_chip_find_line(handle, name) else {
                throw errno == ENOENT || errno == 0 ? .noLine(chip: path, line: selector) : lineError(selector, "find line", errno)
            }
            return found
        }
    }

    fileprivate func lineError(_ selector: GPIOLineSelector, _ operation: String, _ errorNumber: Int32) -> GPIOError {
        switch errorNumber {
        case ENODEV, ENXIO: .disconnected(chip: path, line: selector)
        case EBUSY: .lineBusy(chip: path, line: selector, detail: Self.text(errorNumber))
        case EACCES, EPERM: .permissionDenied(path: path)
        default: .io(chip: path, line: selector, operation: operation, detail: Self.text(errorNumber))
        }
    }

    public func openInput(_ configuration: GPIOInputConfiguration) throws(GPIOError) -> any GPIOInput {
        guard configuration.debounceMilliseconds >= 0 else {
            throw .invalidSetting("debounceMilliseconds \(configuration.debounceMilliseconds) is negative")
        }
        let line = try line(configuration.line)
        var flags: Int32 = 0
        switch configuration.bias {
        case .asIs: break
        case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        }
        guard gpiod_line_request_both_edges_events_flags(line, configuration.consumer, flags) == 0 else {
            throw lineError(configuration.line, "request both-edge events", errno)
        }
        let source = LibgpiodEdgeSource(chip: self, line: line, selector: configuration.line)
        let value = gpiod_line_get_value(line)
        guard value >= 0 else { throw lineError(configuration.line, "read value", errno) }
        return DebouncedGPIOInput(
            source: source, debounceMilliseconds: configuration.debounceMilliseconds,
            activeLow: configuration.activeLow, initialLevelHigh: value == 1)
    }

    public func openOutput(_ configuration: GPIOOutputConfiguration) throws(GPIOError) -> any GPIOOutput {
        let line = try line(configuration.line)
        // The kernel drives the requested default immediately: the relay never sees a glitch of
        // the unsafe state between request and first write.
        let safeLevel: Int32 = (configuration.safeStateOn != configuration.activeLow) ? 1 : 0
        guard gpiod_line_request_output(line, configuration.consumer, safeLevel) == 0 else {
            throw lineError(configuration.line, "request output", errno)
        }
        return LibgpiodOutput(chip: self, line: line, configuration: configuration)
    }
}

private final class LibgpiodEdgeSource: GPIOEdgeSource {
    let chip: LibgpiodChip
    let line: OpaquePointer
    let selector: GPIOLineSelector

    init(chip: LibgpiodChip, line: OpaquePointer, selector: GPIOLineSelector) {
        self.chip = chip
        self.line = line
        self.selector = selector
    }

    deinit { gpiod_line_release(line) }

    var lineDescription: String { "\(selector) of \(chip.path)" }

    // Linux ≥ 5.7 stamps v1 line events with CLOCK_MONOTONIC, the clock we settle against.
    func nowNanoseconds() -> Int64 { SystemMonotonicClock.nowNanoseconds() }

    func waitForEdges(timeoutMilliseconds: Int, eventsMax: Int) throws(GPIOError) -> [GPIOEdgeEvent] {
        var timeout = timespec(tv_sec: timeoutMilliseconds / 1000, tv_nsec: (timeoutMilliseconds % 1000) * 1_000_000)
        let waited = gpiod_line_event_wait(line, &timeout)
        if waited < 0 { throw chip.lineError(selector, "wait for events", errno) }
        if waited == 0 { return [] }
        var buffer = [gpiod_line_event](repeating: gpiod_line_event(), count: max(1, eventsMax))
        let count = gpiod_line_event_read_multiple(line, &buffer, UInt32(buffer.count))
        if count < 0 { throw chip.lineError(selector, "read events", errno) }
        return buffer.prefix(Int(count)).map { event in
            let nanoseconds = Int64(event.ts.tv_sec) * 1_000_000_000 + Int64(event.ts.tv_nsec)
            let edge: GPIOEdge = Int(event.event_type) == Int(GPIOD_LINE_EVENT_RISING_EDGE) ? .rising : .falling
            return GPIOEdgeEvent(edge, atNanoseconds: nanoseconds)
        }
    }
}

private final class LibgpiodOutput: GPIOOutput {
    let chip: LibgpiodChip
    let line: OpaquePointer
    let configuration: GPIOOutputConfiguration
    private(set) var isOn: Bool
    private(set) var safeStateFailures = 0

    init(chip: LibgpiodChip, line: OpaquePointer, configuration: GPIOOutputConfiguration) {
        self.chip = chip
        self.line = line
        self.configuration = configuration
        isOn = configuration.safeStateOn
    }

    deinit {
        returnToSafeState()
        gpiod_line_release(line)
    }

    var lineDescription: String { "\(configuration.line) of \(chip.path)" }
    var safeStateOn: Bool { configuration.safeStateOn }

    private func write(on: Bool) -> Int32? {
        let level: Int32 = (on != configuration.activeLow) ? 1 : 0
        return gpiod_line_set_value(line, level) == 0 ? nil : errno
    }

    func set(on: Bool) throws(GPIOError) {
        if let failure = write(on: on) {
            returnToSafeState()
            throw chip.lineError(configuration.line, "set value", failure)
        }
        isOn = on
    }

    func returnToSafeState() {
        if write(on: configuration.safeStateOn) == nil {
            isOn = configuration.safeStateOn
        } else {
            safeStateFailures += 1
        }
    }
}
