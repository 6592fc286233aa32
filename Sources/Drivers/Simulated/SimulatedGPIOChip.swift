// A GPIO chip in memory: inputs driven by timestamped edges (bounce included), outputs that keep
// their history; for tests and for `--board sim`.

/// One recorded change of a simulated output.
public struct SimulatedOutputChange: Sendable, Equatable {
    public var on: Bool
    public var levelHigh: Bool
    public var atNanoseconds: Int64
}

/// The simulated chip. Time is the shared `SimulatedClock`; edges are scheduled at absolute
/// simulated nanoseconds and delivered when a waiting input reaches them. On a stepped clock (the
/// tests) a wait advances the clock to the edge or the timeout; on a paced clock (`--board sim`)
/// it blocks until the pace gets there or the scenario schedules an edge, like poll() on a line.
/// `@unchecked Sendable`: in a running simulation the scenario's player, the input threads and the
/// relay worker share the chip; every piece of its state is touched under `condition`'s lock.
public final class SimulatedGPIOChip: GPIOChip, @unchecked Sendable {
    /// Bounds the edges queued on one line (the real kernel keeps only 16).
    public static let scheduledEdgesPerLineMax = 4096
    /// Bounds the recorded history of one output.
    public static let outputHistoryMax = 4096

    public let path: String
    public let clock: SimulatedClock
    public let lineCount: UInt32
    private let lineNames: [UInt32: String]
    private var levels: [UInt32: Bool] = [:]
    private var scheduledEdges: [UInt32: [GPIOEdgeEvent]] = [:]
    private var histories: [UInt32: [SimulatedOutputChange]] = [:]
    private var requested: Set<UInt32> = []
    private var failingWriteCounts: [UInt32: Int] = [:]
    private var vanishedValue = false
    private var droppedEdgesValue = 0
    private let condition = SimulationCondition()

    public var vanished: Bool { condition.withLock { vanishedValue } }
    public var droppedEdges: Int { condition.withLock { droppedEdgesValue } }

    public init(path: String = "/dev/gpiochip0", lineCount: UInt32 = 32, lineNames: [UInt32: String] = [:], clock: SimulatedClock) {
        self.path = path
        self.lineCount = lineCount
        self.lineNames = lineNames
        self.clock = clock
    }

    public var chipDescription: String { "simulated \(path)" }

    // MARK: the test's and the scenario's side

    /// Sets an input's level before it is opened (a reed switch at rest reads high with pull-up).
    public func setRestingLevel(offset: UInt32, high: Bool) { condition.withLock { levels[offset] = high } }

    /// Queues raw edges on an input line at absolute simulated times (must not run backwards).
    public func schedule(_ edges: [GPIOEdgeEvent], offset: UInt32) {
        condition.withLock {
            var queue = scheduledEdges[offset, default: []]
            for edge in edges {
                if queue.count >= Self.scheduledEdgesPerLineMax {
                    droppedEdgesValue += 1
                    continue
                }
                queue.append(edge)
            }
            scheduledEdges[offset] = queue
            condition.broadcast()
        }
    }

    /// Edges scheduled on a line and not yet taken by its reader.
    public func pendingEdgeCount(offset: UInt32) -> Int { condition.withLock { scheduledEdges[offset, default: []].count } }

    /// The recorded changes of an output, oldest first (its opening state included).
    public func outputHistory(offset: UInt32) -> [SimulatedOutputChange] { condition.withLock { histories[offset, default: []] } }

    /// The level a line shows now (outputs: what the relay sees).
    public func levelHigh(offset: UInt32) -> Bool { condition.withLock { levels[offset, default: true] } }

    /// Makes the next `count` writes to this output fail (a transient driver fault), to test
    /// that a failed switch falls back to the safe state.
    public func failNextWrites(offset: UInt32, count: Int = 1) { condition.withLock { failingWriteCounts[offset] = count } }

    /// Makes the whole chip disappear (overlay unloaded, expander unplugged).
    public func vanish() {
        condition.withLock {
            vanishedValue = true
            condition.broadcast()
        }
    }

    // MARK: the driver's side

