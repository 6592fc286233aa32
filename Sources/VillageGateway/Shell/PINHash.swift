// The shell PIN: stored only as a salted PBKDF2-SHA256 hash; and the lock after wrong PINs.
import Crypto
import Foundation
import Synchronization
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
/// reconnecting does not reset it) and locks the login for a growing delay. Time is an input.
final class LoginGuard: Sendable {
    /// Wrong PINs in a row before the first lock.
    static let wrongPINsBeforeLock = 5
    /// The first lock; each further wrong PIN after a lock doubles it, up to the maximum.
    static let lockFirstMilliseconds: Int64 = 30_000
    static let lockMillisecondsMax: Int64 = 3_600_000

    private struct State {
        var wrongInARow = 0
        var lockedUntilMilliseconds: Int64 = 0
        var nextLockMilliseconds = LoginGuard.lockFirstMilliseconds
    }

    private let state = Mutex(State())

    /// Milliseconds the login stays locked from `now` (0 when open).
    func lockRemainingMilliseconds(now: Int64) -> Int64 {
        state.withLock { max($0.lockedUntilMilliseconds - now, 0) }
    }

    /// After a wrong PIN: the lock it starts, in milliseconds (0 when none yet).
    func recordWrongPIN(now: Int64) -> Int64 {
        state.withLock { state in
            state.wrongInARow += 1
            guard state.wrongInARow >= Self.wrongPINsBeforeLock else { return 0 }
            let lock = state.nextLockMilliseconds
            state.lockedUntilMilliseconds = now + lock
            state.nextLockMilliseconds = min(lock * 2, Self.lockMillisecondsMax)
            // One more try after each lock; a wrong one locks again, for longer.
            state.wrongInARow = Self.wrongPINsBeforeLock - 1
            return lock
        }
    }

    func recordRightPIN() {
        state.withLock { $0 = State() }
    }
}
