// The box's side of request signatures: the verifier the county API checks every request with,
// its rate bucket, and the journal that keeps used nonces across a restart. The signed text and
// the keys are shared with the county program (CountyProtocol/RequestSignature.swift).
import CountyProtocol
import Crypto
import Foundation
import Logging
import Synchronization

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

    package let station: String
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