    public func openInput(_ configuration: GPIOInputConfiguration) throws(GPIOError) -> any GPIOInput {
        guard configuration.debounceMilliseconds >= 0 else {
            throw .invalidSetting("debounceMilliseconds \(configuration.debounceMilliseconds) is negative")
        }
        let offset = try request(configuration.line)
        let initial = condition.withLock {
            let level = levels[offset, default: configuration.bias != .pullDown]
            levels[offset] = level
            return level
        }
        let source = SimulatedEdgeSource(chip: self, offset: offset, line: configuration.line)
        return DebouncedGPIOInput(
            source: source, debounceMilliseconds: configuration.debounceMilliseconds,
            activeLow: configuration.activeLow, initialLevelHigh: initial)
    }

    public func openOutput(_ configuration: GPIOOutputConfiguration) throws(GPIOError) -> any GPIOOutput {
        let offset = try request(configuration.line)
        let output = SimulatedGPIOOutput(chip: self, offset: offset, configuration: configuration)
        // Like gpiod_line_request_output's default value: the line starts in its safe state.
        try output.set(on: configuration.safeStateOn)
        return output
    }

    private func request(_ line: GPIOLineSelector) throws(GPIOError) -> UInt32 {
        try condition.withLock { () throws(GPIOError) -> UInt32 in try requestLocked(line) }
    }

    private func requestLocked(_ line: GPIOLineSelector) throws(GPIOError) -> UInt32 {
        guard !vanishedValue else { throw .noChip(path: path) }
        let offset: UInt32
        switch line {
        case .offset(let value):
            guard value < lineCount else { throw .noLine(chip: path, line: line) }
            offset = value
        case .name(let name):
            guard let found = lineNames.first(where: { $0.value == name })?.key else {
                throw .noLine(chip: path, line: line)
            }
            offset = found
        }
        guard !requested.contains(offset) else {
            throw .lineBusy(chip: path, line: line, detail: "already requested")
        }
        requested.insert(offset)
        return offset
    }

    fileprivate func release(offset: UInt32) { condition.withLock { _ = requested.remove(offset) } }

    fileprivate func takeEdges(offset: UInt32, timeoutMilliseconds: Int, eventsMax: Int, line: GPIOLineSelector) throws(GPIOError) -> [GPIOEdgeEvent] {
        try condition.withLock { () throws(GPIOError) -> [GPIOEdgeEvent] in
            if let pace = clock.pace {
                return try takeEdgesPaced(pace, offset: offset, timeoutMilliseconds: timeoutMilliseconds, eventsMax: eventsMax, line: line)
            }
            return try takeEdgesStepped(offset: offset, timeoutMilliseconds: timeoutMilliseconds, eventsMax: eventsMax, line: line)
        }
    }

    /// Paced (lock held): waits on the condition until an edge is due or the timeout passes.
    private func takeEdgesPaced(
        _ pace: SimulationPace, offset: UInt32, timeoutMilliseconds: Int, eventsMax: Int, line: GPIOLineSelector
    ) throws(GPIOError) -> [GPIOEdgeEvent] {
        let deadline = pace.nowNanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
        while true {
            guard !vanishedValue else { throw .disconnected(chip: path, line: line) }
            let now = pace.nowNanoseconds()
            var queue = scheduledEdges[offset, default: []]
            var taken: [GPIOEdgeEvent] = []
            while let next = queue.first, next.timestampNanoseconds <= now, taken.count < eventsMax {
                taken.append(next)
                queue.removeFirst()
                levels[offset] = next.edge == .rising
            }
            if !taken.isEmpty {
                scheduledEdges[offset] = queue
                return taken
            }
            if now >= deadline { return [] }
            let until = min(deadline, queue.first?.timestampNanoseconds ?? deadline)
            condition.wait(wallNanoseconds: max(pace.wallNanoseconds(forClockNanoseconds: until - now), 1_000))
        }
    }

