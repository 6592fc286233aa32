// HMAC-SHA256 request signatures: the county API verifies them, `county pull` and the HTTP push
// make them. One definition of the canonical text, so signer and verifier cannot drift apart.
// The scheme is documented in docs/county-api.md.
import Crypto
import Foundation
import Logging
import Synchronization

/// The headers and the canonical text of a signed request.
///
/// Signed text (UTF-8, fields joined by "\n"):
/// `METHOD`, `PATH?QUERY` exactly as sent, `STATION`, `TIMESTAMP` (Unix milliseconds, decimal),
/// `NONCE`, and the lowercase hex SHA-256 of the body (of zero bytes when there is none).
/// The signature is the lowercase hex HMAC-SHA256 of that text under the station's key.
enum RequestSignature {
    static let stationHeader = "X-VG-Station"
    static let timestampHeader = "X-VG-Timestamp"
    static let nonceHeader = "X-VG-Nonce"
    static let signatureHeader = "X-VG-Signature"
    /// Nonces are 16 to 64 characters of [0-9A-Za-z_-]; `sign` makes 32 hex digits.
    static let nonceCharactersAllowed = 16...64

    /// The answer's signature: the box signs every answer to a request with a well-formed nonce,
    /// and `county pull` refuses an answer it cannot verify (docs/county-api.md).
    static let responseSignatureHeader = "X-VG-Response-Signature"

    static func isWellFormedNonce(_ nonce: String) -> Bool {
        nonceCharactersAllowed.contains(nonce.utf8.count)
            && nonce.utf8.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }

    /// Signed text of an answer (UTF-8, joined by "\n"): `RESPONSE`, `STATION`, the request's
    /// `NONCE`, the HTTP status code, and the lowercase hex SHA-256 of the answer's body. The nonce
    /// ties the answer to the one request, so an answer recorded earlier cannot be played back.
    static func responseText(station: String, nonce: String, status: Int, body: some Sequence<UInt8>) -> String {
        ["RESPONSE", station, nonce, String(status), SHA256.hash(data: Array(body)).hexText].joined(separator: "\n")
    }

    static func responseSignature(key: SigningKey, station: String, nonce: String, status: Int, body: some Sequence<UInt8>) -> String {
        signature(key: key, canonicalText: responseText(station: station, nonce: nonce, status: status, body: body))
    }

    /// True when `signature` is the box's signature of this answer to the request with `nonce`.
    static func isGenuineResponse(key: SigningKey, station: String, nonce: String, status: Int, body: some Sequence<UInt8>, signature: String?) -> Bool {
        guard let signature, signature.utf8.count == 64, let given = SigningKey.hexBytes(signature) else { return false }
        let text = responseText(station: station, nonce: nonce, status: status, body: body)
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Array(text.utf8), using: key.symmetricKey)
    }

    static func canonicalText(method: String, pathAndQuery: String, station: String, timestampMilliseconds: Int64, nonce: String, body: some Sequence<UInt8>) -> String {
        let bodyDigest = SHA256.hash(data: Array(body)).hexText
        return [method.uppercased(), pathAndQuery, station, String(timestampMilliseconds), nonce, bodyDigest].joined(separator: "\n")
    }

    static func signature(key: SigningKey, canonicalText: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(canonicalText.utf8), using: key.symmetricKey).hexText
    }

    /// The four headers for a request, with a fresh random nonce.
    static func headers(key: SigningKey, method: String, pathAndQuery: String, station: String, timestampMilliseconds: Int64, body: some Sequence<UInt8>) -> [(name: String, value: String)] {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexText
        let text = canonicalText(method: method, pathAndQuery: pathAndQuery, station: station, timestampMilliseconds: timestampMilliseconds, nonce: nonce, body: body)
        return [
            (stationHeader, station),
            (timestampHeader, String(timestampMilliseconds)),
            (nonceHeader, nonce),
            (signatureHeader, signature(key: key, canonicalText: text)),
        ]
    }
}

/// A station's HMAC key. Written in its key file as hex (whitespace ignored), at least 32 bytes.
struct SigningKey: Sendable, Equatable {
    static let bytesMin = 32
    static let bytesMax = 128
    let bytes: [UInt8]

    var symmetricKey: SymmetricKey { SymmetricKey(data: bytes) }

