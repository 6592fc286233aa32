// The box's time on a real board: it starts from the wall clock and then runs on the monotonic
// clock, so a wall-clock step (NTP, the county, a technician, a board booting in 1970 without a
// battery) neither stretches nor cuts a rain window or a sensor's `stale_after`. All of the
// clock-step handling is in this file (issue 12 item 6), to move with the runtime's clock seam.
import Foundation
import Logging
import Synchronization
import TimeSeam
import WarningLogic

/// Box time = the time it started at + monotonic time since. A step of the wall clock is
/// noticed on the next reading, logged once with its size, and not followed: the engine's time
/// never goes backwards and never jumps. A restart takes the wall clock again (never earlier
/// than the saved state's time), so a clock set right while running is used from the next start.
final class SteadyBoxClock: GatewayClock {
    /// A wall clock that disagrees with the monotonic one by more than this between two readings
    /// was stepped. NTP slews by at most 0.5 ms a second; a step is seconds to decades.
    static let stepMillisecondsMin: Int64 = 2_000

    private let wallMilliseconds: @Sendable () -> Int64
    private let monotonicMilliseconds: @Sendable () -> Int64
    private let logger: Logger
    private let utcOffsetMinutes: Int
    private let state: Mutex<State>

    private struct State {
        var startBoxMilliseconds: Int64
        var startMonotonicMilliseconds: Int64
        var lastWallMilliseconds: Int64
        var lastMonotonicMilliseconds: Int64
        /// Wall clock minus box time, after the steps seen so far.
        var wallAheadMilliseconds: Int64 = 0
        var steps = 0
    }

    init(
        resumeTime: Timestamp?, utcOffsetMinutes: Int, logger: Logger,
        wallMilliseconds: @escaping @Sendable () -> Int64 = { SystemClock().nowMilliseconds() },
        monotonicMilliseconds: @escaping @Sendable () -> Int64 = { VillageGateway.monotonicMilliseconds() }
    ) {
        self.wallMilliseconds = wallMilliseconds
        self.monotonicMilliseconds = monotonicMilliseconds
        self.logger = logger
        self.utcOffsetMinutes = utcOffsetMinutes
        let wall = wallMilliseconds()
        let monotonic = monotonicMilliseconds()
        var start = wall
        if let resume = resumeTime?.millisecondsSinceUnixEpoch, resume > wall {
            // A board without a battery boots in 1970, or NTP set the clock back while we were
            // down: the engine's time must not go backwards across the restart.
            start = resume
            logger.warning("""
                the wall clock (\(ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: wall), utcOffsetMinutes: utcOffsetMinutes))) is \
                \(formatStep(resume - wall)) behind the saved state; the box's time continues from \
                \(ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: resume), utcOffsetMinutes: utcOffsetMinutes)). Set the clock (NTP, or the shell's `time set`) and restart
                """)
        }
        state = Mutex(State(
            startBoxMilliseconds: start, startMonotonicMilliseconds: monotonic, lastWallMilliseconds: wall,
            lastMonotonicMilliseconds: monotonic, wallAheadMilliseconds: wall - start))
    }

    /// Wall-clock steps seen since start, for `status` and the tests.
    var stepsSeen: Int { state.withLock { $0.steps } }
    /// How far the wall clock is ahead of the box's time (negative: behind).
    var wallAheadMilliseconds: Int64 { state.withLock { $0.wallAheadMilliseconds } }

    /// Its waits are the seam's defaults: wall slices against this clock, which runs with the
    /// monotonic one, so a step of the wall clock neither ends a wait early nor stretches it.
    func nowNanoseconds() -> Int64 {
        let wall = wallMilliseconds()
        let monotonic = monotonicMilliseconds()
        let (time, step) = state.withLock { state -> (Int64, Int64?) in
            // A monotonic clock that went backwards would be a kernel bug; hold still instead.
            let monotonicNow = max(monotonic, state.lastMonotonicMilliseconds)
            let elapsed = monotonicNow - state.lastMonotonicMilliseconds
            let step = wall - (state.lastWallMilliseconds + elapsed)
            state.lastWallMilliseconds = wall
            state.lastMonotonicMilliseconds = monotonicNow
            let time = state.startBoxMilliseconds + (monotonicNow - state.startMonotonicMilliseconds)
            guard abs(step) >= Self.stepMillisecondsMin else { return (time, nil) }
            state.steps += 1
            state.wallAheadMilliseconds = wall - time
            return (time, step)
        }
        if let step {
            // Once per step: the next reading compares with the stepped clock.
            logger.warning("""
                the wall clock stepped \(step > 0 ? "forward" : "back") by \(formatStep(abs(step))) \
                (now \(ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: wall), utcOffsetMinutes: utcOffsetMinutes))); the box's time runs on \
                without the step (\(ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: time), utcOffsetMinutes: utcOffsetMinutes))), so rain \
                windows and stale_after keep measuring real time. It takes the wall clock again at the next restart
                """)
        }
        return time * 1_000_000
    }
}

/// "2 h 0 min 3 s", "1.250 s": a clock step in words.
func formatStep(_ milliseconds: Int64) -> String {
    if milliseconds < 60_000 { return "\(milliseconds / 1_000).\(String(format: "%03d", milliseconds % 1_000)) s" }
    let seconds = milliseconds / 1_000
    let days = seconds / 86_400, hours = seconds % 86_400 / 3_600, minutes = seconds % 3_600 / 60
    var parts: [String] = []
    if days > 0 { parts.append("\(days) d") }
    if days > 0 || hours > 0 { parts.append("\(hours) h") }
    parts.append("\(minutes) min")
    if days == 0 { parts.append("\(seconds % 60) s") }
    return parts.joined(separator: " ")
}
