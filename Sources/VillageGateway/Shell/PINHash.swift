// The shell PIN: stored only as a salted PBKDF2-SHA256 hash; and the lock after wrong PINs.
import Crypto
import Foundation
import Synchronization
import TimeSeam
import _CryptoExtras

/// `pbkdf2-sha256$<rounds>$<salt hex>$<hash hex>`: the one form `pin_hash` takes in gateway.toml.
/// The rounds are part of the text, so a later release can raise them without locking anyone out.
struct PINHash: Equatable, Sendable, CustomStringConvertible {
    static let scheme = "pbkdf2-sha256"
    /// OWASP's floor for PBKDF2-SHA256 (what swift-crypto's checked API demands); `set-pin`
    /// writes this. About a second on a Cortex-A7 board: fine once per login.
    static let roundsDefault = 210_000
    /// What the configuration accepts: low enough for tests to use a fast hash, and bounded so
    /// a typo cannot make each login take an hour.
    static let roundsAllowed = 1_000...10_000_000
    static let saltBytes = 16
    static let hashBytes = 32
    /// A PIN is typed on a phone keypad in the rain: digits only, 4 to 12 of them.
    static let pinDigits = 4...12

    var rounds: Int
    var salt: [UInt8]
    var hash: [UInt8]

    var description: String { "\(Self.scheme)$\(rounds)$\(hex(salt))$\(hex(hash))" }

    /// Why `pin` is not a PIN the box accepts, or nil when it is.
    static func problem(withPIN pin: String) -> String? {
        guard pin.allSatisfy({ $0.isASCII && $0.isNumber }), pinDigits.contains(pin.count) else {
            return "a PIN is \(pinDigits.lowerBound) to \(pinDigits.upperBound) digits (0-9), nothing else"
        }
        return nil
    }