    init(bytes: [UInt8]) throws(SigningKeyError) {
        guard bytes.count >= Self.bytesMin else { throw .tooShort(bytes: bytes.count) }
        guard bytes.count <= Self.bytesMax else { throw .tooLong(bytes: bytes.count) }
        self.bytes = bytes
    }

    init(hex text: String) throws(SigningKeyError) {
        let digits = String(String.UnicodeScalarView(text.unicodeScalars.filter { !$0.properties.isWhitespace }))
        guard let bytes = Self.hexBytes(digits) else { throw .notHex }
        try self.init(bytes: bytes)
    }

    /// Reads a key file; the error names the file and what to put in it.
    static func load(path: String) throws(SigningKeyError) -> SigningKey {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        guard data.count <= bytesMax * 4 else { throw .inFile(path: path, .tooLong(bytes: data.count / 2)) }
        do {
            return try SigningKey(hex: String(decoding: data, as: UTF8.self))
        } catch {
            throw .inFile(path: path, error)
        }
    }
}

indirect enum SigningKeyError: Error, CustomStringConvertible, Equatable {
    case tooShort(bytes: Int)
    case tooLong(bytes: Int)
    case notHex
    case unreadable(path: String)
    case inFile(path: String, SigningKeyError)

    var description: String {
        switch self {
        case .tooShort(let bytes): "the key has \(bytes) bytes; it must have at least \(SigningKey.bytesMin) (\(SigningKey.bytesMin * 2) hex digits), e.g. from `openssl rand -hex 32`"
        case .tooLong(let bytes): "the key has \(bytes) bytes; at most \(SigningKey.bytesMax) are accepted"
        case .notHex: "the key must be written as hex digits (0-9, a-f), e.g. from `openssl rand -hex 32`"
        case .unreadable(let path): "cannot read the key file \(path); create it with `openssl rand -hex 32 > \(path)` and `chmod 600 \(path)`"
        case .inFile(let path, let inner): "key file \(path): \(inner.description)"
        }
    }
}

/// Why a signed request was refused: sent to the client with the 401 (or 429), logged on the box.
struct SignatureRefusal: Error, Equatable, CustomStringConvertible {
    var reason: String
    /// Set when the request was genuine but over the rate: answered 429 with `Retry-After`.
    var retryAfterSeconds: Int?
    var description: String { reason }

