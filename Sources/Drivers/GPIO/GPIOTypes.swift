// The GPIO vocabulary shared by the libgpiod driver, the simulated chip and the daemon.

/// Which line on a chip: by offset (as in the board file) or by the name the device tree gives it.
public enum GPIOLineSelector: Equatable, Sendable, CustomStringConvertible {
    case offset(UInt32)
    case name(String)

    public var description: String {
        switch self {
        case .offset(let offset): "line \(offset)"
        case .name(let name): "line named \"\(name)\""
        }
    }
}

/// The bias the kernel applies to an input (a reed switch to ground needs a pull-up).
public enum GPIOBias: String, Sendable {
    case asIs, disabled, pullUp, pullDown
}

/// A raw edge as the kernel reports it.
public enum GPIOEdge: Sendable, Equatable {
    case rising, falling
}

/// A raw edge and the kernel's timestamp of it (CLOCK_MONOTONIC nanoseconds on Linux ≥ 5.7).
public struct GPIOEdgeEvent: Sendable, Equatable {
    public var edge: GPIOEdge
    public var timestampNanoseconds: Int64

    public init(_ edge: GPIOEdge, atNanoseconds timestampNanoseconds: Int64) {
        self.edge = edge
        self.timestampNanoseconds = timestampNanoseconds
    }
}

/// A debounced change of an input, in the input's own terms: `activated` is a switch closing
/// (a bucket tip, a button press) whatever its electrical polarity.
public struct GPIOInputEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case activated, released
    }

    public var kind: Kind
    /// When the new level began (the first edge of the stable run), kernel time.
    public var timestampNanoseconds: Int64

    public init(_ kind: Kind, atNanoseconds timestampNanoseconds: Int64) {
        self.kind = kind
        self.timestampNanoseconds = timestampNanoseconds
    }
}

/// How to open an input line.
public struct GPIOInputConfiguration: Sendable, Equatable {
    public var line: GPIOLineSelector
    /// Shown by `gpioinfo` as the line's user, so a technician sees who holds it.
    public var consumer: String
    /// A level must hold this long before it counts; reed switches bounce for a few ms.
    public var debounceMilliseconds: Int
    /// True when closing the switch pulls the line low (switch to ground with a pull-up).
    public var activeLow: Bool
    public var bias: GPIOBias

    public init(
        line: GPIOLineSelector, consumer: String, debounceMilliseconds: Int,
        activeLow: Bool = true, bias: GPIOBias = .pullUp
    ) {
        self.line = line
        self.consumer = consumer
        self.debounceMilliseconds = debounceMilliseconds
        self.activeLow = activeLow
        self.bias = bias
    }
}

/// How to open an output line (a relay for a siren or a lamp).
public struct GPIOOutputConfiguration: Sendable, Equatable {
    public var line: GPIOLineSelector
    public var consumer: String
    /// True when the relay board energises on a low level (most opto-isolated boards do).
    public var activeLow: Bool
    /// The state the output starts in and returns to on shutdown and on error (siren off).
    public var safeStateOn: Bool

    public init(line: GPIOLineSelector, consumer: String, activeLow: Bool = false, safeStateOn: Bool = false) {
        self.line = line
        self.consumer = consumer
        self.activeLow = activeLow
        self.safeStateOn = safeStateOn
    }
}

/// What can go wrong with GPIO, in words a technician can act on.
public enum GPIOError: Error, Equatable, Sendable, CustomStringConvertible {
    case noChip(path: String)
    case permissionDenied(path: String)
    case noLine(chip: String, line: GPIOLineSelector)
    case lineBusy(chip: String, line: GPIOLineSelector, detail: String)
    case invalidSetting(String)
    /// The chip went away while in use (an overlay unloaded, a USB GPIO expander unplugged).
    case disconnected(chip: String, line: GPIOLineSelector)
    case io(chip: String, line: GPIOLineSelector, operation: String, detail: String)

    public var description: String {
        switch self {
        case .noChip(let path):
            "no GPIO chip \(path): is this the right board file?"
        case .permissionDenied(let path):
            "permission denied opening \(path): run as root or add the user to the 'gpio' group"
        case .noLine(let chip, let line):
            "no \(line) on GPIO chip \(chip): check the board file against `gpioinfo`"
        case .lineBusy(let chip, let line, let detail):
            "\(line) on \(chip) is in use by another program (\(detail)); see `gpioinfo`"
        case .invalidSetting(let detail):
            "invalid GPIO setting: \(detail)"
        case .disconnected(let chip, let line):
            "GPIO chip \(chip) disappeared while \(line) was in use"
        case .io(let chip, let line, let operation, let detail):
            "\(operation) on \(line) of \(chip) failed: \(detail)"
        }
    }
}
