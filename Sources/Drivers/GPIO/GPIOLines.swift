// The seams the daemon uses for GPIO: chips that open debounced inputs and safe outputs.

/// A debounced input (rain gauge reed switch, acknowledge button, drill key).
public protocol GPIOInput: AnyObject {
    var lineDescription: String { get }
    /// Waits up to `timeoutMilliseconds` and returns the debounced changes seen (possibly none).
    /// Returns early once something changed.
    func waitForEvents(timeoutMilliseconds: Int) throws(GPIOError) -> [GPIOInputEvent]
    /// The debounced state now.
    var isActive: Bool { get }
    /// Edges thrown away as bounce so far (a climbing number means a worn contact).
    var rejectedEdgeCount: Int { get }
}

/// A relay output that always has a safe state to fall back to (siren off, unless configured).
public protocol GPIOOutput: AnyObject {
    var lineDescription: String { get }
    var safeStateOn: Bool { get }
    var isOn: Bool { get }
    /// Switches the output; on failure it tries to return to the safe state, then throws.
    func set(on: Bool) throws(GPIOError)
    /// Best effort, never throws: used on shutdown, on error and on deinit.
    func returnToSafeState()
}

/// A GPIO chip: the real /dev/gpiochipN through libgpiod, or the simulated one.
public protocol GPIOChip: AnyObject {
    var chipDescription: String { get }
    func openInput(_ configuration: GPIOInputConfiguration) throws(GPIOError) -> any GPIOInput
    func openOutput(_ configuration: GPIOOutputConfiguration) throws(GPIOError) -> any GPIOOutput
}

/// Where raw edges come from: the kernel (libgpiod) or the simulated chip.
public protocol GPIOEdgeSource: AnyObject {
    var lineDescription: String { get }
    /// Now, on the clock the edges are stamped with.
    func nowNanoseconds() -> Int64
    /// Waits up to `timeoutMilliseconds` for edges; returns at most `eventsMax` of them.
    func waitForEdges(timeoutMilliseconds: Int, eventsMax: Int) throws(GPIOError) -> [GPIOEdgeEvent]
}

/// Debounces any edge source; the same code runs against the kernel and the simulated chip.
public final class DebouncedGPIOInput: GPIOInput {
    /// Edges taken from the source per wait; the kernel itself buffers only 16 per line (v1).
    public static let edgesPerWaitMax = 64
    /// Bounds the loop inside one wait, so a line chattering at full speed cannot hold us forever.
    public static let waitRoundsMax = 1024

    private let source: GPIOEdgeSource
    private var debouncer: Debouncer

    public init(source: GPIOEdgeSource, debounceMilliseconds: Int, activeLow: Bool, initialLevelHigh: Bool) {
        self.source = source
        debouncer = Debouncer(
            debounceMilliseconds: debounceMilliseconds, activeLow: activeLow, initialLevelHigh: initialLevelHigh)
    }

    public var lineDescription: String { source.lineDescription }
    public var isActive: Bool { debouncer.isActive }
    public var rejectedEdgeCount: Int { debouncer.rejectedEdgeCount }

    public func waitForEvents(timeoutMilliseconds: Int) throws(GPIOError) -> [GPIOInputEvent] {
        guard timeoutMilliseconds >= 0 else {
            throw .invalidSetting("wait timeout \(timeoutMilliseconds) ms is negative")
        }
        let deadline = source.nowNanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
        var events: [GPIOInputEvent] = []
        for _ in 0..<Self.waitRoundsMax {
            let now = source.nowNanoseconds()
            if let settled = debouncer.settle(nowNanoseconds: now) { events.append(settled) }
            if !events.isEmpty || now >= deadline { return events }
            // Wake no later than the moment a pending level would be confirmed.
            var until = deadline
            if let pending = debouncer.pendingDeadlineNanoseconds { until = min(until, pending) }
            let waitMilliseconds = Int(max(0, (until - now + 999_999) / 1_000_000))
            let edges = try source.waitForEdges(timeoutMilliseconds: waitMilliseconds, eventsMax: Self.edgesPerWaitMax)
            for edge in edges {
                if let confirmed = debouncer.feed(edge) { events.append(confirmed) }
            }
        }
        return events
    }
}