    init(reason: String, retryAfterSeconds: Int? = nil) {
        self.reason = reason
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// Checks signatures, refuses replays (also across a restart, through `NonceJournal`) and holds
/// genuine clients to a rate. A nonce is remembered for as long as its timestamp would be
/// accepted, so a replay is refused as "replayed" while fresh and as "stale" after.
final class RequestVerifier: Sendable {
    /// Genuine requests accepted per second, sustained, and at once after a quiet spell. A county
    /// pull asks two requests per page of 500 reports; 10 a second is 2,500 reports a second,
    /// faster than the box can read its outbox. Over the rate the answer is 429 with Retry-After,
    /// never a lock-out: the bucket refills while the client waits.
    static let requestsPerSecondSustained: Int64 = 10
    static let requestsBurstMax: Int64 = 100
    /// The longest Retry-After the box asks for.
    static let retryAfterSecondsMax = 60
    /// Header values longer than this are refused before any work (a station id is 10 digits, a
    /// signature 64 hex digits, a timestamp at most 15 digits).
    static let headerCharactersMax = 128

    let station: String
    private let key: SigningKey
    let clockSkewMillisecondsMax: Int64
    /// Every nonce accepted within one window (twice the skew) fits: the bucket lets through at
    /// most the burst plus the sustained rate over the window. The nonces are never forgotten
    /// early (that would let them be replayed): past this, requests wait (429).
    let noncesRememberedMax: Int
    private let monotonicMilliseconds: @Sendable () -> Int64
    private let onJournalProblem: @Sendable (String) -> Void
    private let state: Mutex<State>

    struct State {
        var nonces: [String: Int64] = [:]
        /// The rate bucket in thousandths of a request; starts full.
        var tokensMilli: Int64
        var refilledAtMilliseconds: Int64
        var journal: NonceJournal?
    }

    /// `journal`: where accepted nonces are kept across restarts (its loaded entries are
    /// remembered at once). `monotonicMilliseconds` paces the rate bucket: a clock that never
    /// steps, so a wall-clock jump neither locks the county out nor lets a flood through.
    init(
        station: String, key: SigningKey, clockSkewMillisecondsMax: Int64, journal: sending NonceJournal? = nil,
        monotonicMilliseconds: @escaping @Sendable () -> Int64 = { VillageGateway.monotonicMilliseconds() },
        onJournalProblem: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.station = station
        self.key = key
        self.clockSkewMillisecondsMax = clockSkewMillisecondsMax
        let windowSeconds = (2 * clockSkewMillisecondsMax + 999) / 1_000
        noncesRememberedMax = Int(Self.requestsBurstMax + Self.requestsPerSecondSustained * windowSeconds)
        self.monotonicMilliseconds = monotonicMilliseconds
        self.onJournalProblem = onJournalProblem
        state = Mutex(State(
            nonces: journal?.loaded ?? [:], tokensMilli: Self.requestsBurstMax * 1_000, refilledAtMilliseconds: monotonicMilliseconds(),
            journal: journal))
    }

    /// nil when the request is genuine, fresh and new; the nonce is then remembered.
    /// `header` looks a header up by name (case-insensitively, as HTTP does).
    func verify(method: String, pathAndQuery: String, header: (String) -> String?, body: some Sequence<UInt8>, nowMilliseconds: Int64) -> SignatureRefusal? {
        verify(method: method, pathAndQuery: pathAndQuery, headerValues: { header($0).map { [$0] } ?? [] }, body: body, nowMilliseconds: nowMilliseconds)
    }

    /// As above; `headerValues` gives every value of a header, so a repeated one is refused
    /// rather than one copy being checked and another acted on.
    func verify(method: String, pathAndQuery: String, headerValues: (String) -> [String], body: some Sequence<UInt8>, nowMilliseconds: Int64) -> SignatureRefusal? {
        var values: [String] = []
        for name in [RequestSignature.signatureHeader, RequestSignature.stationHeader, RequestSignature.timestampHeader, RequestSignature.nonceHeader] {
            let given = headerValues(name)
            guard given.count <= 1 else {
                return SignatureRefusal(reason: "\(name) appears \(given.count) times; send it once")
            }
            guard let value = given.first else {
                return SignatureRefusal(reason: "unsigned request: the headers \(RequestSignature.stationHeader), \(RequestSignature.timestampHeader), \(RequestSignature.nonceHeader) and \(RequestSignature.signatureHeader) are required")
            }
            guard value.utf8.count <= Self.headerCharactersMax else {
                return SignatureRefusal(reason: "\(name) is over \(Self.headerCharactersMax) bytes")
            }
            values.append(value)
        }
        let (signature, stationText, timestampText, nonce) = (values[0], values[1], values[2], values[3])
        guard stationText == station else {
            return SignatureRefusal(reason: "wrong station: this is station \(station), the request is for \(stationText)")
        }
        guard let timestamp = OutsideNumber.decimal(timestampText, in: 0...OutsideLimits.unixMillisecondsMax) else {
            return SignatureRefusal(reason: "\(RequestSignature.timestampHeader) must be Unix time in milliseconds: digits only, 0 to \(OutsideLimits.unixMillisecondsMax)")
        }
        guard RequestSignature.isWellFormedNonce(nonce) else {
            return SignatureRefusal(reason: "\(RequestSignature.nonceHeader) must be 16 to 64 letters, digits, '-' or '_'")
        }
        let text = RequestSignature.canonicalText(method: method, pathAndQuery: pathAndQuery, station: stationText, timestampMilliseconds: timestamp, nonce: nonce, body: body)
        guard let given = SigningKey.hexBytes(signature),
            HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Array(text.utf8), using: key.symmetricKey)
        else {
            return SignatureRefusal(reason: "bad signature: the key, the body or the signed path does not match")
        }
        // Checked after the signature, so an unsigned stranger learns nothing about the clock.
        // Both are bounded (the box's clock too, or the difference is taken as the widest).
        let skew = OutsideNumber.difference(timestamp, nowMilliseconds) ?? .max
        guard skew.magnitude <= clockSkewMillisecondsMax.magnitude else {
            return SignatureRefusal(reason: "stale timestamp: \(skew / 1_000) s from the box's clock (at most ±\(clockSkewMillisecondsMax / 1_000) s); check both clocks")
        }
        let monotonicNow = monotonicMilliseconds()
        let (refusal, journalProblem) = state.withLock { state -> (SignatureRefusal?, String?) in
            if let until = state.nonces[nonce], until >= nowMilliseconds {
                return (SignatureRefusal(reason: "replayed request: this nonce was already used"), nil)
            }
            // The rate: refill by the monotonic time since the last request (held to the bucket's
            // size, so neither a long quiet nor a clock oddity can overflow).
            let capacity = Self.requestsBurstMax * 1_000
            let elapsed = min(max(OutsideNumber.difference(monotonicNow, state.refilledAtMilliseconds) ?? 0, 0), capacity)
            state.tokensMilli = min(capacity, state.tokensMilli + elapsed * Self.requestsPerSecondSustained)
            state.refilledAtMilliseconds = monotonicNow
            guard state.tokensMilli >= 1_000 else {
                let waitMilliseconds = (1_000 - state.tokensMilli + Self.requestsPerSecondSustained - 1) / Self.requestsPerSecondSustained
                return (Self.tooMany(retryAfterMilliseconds: waitMilliseconds), nil)
            }
            if state.nonces.count >= noncesRememberedMax {
                state.nonces = state.nonces.filter { $0.value >= nowMilliseconds }
            }
            guard state.nonces.count < noncesRememberedMax else {
                let soonest = state.nonces.values.min() ?? nowMilliseconds
                return (Self.tooMany(retryAfterMilliseconds: OutsideNumber.difference(soonest, nowMilliseconds) ?? 0), nil)
            }
            state.tokensMilli -= 1_000
            // Accepted until its timestamp is stale; remembered exactly that long, on disk first.
            let expiry = OutsideNumber.saturatingSum(timestamp, clockSkewMillisecondsMax)
            state.nonces[nonce] = expiry
            var problem: String?
            if let journal = state.journal {
                do {
                    try journal.append(nonce: nonce, expiresAtMilliseconds: expiry)
                    if journal.linesWritten >= 2 * noncesRememberedMax {
                        let live = state.nonces.filter { $0.value >= nowMilliseconds }
                        state.nonces = live
                        try journal.compact(live)
                    }
                } catch {
                    // Accepted anyway: refusing a county warning because the disk is full would
                    // be worse than the small chance of a replay across a restart.
                    problem = "\(error)"
                }
            }
            return (nil, problem)
        }
        if let journalProblem { onJournalProblem(journalProblem) }
        return refusal
    }

    /// The API's verifier with its nonces kept in `STATE_DIR/api-nonces.log`. A journal that
    /// cannot be opened is logged, and the API runs with nonces in memory only (a replay across
    /// the next restart would then not be recognised): the county can still pull and warn.
    static func withJournal(
        station: String, key: SigningKey, clockSkewMillisecondsMax: Int64, stateDirectory: String, nowMilliseconds: Int64, logger: Logger
    ) -> RequestVerifier {
        let probe = RequestVerifier(station: station, key: key, clockSkewMillisecondsMax: clockSkewMillisecondsMax)
        var journal: NonceJournal?
        do {
            let opened = try NonceJournal(stateDirectory: stateDirectory, nowMilliseconds: nowMilliseconds, entriesMax: probe.noncesRememberedMax)
            if opened.damagedLines > 0 {
                logger.warning("county API: skipped \(opened.damagedLines) damaged line(s) in \(opened.path) (a torn write at a power cut is one)")
            }
            logger.info("county API: \(opened.loaded.count) nonce(s) still in their window were kept across the restart")
            journal = opened
        } catch {
            logger.error("county API: \(error.description); used nonces are kept in memory only, so a request replayed after the next restart would not be recognised")
        }
        return RequestVerifier(
            station: station, key: key, clockSkewMillisecondsMax: clockSkewMillisecondsMax, journal: journal,
            onJournalProblem: { problem in logger.error("county API: \(problem)") })
    }

    /// The box's signature of its answer to the request that carried `nonce`.
    func responseSignature(nonce: String, status: Int, body: some Sequence<UInt8>) -> String {
        RequestSignature.responseSignature(key: key, station: station, nonce: nonce, status: status, body: body)
    }

    private static func tooMany(retryAfterMilliseconds: Int64) -> SignatureRefusal {
        let seconds = Int(min(max((retryAfterMilliseconds + 999) / 1_000, 1), Int64(retryAfterSecondsMax)))
        return SignatureRefusal(
            reason: "too many requests: at most \(requestsPerSecondSustained) a second (\(requestsBurstMax) at once); retry after \(seconds) s",
            retryAfterSeconds: seconds)
    }
}

/// The nonces of accepted requests on disk (`STATE_DIR/api-nonces.log`), so a signed request
/// captured before a restart is still refused as a replay after it. One line per nonce,
/// `EXPIRY_MS NONCE`, appended and flushed to the disk before the request is acted on; the file
/// is rewritten with only the live nonces when it has grown to twice the window.
final class NonceJournal {
    static let fileName = "api-nonces.log"
    /// Longest line: a 15-digit expiry, a space, a 64-character nonce, a newline.
    static let lineBytesMax = 81

