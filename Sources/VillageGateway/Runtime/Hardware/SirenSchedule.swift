// When the siren relay is on: the engine's pattern, cut by the siren's maximum on-time and rest.
import WarningLogic

/// A pure state machine over a monotonic millisecond clock: given the pattern and the time, it
/// says whether the relay is energised and when that next changes, at exact instants (a late
/// wake-up catches up through the transitions it missed, so the relay is right whenever asked).
///
/// Protection: the siren and the battery get a rest of `restMilliseconds` once the siren has
/// been on for `maxOnMilliseconds` in total since the pattern started or since its last rest
/// (intermittent on-phases add up), after which the pattern starts again from an on-phase.
/// Changing pattern keeps the on-time already used, and a rest in progress is finished first,
/// so a flapping engine cannot cook the horn; only `.off` forgets the on-time.
struct SirenSchedule: Equatable {
    /// Shorter on/off phases are lengthened to this: relays and horns are not made to chatter.
    static let phaseMillisecondsMin: Int64 = 100

    enum Phase: Equatable {
        case idle
        case on(sinceMilliseconds: Int64)
        case gap(sinceMilliseconds: Int64)
        case rest(sinceMilliseconds: Int64)
    }

    let maxOnMilliseconds: Int64
    let restMilliseconds: Int64
    private(set) var pattern: SirenPattern = .off
    private(set) var phase: Phase = .idle
    /// On-time used in the finished on-phases since the pattern started or the last rest.
    private(set) var onUsedMilliseconds: Int64 = 0
    /// Rests forced so far (for logs: a siren that rests often is configured hard).
    private(set) var restCount = 0

    init(maxOnMilliseconds: Int64, restMilliseconds: Int64) {
        precondition(maxOnMilliseconds > 0 && restMilliseconds >= 0, "siren on-time must be positive and rest not negative")
        self.maxOnMilliseconds = maxOnMilliseconds
        self.restMilliseconds = restMilliseconds
    }

    var relayOn: Bool {
        if case .on = phase { true } else { false }
    }

    /// The pattern's on and off lengths (nil on: continuous), with short phases lengthened.
    private var phaseLengths: (on: Int64?, off: Int64)? {
        switch pattern {
        case .off: return nil
        case .continuous: return (nil, 0)
        case .intermittent(let on, let off):
            if off <= 0 { return (nil, 0) }
            return (max(on, Self.phaseMillisecondsMin), max(off, Self.phaseMillisecondsMin))
        }
    }

    /// When the current phase ends (nil: it does not end by itself).
    var nextChangeMilliseconds: Int64? {
        switch phase {
        case .idle:
            return nil
        case .on(let since):
            let budget = maxOnMilliseconds - onUsedMilliseconds
            guard let onLength = phaseLengths?.on else { return since + budget }
            return since + min(onLength, budget)
        case .gap(let since):
            return since + (phaseLengths?.off ?? 0)
        case .rest(let since):
            return since + restMilliseconds
        }
    }

    /// Runs the phases up to `nowMilliseconds`.
    mutating func advance(to nowMilliseconds: Int64) {
        while let end = nextChangeMilliseconds, end <= nowMilliseconds {
            transition(at: end)
        }
    }

    private mutating func transition(at end: Int64) {
        switch phase {
        case .idle:
            return
        case .on(let since):
            onUsedMilliseconds += end - since
            if onUsedMilliseconds >= maxOnMilliseconds {
                phase = .rest(sinceMilliseconds: end)
                restCount += 1
            } else {
                phase = .gap(sinceMilliseconds: end)
            }
        case .gap:
            phase = .on(sinceMilliseconds: end)
        case .rest:
            onUsedMilliseconds = 0
            phase = .on(sinceMilliseconds: end)
        }
    }

    /// The engine asks for `newPattern` at `nowMilliseconds`. The same pattern again changes
    /// nothing (a repeated decision must not restart the cycle or its on-time count).
    mutating func set(_ newPattern: SirenPattern, at nowMilliseconds: Int64) {
        advance(to: nowMilliseconds)
        guard newPattern != pattern else { return }
        pattern = newPattern
        switch phase {
        case _ where newPattern == .off:
            phase = .idle
            onUsedMilliseconds = 0
        case .rest:
            break  // finish the rest; the new pattern starts after it
        case .on(let since):
            onUsedMilliseconds += nowMilliseconds - since
            phase = .on(sinceMilliseconds: nowMilliseconds)
            if onUsedMilliseconds >= maxOnMilliseconds { transition(at: nowMilliseconds) }
        case .idle, .gap:
            phase = .on(sinceMilliseconds: nowMilliseconds)
        }
    }
}
