// Software debounce for libgpiod v1 (which has none): raw timestamped edges in, clean changes out.

/// A pure value fed (edge, kernel timestamp). A new level counts only once it has held for
/// `debounceMilliseconds` with no edge in between, so contact bounce and short glitches vanish
/// and a tipping bucket gives exactly one `activated` per tip. It never reads a clock: time is
/// what the kernel stamped on the edges, or what the caller passes to `settle(nowNanoseconds:)`.
public struct Debouncer: Sendable, Equatable {
    public let debounceNanoseconds: Int64
    public let activeLow: Bool
    /// The last level that held long enough (electrical: true is high).
    public private(set) var stableLevelHigh: Bool
    /// A level seen since, not yet held long enough, and when it began.
    public private(set) var candidateLevelHigh: Bool?
    public private(set) var candidateSinceNanoseconds: Int64 = 0
    /// Edges that were bounce or glitches and never became a change (for the health page: a
    /// climbing count means a worn contact).
    public private(set) var rejectedEdgeCount = 0
    /// Edges whose timestamp ran backwards (never expected from one kernel line).
    public private(set) var outOfOrderEdgeCount = 0
    private var lastTimestampNanoseconds: Int64?

    public init(debounceMilliseconds: Int, activeLow: Bool, initialLevelHigh: Bool) {
        precondition(debounceMilliseconds >= 0, "debounce time is never negative")
        debounceNanoseconds = Int64(debounceMilliseconds) * 1_000_000
        self.activeLow = activeLow
        stableLevelHigh = initialLevelHigh
    }

    /// Whether the input is (debounced) active now: a closed switch, a pressed button.
    public var isActive: Bool { stableLevelHigh != activeLow }

    /// Feeds one raw edge; returns the debounced change it confirmed, if any (at most one: the
    /// level that had held until this edge).
    public mutating func feed(_ event: GPIOEdgeEvent) -> GPIOInputEvent? {
        var timestamp = event.timestampNanoseconds
        if let last = lastTimestampNanoseconds, timestamp < last {
            // Never trust time to run backwards: treat the edge as happening at the last known time.
            outOfOrderEdgeCount += 1
            timestamp = last
        }
        lastTimestampNanoseconds = timestamp
        let confirmed = settle(nowNanoseconds: timestamp)
        let newLevelHigh = event.edge == .rising
        if candidateLevelHigh != nil {
            if newLevelHigh == stableLevelHigh {
                // Back to the old level before the new one held: both edges were bounce.
                candidateLevelHigh = nil
                rejectedEdgeCount += 2
            } else {
                // The same level twice: an edge in between was missed; start the wait again.
                candidateSinceNanoseconds = timestamp
                rejectedEdgeCount += 1
            }
        } else if newLevelHigh != stableLevelHigh {
            candidateLevelHigh = newLevelHigh
            candidateSinceNanoseconds = timestamp
        } else {
            // Same level again: an edge in between was missed; it is not a change.
            rejectedEdgeCount += 1
        }
        return confirmed
    }

    /// Confirms a pending level if it has held until `nowNanoseconds` (call after waiting with
    /// no edges, with the kernel's clock or the simulated one).
    public mutating func settle(nowNanoseconds: Int64) -> GPIOInputEvent? {
        guard let candidate = candidateLevelHigh,
              nowNanoseconds - candidateSinceNanoseconds >= debounceNanoseconds else { return nil }
        stableLevelHigh = candidate
        candidateLevelHigh = nil
        let kind: GPIOInputEvent.Kind = (candidate != activeLow) ? .activated : .released
        return GPIOInputEvent(kind, atNanoseconds: candidateSinceNanoseconds)
    }

    /// When `settle` could next confirm something (nil: nothing pending), so a waiter knows how
    /// long to wait beyond its last edge.
    public var pendingDeadlineNanoseconds: Int64? {
        candidateLevelHigh == nil ? nil : candidateSinceNanoseconds + debounceNanoseconds
    }
}