    let path: String
    private(set) var descriptor: Int32
    /// Lines appended since the file was last rewritten.
    private(set) var linesWritten: Int
    /// The nonces still live when the file was opened.
    let loaded: [String: Int64]
    /// Damaged lines skipped when loading (a torn last line after a power cut is one).
    let damagedLines: Int

    /// Opens (or creates) the journal in `stateDirectory`, keeping the nonces that expire after
    /// `nowMilliseconds` and at most `entriesMax` of them (the newest by expiry).
    init(stateDirectory: String, nowMilliseconds: Int64, entriesMax: Int) throws(FileWriteError) {
        path = "\(stateDirectory)/\(Self.fileName)"
        var live: [String: Int64] = [:]
        var damaged = 0
        let bytesMax = 2 * entriesMax * Self.lineBytesMax
        if let handle = FileHandle(forReadingAtPath: path) {
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            var skipFirst = false
            if size > UInt64(bytesMax) {
                try? handle.seek(toOffset: size - UInt64(bytesMax))
                skipFirst = true
            } else {
                try? handle.seek(toOffset: 0)
            }
            let data = (try? handle.readToEnd()) ?? Data()
            var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            if skipFirst, !lines.isEmpty { lines.removeFirst() }
            for line in lines where !line.isEmpty {
                let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
                let nonce = parts.count == 2 ? String(decoding: parts[1], as: UTF8.self) : ""
                guard parts.count == 2, let expiry = OutsideNumber.decimal(String(decoding: parts[0], as: UTF8.self), in: 0...Int64.max),
                    RequestSignature.isWellFormedNonce(nonce)
                else {
                    damaged += 1
                    continue
                }
                if expiry >= nowMilliseconds { live[nonce] = max(live[nonce] ?? 0, expiry) }
            }
        }
        if live.count > entriesMax {
            live = Dictionary(uniqueKeysWithValues: live.sorted { $0.value > $1.value }.prefix(entriesMax).map { ($0.key, $0.value) })
        }
        loaded = live
        damagedLines = damaged
        descriptor = -1
        linesWritten = 0
        try compact(live)
    }