    private func takeEdgesStepped(offset: UInt32, timeoutMilliseconds: Int, eventsMax: Int, line: GPIOLineSelector) throws(GPIOError) -> [GPIOEdgeEvent] {
        guard !vanishedValue else { throw .disconnected(chip: path, line: line) }
        let deadline = clock.nanoseconds + Int64(timeoutMilliseconds) * 1_000_000
        var queue = scheduledEdges[offset, default: []]
        guard let first = queue.first, first.timestampNanoseconds <= deadline else {
            clock.advance(nanoseconds: deadline - clock.nanoseconds)
            return []
        }
        // Wake at the first edge, as poll() would; hand over everything already due by then.
        if first.timestampNanoseconds > clock.nanoseconds {
            clock.advance(nanoseconds: first.timestampNanoseconds - clock.nanoseconds)
        }
        var taken: [GPIOEdgeEvent] = []
        while let next = queue.first, next.timestampNanoseconds <= clock.nanoseconds, taken.count < eventsMax {
            taken.append(next)
            queue.removeFirst()
            levels[offset] = next.edge == .rising
        }
        scheduledEdges[offset] = queue
        return taken
    }

    fileprivate func write(offset: UInt32, on: Bool, levelHigh: Bool, line: GPIOLineSelector) throws(GPIOError) {
        try condition.withLock { () throws(GPIOError) in try writeLocked(offset: offset, on: on, levelHigh: levelHigh, line: line) }
    }

    private func writeLocked(offset: UInt32, on: Bool, levelHigh: Bool, line: GPIOLineSelector) throws(GPIOError) {
        guard !vanishedValue else { throw .disconnected(chip: path, line: line) }
        if let failing = failingWriteCounts[offset], failing > 0 {
            failingWriteCounts[offset] = failing - 1
            throw .io(chip: path, line: line, operation: "set value", detail: "simulated write failure")
        }
        levels[offset] = levelHigh
        var history = histories[offset, default: []]
        history.append(SimulatedOutputChange(on: on, levelHigh: levelHigh, atNanoseconds: clock.nanoseconds))
        if history.count > Self.outputHistoryMax { history.removeFirst(history.count - Self.outputHistoryMax) }
        histories[offset] = history
    }
}

private final class SimulatedEdgeSource: GPIOEdgeSource {
    let chip: SimulatedGPIOChip
    let offset: UInt32
    let line: GPIOLineSelector

    init(chip: SimulatedGPIOChip, offset: UInt32, line: GPIOLineSelector) {
        self.chip = chip
        self.offset = offset
        self.line = line
    }

    deinit { chip.release(offset: offset) }

    var lineDescription: String { "\(line) of \(chip.chipDescription)" }
    func nowNanoseconds() -> Int64 { chip.clock.nanoseconds }

    func waitForEdges(timeoutMilliseconds: Int, eventsMax: Int) throws(GPIOError) -> [GPIOEdgeEvent] {
        try chip.takeEdges(offset: offset, timeoutMilliseconds: timeoutMilliseconds, eventsMax: eventsMax, line: line)
    }
}

private final class SimulatedGPIOOutput: GPIOOutput {
    let chip: SimulatedGPIOChip
    let offset: UInt32
    let configuration: GPIOOutputConfiguration
    private(set) var isOn: Bool

    init(chip: SimulatedGPIOChip, offset: UInt32, configuration: GPIOOutputConfiguration) {
        self.chip = chip
        self.offset = offset
        self.configuration = configuration
        isOn = configuration.safeStateOn
    }

    deinit {
        returnToSafeState()
        chip.release(offset: offset)
    }

    var lineDescription: String { "\(configuration.line) of \(chip.chipDescription)" }
    var safeStateOn: Bool { configuration.safeStateOn }

    func set(on: Bool) throws(GPIOError) {
        do {
            try chip.write(offset: offset, on: on, levelHigh: on != configuration.activeLow, line: configuration.line)
            isOn = on
        } catch {
            returnToSafeState()
            throw error
        }
    }

    /// Safe-state writes that failed (the daemon reports a non-zero count as a health alarm).
    private(set) var safeStateFailures = 0

    func returnToSafeState() {
        let on = configuration.safeStateOn
        do {
            try chip.write(offset: offset, on: on, levelHigh: on != configuration.activeLow, line: configuration.line)
            isOn = on
        } catch {
            safeStateFailures += 1
        }
    }
}