    /// Hashes a new PIN with a fresh random salt.
    static func make(pin: String, rounds: Int = roundsDefault) -> PINHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return PINHash(rounds: rounds, salt: salt, hash: derive(pin: pin, salt: salt, rounds: rounds))
    }

    /// Whether `pin` is the PIN this hash was made from; compares in constant time.
    func matches(pin: String) -> Bool {
        let candidate = Self.derive(pin: pin, salt: salt, rounds: rounds)
        guard candidate.count == hash.count else { return false }
        var difference: UInt8 = 0
        for index in hash.indices { difference |= candidate[index] ^ hash[index] }
        return difference == 0
    }

    private static func derive(pin: String, salt: [UInt8], rounds: Int) -> [UInt8] {
        // The rounds are checked by `parse` and `make`'s callers; BoringSSL fails only on
        // parameters out of its range, which would be a programmer error here.
        let key = try! KDF.Insecure.PBKDF2.deriveKey(
            from: Array(pin.utf8), salt: salt, using: .sha256, outputByteCount: hashBytes, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }

    /// Reads the stored form; nil (with `explanation` saying why) when it is not one.
    static func parse(_ text: String) -> PINHash? {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == scheme, let rounds = Int(parts[1]), roundsAllowed.contains(rounds),
            let salt = bytes(fromHex: parts[2]), salt.count >= 8, salt.count <= 64,
            let hash = bytes(fromHex: parts[3]), hash.count == hashBytes
        else { return nil }
        return PINHash(rounds: rounds, salt: salt, hash: hash)
    }

    static let formExplanation =
        "must be the hash `village-gateway set-pin` writes (\(scheme)$ROUNDS$SALT$HASH); set the PIN with `village-gateway set-pin --config FILE`, never in clear"
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

private func bytes(fromHex text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0, !digits.isEmpty else { return nil }
    var result: [UInt8] = []
    var index = 0
    while index < digits.count {
        guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
        result.append(high << 4 | low)
        index += 2
    }
    return result
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Counts wrong PINs across every port (the console and the socket share it, so unplugging and
/// reconnecting does not reset it) and locks the login for a growing delay. Time is an input
/// (the box's monotonic milliseconds); with a state file the count survives a restart of the box.
///
/// The policy, as `help` states it: `wrongPINsBeforeLock` wrong PINs in a row lock the login for
/// `lockFirstMilliseconds`; after a lock the technician has the full number of tries again, and
/// each further lock doubles, up to `lockMillisecondsMax`. A right PIN resets everything, and so
/// does `quietResetMilliseconds` without a wrong PIN.
final class LoginGuard: Sendable {
    /// Wrong PINs in a row before a lock.
    static let wrongPINsBeforeLock = 5
    /// The first lock; each further lock doubles it, up to the maximum.
    static let lockFirstMilliseconds: Int64 = 30_000
    static let lockMillisecondsMax: Int64 = 3_600_000
    /// An hour with no wrong PIN forgets the earlier ones (a technician back the next day starts fresh).
    static let quietResetMilliseconds: Int64 = 3_600_000
    static let stateFileName = "shell-login.json"
    /// The state file is a few numbers; anything longer is not ours.
    static let stateFileBytesMax = 4_096

    /// The policy in words, for `help` and the lock message.
    static var policy: String {
        "\(wrongPINsBeforeLock) wrong PINs in a row lock the shell for \(formatDuration(lockFirstMilliseconds)); "
            + "each further lock doubles, to at most \(formatDuration(lockMillisecondsMax)), and after each lock "
            + "there are \(wrongPINsBeforeLock) tries again. A right PIN, or \(formatDuration(quietResetMilliseconds)) "
            + "without a wrong one, resets the count; a restart of the box does not. Ctrl-D or Ctrl-C leaves at any time."
    }

    private struct State: Equatable {
        var wrongInARow = 0
        var locksInARow = 0
        var lockedUntilMilliseconds: Int64 = 0
        var lastWrongMilliseconds: Int64 = .min
    }

    private let state: Mutex<State>
    /// Where the count is kept across restarts; nil keeps it in memory only (tests, no state dir).
    private let stateFile: String?
    /// The wall clock, only to carry the count over a restart (monotonic time restarts with the box).
    private let wallMilliseconds: @Sendable () -> Int64

    init() {
        state = Mutex(State())
        stateFile = nil
        wallMilliseconds = { 0 }
    }

    /// Reads the count a previous run left in `stateDirectory` (a missing or damaged file is an
    /// empty count: the lock is a nuisance for guessers, never a reason not to start).
    init(stateDirectory: String, nowMilliseconds now: Int64, wallMilliseconds: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }) {
        let path = "\(stateDirectory)/\(Self.stateFileName)"
        stateFile = path
        self.wallMilliseconds = wallMilliseconds
        var restored = State()
        if let data = FileManager.default.contents(atPath: path), data.count <= Self.stateFileBytesMax,
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        {
            let wall = wallMilliseconds()
            func number(_ key: String) -> Int64? { (object[key] as? NSNumber)?.int64Value }
            restored.wrongInARow = Int(min(max(number("wrong_in_a_row") ?? 0, 0), Int64(Self.wrongPINsBeforeLock - 1)))
            restored.locksInARow = Int(min(max(number("locks_in_a_row") ?? 0, 0), 32))
            // A clock set backwards must not lock the shell for longer than the policy allows.
            if let until = number("locked_until_unix_ms") {
                restored.lockedUntilMilliseconds = now + min(max(until - wall, 0), Self.lockMillisecondsMax)
            }
            if let last = number("last_wrong_unix_ms") {
                restored.lastWrongMilliseconds = now - min(max(wall - last, 0), Self.quietResetMilliseconds)
            }
        }
        state = Mutex(restored)
    }

    /// Milliseconds the login stays locked from `now` (0 when open).
    func lockRemainingMilliseconds(now: Int64) -> Int64 {
        state.withLock { max($0.lockedUntilMilliseconds - now, 0) }
    }

    /// After a wrong PIN: the lock it starts, in milliseconds (0 when none).
    func recordWrongPIN(now: Int64) -> Int64 {
        state.withLock { state in
            // Quiet is counted from the later of the last wrong PIN and the end of the last lock:
            // sitting out a long lock is not an hour of quiet.
            let quietSince = max(state.lastWrongMilliseconds, state.lockedUntilMilliseconds)
            if state.lastWrongMilliseconds != .min, now - quietSince >= Self.quietResetMilliseconds {
                state = State()
            }
            state.lastWrongMilliseconds = now
            state.wrongInARow += 1
            var lock: Int64 = 0
            if state.wrongInARow >= Self.wrongPINsBeforeLock {
                lock = Self.lockFirstMilliseconds << Int64(min(state.locksInARow, 20))
                lock = min(lock, Self.lockMillisecondsMax)
                state.lockedUntilMilliseconds = now + lock
                state.locksInARow += 1
                state.wrongInARow = 0
            }
            save(state, now: now)
            return lock
        }
    }

    func recordRightPIN(now: Int64) {
        state.withLock { state in
            guard state != State() else { return }
            state = State()
            save(state, now: now)
        }
    }

    /// Written under the lock, so two sessions cannot interleave their files.
    private func save(_ state: State, now: Int64) {
        guard let stateFile else { return }
        let wall = wallMilliseconds()
        var record = JSONObjectWriter()
        record.add("wrong_in_a_row", integer: Int64(state.wrongInARow))
        record.add("locks_in_a_row", integer: Int64(state.locksInARow))
        record.add("locked_until_unix_ms", integer: wall + max(state.lockedUntilMilliseconds - now, 0))
        if state.lastWrongMilliseconds != .min { record.add("last_wrong_unix_ms", integer: wall - (now - state.lastWrongMilliseconds)) }
        // A failed write only costs the count at the next restart; the lock in memory holds.
        try? writeFileAtomically(path: stateFile, contents: record.text + "\n")
    }
}

/// Milliseconds since the Unix epoch by the system's wall clock (lockouts and request signatures
/// are about the calendar the county and the technician see).
func wallClockMilliseconds() -> Int64 { SystemClock().nowMilliseconds() }