    /// Rewrites the file with `live` only (atomically: a crash leaves the old file or the new).
    func compact(_ live: [String: Int64]) throws(FileWriteError) {
        var bytes: [UInt8] = []
        for (nonce, expiry) in live.sorted(by: { $0.value < $1.value }) { bytes += Array("\(expiry) \(nonce)\n".utf8) }
        try writeFileAtomically(path: path, bytes: bytes)
        if descriptor >= 0 { close(descriptor) }
        descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileWriteError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        linesWritten = live.count
    }

    /// Appends one nonce and flushes it to the disk.
    func append(nonce: String, expiresAtMilliseconds: Int64) throws(FileWriteError) {
        guard descriptor >= 0 else { throw FileWriteError(description: "\(path) is not open") }
        let line = Array("\(expiresAtMilliseconds) \(nonce)\n".utf8)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress!, line.count) }
        guard written == line.count, fdatasync(descriptor) == 0 else {
            throw FileWriteError(description: "cannot record a used nonce in \(path): \(String(cString: strerror(errno))); a replay after a restart would not be recognised")
        }
        linesWritten += 1
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }
}

extension SigningKey {
    static func hexBytes(_ text: String) -> [UInt8]? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count.isMultiple(of: 2), !scalars.isEmpty else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < scalars.count {
            guard let high = scalars[index].hexValue, let low = scalars[index + 1].hexValue else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

extension Unicode.Scalar {
    fileprivate var hexValue: UInt8? {
        switch value {
        case 0x30...0x39: UInt8(value - 0x30)
        case 0x61...0x66: UInt8(value - 0x61 + 10)
        case 0x41...0x46: UInt8(value - 0x41 + 10)
        default: nil
        }
    }
}

extension Sequence where Element == UInt8 {
    var hexText: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Digest {
    var hexText: String { Array(self).hexText }
}

extension HashedAuthenticationCode {
    var hexText: String { Array(self).hexText }
}
