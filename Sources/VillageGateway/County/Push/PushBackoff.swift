// How long a push transport waits after failures: exponential backoff with full jitter, pure and seedable.

/// Exponential backoff with **full jitter** (Brooker, "Exponential Backoff and Jitter", AWS 2015):
/// after the n-th consecutive failure wait a uniformly random time in
/// `[floorMilliseconds, min(capMilliseconds, baseMilliseconds · 2^(n-1))]`.
/// Full jitter, not decorrelated: when the county's server comes back after an outage every box
/// in the county retries at once, and full jitter spreads them widest for the least total work;
/// it also needs no memory beyond the failure count, so the policy stays a pure function.
/// The floor keeps a draw near zero from turning into an immediate retry over a dead link.
///
/// After `attemptsPerRoundMax` consecutive failures the round ends: the transport rests
/// `restMilliseconds` (no attempt at all, so a dead county does not drain the battery) and then
/// starts a new round from `baseMilliseconds`. Reports are never given up: the outbox keeps them.
struct PushBackoffPolicy: Sendable, Equatable {
    var baseMilliseconds: Int64 = 5_000
    var capMilliseconds: Int64 = 15 * 60_000
    var floorMilliseconds: Int64 = 1_000
    var attemptsPerRoundMax = 10
    var restMilliseconds: Int64 = 60 * 60_000

    static let standard = PushBackoffPolicy()

    /// The largest exponent used; 2^30 × base overflows nothing and is far above any cap.
    static let doublingsMax = 30

    /// The wait after `failures` consecutive failures (1 for the first), drawn from `random`.
    func delayMilliseconds(afterFailures failures: Int, using random: inout some RandomNumberGenerator) -> Int64 {
        precondition(failures >= 1, "a delay follows at least one failure")
        precondition(floorMilliseconds >= 0 && floorMilliseconds <= baseMilliseconds && baseMilliseconds <= capMilliseconds)
        precondition(attemptsPerRoundMax >= 1)
        let positionInRound = (failures - 1) % attemptsPerRoundMax + 1
        if positionInRound == attemptsPerRoundMax {
            // The round's last failure: rest, with a little jitter so boxes do not return together.
            return restMilliseconds + Int64.random(in: 0...max(0, restMilliseconds / 10), using: &random)
        }
        let doublings = min(positionInRound - 1, Self.doublingsMax)
        let ceiling = min(capMilliseconds, baseMilliseconds << Int64(doublings))
        return Int64.random(in: floorMilliseconds...max(floorMilliseconds, ceiling), using: &random)
    }

    /// The largest wait the n-th failure can give (what a test or a technician can rely on).
    func delayMillisecondsMax(afterFailures failures: Int) -> Int64 {
        let positionInRound = (failures - 1) % attemptsPerRoundMax + 1
        if positionInRound == attemptsPerRoundMax { return restMilliseconds + restMilliseconds / 10 }
        return max(floorMilliseconds, min(capMilliseconds, baseMilliseconds << Int64(min(positionInRound - 1, Self.doublingsMax))))
    }
}

/// One transport's failure count under a policy: `failed` gives the next wait, `succeeded` resets.
struct PushBackoff: Sendable, Equatable {
    let policy: PushBackoffPolicy
    private(set) var consecutiveFailures = 0

    init(policy: PushBackoffPolicy) { self.policy = policy }

    mutating func failed(using random: inout some RandomNumberGenerator) -> Int64 {
        // Bounded so a box offline for years cannot overflow the counter.
        consecutiveFailures = consecutiveFailures % (policy.attemptsPerRoundMax * 1_000) + 1
        return policy.delayMilliseconds(afterFailures: consecutiveFailures, using: &random)
    }

    mutating func succeeded() { consecutiveFailures = 0 }
}

/// SplitMix64: the push's random source, seedable so a test replays the same jitter exactly
/// (the SL 651 fuzz tests use it for the same reason).
/// The daemon seeds it from the system generator.
struct PushRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
