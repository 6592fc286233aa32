// Who may use the dashboard: on loopback, the person at the county server; on any other address,
// only someone who logs in with a password from the users file, hashed as the box's shell PIN is
// (salted PBKDF2-SHA256, `pbkdf2-sha256$ROUNDS$SALT$HASH`). Every warning sent names its sender.
import Crypto
import Foundation
import Synchronization
import _CryptoExtras

package struct PasswordHash: Equatable, Sendable, CustomStringConvertible {
    package static let scheme = "pbkdf2-sha256"
    /// OWASP's floor for PBKDF2-SHA256, as the shell PIN uses.
    package static let roundsDefault = 210_000
    /// Low enough for tests to use a fast hash, bounded so a typo cannot make a login take an hour.
    package static let roundsAllowed = 1_000...10_000_000
    static let saltBytes = 16
    static let hashBytes = 32
    /// A password is typed at a desk: 8 to 128 characters.
    package static let passwordCharacters = 8...128

    var rounds: Int
    var salt: [UInt8]
    var hash: [UInt8]

    package var description: String { "\(Self.scheme)$\(rounds)$\(hexText(salt))$\(hexText(hash))" }

    package static func make(password: String, rounds: Int = roundsDefault) -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return PasswordHash(rounds: rounds, salt: salt, hash: derive(password, salt: salt, rounds: rounds))
    }

    /// Compares in constant time.
    package func matches(password: String) -> Bool {
        let candidate = Self.derive(password, salt: salt, rounds: rounds)
        guard candidate.count == hash.count else { return false }
        var difference: UInt8 = 0
        for index in hash.indices { difference |= candidate[index] ^ hash[index] }
        return difference == 0
    }

    private static func derive(_ password: String, salt: [UInt8], rounds: Int) -> [UInt8] {
        // Rounds are checked by `parse`; BoringSSL fails only on parameters out of its range.
        let key = try! KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: hashBytes, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }

    package static func parse(_ text: String) -> PasswordHash? {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == scheme, let rounds = Int(parts[1]), roundsAllowed.contains(rounds),
            let salt = bytesFromHex(parts[2]), salt.count >= 8, salt.count <= 64,
            let hash = bytesFromHex(parts[3]), hash.count == hashBytes
        else { return nil }
        return PasswordHash(rounds: rounds, salt: salt, hash: hash)
    }
}

/// The users file: one `name pbkdf2-sha256$…` a line (`village-county password NAME` prints one);
/// `#` starts a comment.
package enum UsersFile {
    package static let usersMax = 1_000
    package static let nameCharacters = 1...64

    package static func parse(_ text: String, file: String) throws(DashboardConfigurationError) -> [String: PasswordHash] {
        var users: [String: PasswordHash] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let place = "\(file):\(index + 1)"
            guard parts.count == 2, nameCharacters.contains(parts[0].count) else {
                throw DashboardConfigurationError(description: "\(place): write `NAME HASH`, the line `village-county password NAME` prints")
            }
            guard let hash = PasswordHash.parse(parts[1]) else {
                throw DashboardConfigurationError(
                    description: "\(place): the hash of \(parts[0]) is not \(PasswordHash.scheme)$ROUNDS$SALT$HASH; make it with `village-county password \(parts[0])`")
            }
            guard users[parts[0]] == nil else {
                throw DashboardConfigurationError(description: "\(place): \(parts[0]) is listed twice; keep one line per person")
            }
            users[parts[0]] = hash
            guard users.count <= usersMax else {
                throw DashboardConfigurationError(description: "\(place): more than \(usersMax) users; is this the right file?")
            }
        }
        return users
    }
}

package struct DashboardConfigurationError: Error, CustomStringConvertible {
    package var description: String

    package init(description: String) {
        self.description = description
    }
}

/// Logged-in sessions: a random token in a cookie, held in memory (a restart logs everyone out,
/// which is the safe side), bounded in number and age.
package final class Sessions: Sendable {
    package static let sessionsMax = 256
    package static let lifetimeMilliseconds: Int64 = 12 * 3_600_000
    /// Wrong passwords from anyone before logins pause: guessing stays slow even without the hash.
    package static let failuresPerMinuteMax = 10

    private struct State {
        var sessions: [String: (user: String, expiresAtMilliseconds: Int64)] = [:]
        var failureTimes: [Int64] = []
    }

    private let state = Mutex(State())

    package init() {}

    package func open(user: String, nowMilliseconds: Int64) -> String {
        var generator = SystemRandomNumberGenerator()
        let token = hexText((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        state.withLock { state in
            state.sessions = state.sessions.filter { $0.value.expiresAtMilliseconds > nowMilliseconds }
            if state.sessions.count >= Self.sessionsMax,
                let oldest = state.sessions.min(by: { $0.value.expiresAtMilliseconds < $1.value.expiresAtMilliseconds })?.key
            {
                state.sessions[oldest] = nil
            }
            state.sessions[token] = (user, nowMilliseconds + Self.lifetimeMilliseconds)
        }
        return token
    }

    package func user(token: String, nowMilliseconds: Int64) -> String? {
        state.withLock { state in
            guard let session = state.sessions[token], session.expiresAtMilliseconds > nowMilliseconds else { return nil }
            return session.user
        }
    }

    package func close(token: String) {
        _ = state.withLock { $0.sessions.removeValue(forKey: token) }
    }

    /// Whether a login may be tried now; records nothing.
    package func mayTry(nowMilliseconds: Int64) -> Bool {
        state.withLock { state in
            state.failureTimes = state.failureTimes.filter { nowMilliseconds - $0 < 60_000 }
            return state.failureTimes.count < Self.failuresPerMinuteMax
        }
    }

    package func recordFailure(nowMilliseconds: Int64) {
        state.withLock { $0.failureTimes.append(nowMilliseconds) }
    }
}

func hexText(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

func bytesFromHex(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0, !digits.isEmpty else { return nil }
    func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 0x30...0x39: digit - 0x30
        case 0x61...0x66: digit - 0x61 + 10
        case 0x41...0x46: digit - 0x41 + 10
        default: nil
        }
    }
    var bytes: [UInt8] = []
    var index = 0
    while index < digits.count {
        guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}
