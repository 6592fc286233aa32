// The county side of the pull API: collects every box's new reports, page by page, into the
// county database, and acknowledges each page to its box only after it is committed there.
import ConfigurationFiles
import AsyncHTTPClient
import CountyProtocol
import Foundation
import NIOCore
import NIOHTTP1
import TimeSeam

/// Limits of one `county pull` run.
struct PullOptions: Sendable {
    /// Stations pulled at once.
    var concurrency = 8
    /// Requests one station's pull has in flight at once: the next page, asked for while this one
    /// is stored, and this page's acknowledgement.
    static let requestsPerStationMax = 2
    static let concurrencyAllowed = 1...64
    /// Each HTTP request (connect, send, the answer's head and its whole body) must finish within
    /// this, in total: a box that dribbles its answer a byte a second is cut at the deadline.
    var timeoutMilliseconds: Int64 = 30_000
    static let timeoutSecondsAllowed = 1...600
    /// Reports asked per page: v2's maximum, so a long backlog takes few round trips and commits.
    var reportsPerPage = 2_000
    static let reportsPerPageAllowed = 1...2_000
    /// Pages per station in one run: 500 × 20 000 = 10 million reports, years of a box's output.
    /// A box that keeps answering past this is looping, and the run moves on.
    var pagesPerStationMax = 20_000
    /// A page of 2 000 reports of at most 16 KiB of payload each, with their fields, fits inside this.
    static let answerBytesMax = 48 * 1024 * 1024
    /// An error answer's body is read only this far, for its reason.
    static let errorAnswerBytesMax = 8 * 1024
    /// A report's payload on the wire (`WireReport.payloadBytesMax`): a bigger one is no report
    /// a box stored, and the page is refused.
    static let reportPayloadBytesMax = WireReport.payloadBytesMax
    /// A 429 is waited out (its Retry-After, at most `rateLimitedWaitSecondsMax`) this many times
    /// per request before the station counts as refused for this run.
    static let rateLimitedRetriesMax = 3
    static let rateLimitedWaitSecondsMax = 10
    /// An empty page below the box's last number is asked once more before its numbers are
    /// called missing: the box may have stored a report between reading its pages and its last number.
    static let emptyPageRetriesMax = 1
}

/// Why a station was not (fully) pulled, with what to check.
enum PullFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case keyFile(String)
    case unreachable(String)
    case refused(status: Int, reason: String)
    case badDocument(String)
    case boxRenumbered(boxLast: Int64, pulledThrough: Int64)
    case storage(String)
    case notAcknowledged(through: Int64, String)
    case unverified(status: Int, String)

    /// The short word for the summary table.
    var word: String {
        switch self {
        case .keyFile: "no key"
        case .unreachable: "unreachable"
        case .refused(let status, _): status == 401 ? "refused 401" : "HTTP \(status)"
        case .badDocument: "bad answer"
        case .boxRenumbered: "renumbered"
        case .storage: "not stored"
        case .notAcknowledged: "not acked"
        case .unverified: "unverified"
        }
    }

    var description: String {
        switch self {
        case .keyFile(let detail): "\(detail)"
        case .unreachable(let detail):
            "cannot reach the box (\(detail)); check it has power and signal, the url, and [county.api] listen in its gateway.toml"
        case .refused(401, let reason):
            "the box refused the request: \(reason); check key_file holds the same key as the box's [county.api] key_file, the station id, and both clocks"
        case .refused(let status, let reason):
            "the box answered HTTP \(status): \(reason)"
        case .badDocument(let detail):
            "the box's answer does not follow the county API (docs/county-api.md): \(detail); nothing of it was stored"
        case .boxRenumbered(let boxLast, let pulledThrough):
            "the box's last report number is \(boxLast), below the \(pulledThrough) already collected from it: was its outbox replaced or reset? "
                + "Nothing was pulled; its new numbers would collide with the stored ones. Move this station to a new database or id"
        case .storage(let detail): "\(detail)"
        case .unverified(let status, let detail):
            "an answer (HTTP \(status)) did not carry the box's signature: \(detail); nothing of it was used. Something between the county "
                + "and the box is changing answers, or key_file differs from the box's"
        case .notAcknowledged(let through, let detail):
            "stored through \(through) but the box did not take the acknowledgement (\(detail)); it keeps those reports and the next pull acknowledges them"
        }
    }
}

/// One station's part of the run.
struct StationPullResult: Sendable, Equatable {
    var station: PullStation
    /// Reports newly stored in this run.
    var newReports = 0
    /// Reports received again and found already stored (a re-pull after a kill).
    var alreadyStored = 0
    var pages = 0
    var pulledThrough: Int64 = 0
    var acknowledgedThrough: Int64 = 0
    var boxLastSequence: Int64?
    var newGaps: [WireGap] = []
    var newMissing: [ClosedRange<Int64>] = []
    var conflicts: [Int64] = []
    var failure: PullFailure?
    /// The box has more than `pagesPerStationMax` pages waiting; the next run continues.
    var stoppedAtPageLimit = false

    /// Everything the box had is collected and acknowledged, with nothing unexplained.
    var isComplete: Bool { failure == nil && !stoppedAtPageLimit && newMissing.isEmpty && conflicts.isEmpty }
}

/// Pulls stations concurrently (at most `options.concurrency` at once) with one HTTP client.
struct CountyPuller: Sendable {
    let database: any CountyStore
    let options: PullOptions
    /// The wall clock: signs requests, stamps stored rows, and waits out a box's 429. Injected for
    /// tests.
    let clock: any GatewayClock

    init(database: any CountyStore, options: PullOptions, clock: any GatewayClock = SystemClock()) {
        self.database = database
        self.options = options
        self.clock = clock
    }

    var nowMilliseconds: @Sendable () -> Int64 { { [clock] in clock.nowMilliseconds() } }

    /// Results in the order of `stations`.
    func pull(_ stations: [PullStation]) async -> [StationPullResult] {
        let timeout = TimeAmount.milliseconds(options.timeoutMilliseconds)
        var configuration = HTTPClient.Configuration(
            // A redirect would change the signed path; a box never sends one.
            redirectConfiguration: .disallow,
            timeout: .init(connect: timeout, read: timeout))
        // A station's pull holds at most two requests at once (the page asked ahead and an
        // acknowledgement). Stations behind one address (a NAT, the fleet simulator of
        // Benchmarks/Fleet) share the pool's per-address limit, so it allows every station's two.
        configuration.connectionPool = .init(
            idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: PullOptions.requestsPerStationMax * options.concurrency)
        // A refused connection fails the station at once instead of retrying until the timeout:
        // a box that is down stays down for this run, and the next scheduled pull tries again.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var results = [StationPullResult?](repeating: nil, count: stations.count)
        // Every station with a readable key is registered in one transaction (one commit for a
        // province, not one per station); a station without one is not registered, as before.
        var keys: [String: SigningKey] = [:]
        for (index, station) in stations.enumerated() {
            do { keys[station.id] = try SigningKey.load(path: station.keyFile) } catch {
                var result = StationPullResult(station: station)
                result.failure = .keyFile(error.description)
                results[index] = result
            }
        }
        var progress: [String: StationProgress] = [:]
        do {
            let registered = stations.filter { keys[$0.id] != nil }
            let started = try await database.begin(registered)
            progress = Dictionary(zip(registered.map(\.id), started), uniquingKeysWith: { first, _ in first })
        } catch {
            for (index, station) in stations.enumerated() where results[index] == nil {
                var result = StationPullResult(station: station)
                result.failure = .storage(error.description)
                results[index] = result
            }
        }
        await withTaskGroup(of: (Int, StationPullResult).self) { group in
            var next = 0
            /// Starts the next station still to pull (one whose key or registration failed has its result).
            func startNext() {
                while next < stations.count {
                    let index = next
                    let station = stations[index]
                    next += 1
                    guard results[index] == nil, let key = keys[station.id], let start = progress[station.id] else { continue }
                    group.addTask { (index, await self.pull(station, key: key, progress: start, client: client)) }
                    return
                }
            }
            for _ in 0..<min(options.concurrency, stations.count) { startNext() }
            for await (index, result) in group {
                results[index] = result
                startNext()
            }
        }
        // Shutting down fails only if it was already shut down; nothing is lost either way.
        try? await client.shutdown()
        return results.map { $0! }
    }

    /// One station, from where its collection stands: page by page, store then acknowledge.
    func pull(_ station: PullStation, key: SigningKey, progress start: StationProgress, client: HTTPClient) async -> StationPullResult {
        var pull = StationPull(station: station, progress: start, connection: BoxConnection(
            station: station, key: key, client: client, options: options, clock: clock), database: database)
        await pull.run(options: options, nowMilliseconds: nowMilliseconds)
        await pull.settle()
        return pull.result
    }
}

/// One station's pull in three overlapping steps, so the box and the county work at once (two
/// cores, two programs): page N+1 is asked for while page N is stored, and page N's
/// acknowledgement is in flight while page N+1 is checked and stored. The order that keeps every
/// report safe is unchanged: a page is acknowledged only after its commit, acknowledgements go
/// out in order, and the box keeps every report until it is acknowledged, so a page asked ahead
/// and never used costs nothing.
struct StationPull {
    var result: StationPullResult
    var progress: StationProgress
    let connection: BoxConnection
    let database: any CountyStore
    /// The next page, asked for ahead.
    private var ahead: (after: Int64, page: Task<ReceivedPage, any Error>)?
    /// The acknowledgement in flight (and its record in the county database).
    private var acknowledging: (through: Int64, outcome: Task<PullFailure?, Never>)?

    init(station: PullStation, progress: StationProgress, connection: BoxConnection, database: any CountyStore) {
        result = StationPullResult(station: station)
        self.progress = progress
        self.connection = connection
        self.database = database
        result.pulledThrough = progress.pulledThrough
        result.acknowledgedThrough = progress.acknowledgedThrough
    }

    /// Waits for the acknowledgement in flight; false when the box did not take it (or its record
    /// failed), with the failure set unless an earlier one is.
    @discardableResult
    mutating func settle() async -> Bool {
        guard let pending = acknowledging else { return true }
        acknowledging = nil
        if let failure = await pending.outcome.value {
            if result.failure == nil { result.failure = failure }
            return false
        }
        progress.acknowledgedThrough = max(progress.acknowledgedThrough, pending.through)
        result.acknowledgedThrough = progress.acknowledgedThrough
        return true
    }

    /// Sends the acknowledgement through `through` (after the previous one was taken), then
    /// records it; the caller goes on with the next page meanwhile.
    private mutating func acknowledge(through: Int64) async -> Bool {
        guard await settle() else { return false }
        let connection = self.connection
        let database = self.database
        let station = result.station.id
        acknowledging = (through, Task {
            do { try await connection.acknowledge(through: through) } catch {
                return .notAcknowledged(through: through, "\(error)")
            }
            do { try await database.recordAcknowledged(station: station, through: through) } catch {
                return .storage("\(error)")
            }
            return nil
        })
        return true
    }

    private mutating func page(after: Int64, limit: Int) async throws -> ReceivedPage {
        if let asked = ahead, asked.after == after {
            ahead = nil
            return try await asked.page.value
        }
        ahead?.page.cancel()
        ahead = nil
        return try await connection.reports(after: after, limit: limit)
    }

    mutating func run(options: PullOptions, nowMilliseconds: @Sendable () -> Int64) async {
        defer { ahead?.page.cancel() }
        let station = result.station
        var emptyPageRetries = 0
        while true {
            guard result.pages < options.pagesPerStationMax else {
                result.stoppedAtPageLimit = true
                break
            }
            let after = progress.pulledThrough
            let page: CheckedPage
            do {
                let document = try await self.page(after: after, limit: options.reportsPerPage)
                result.boxLastSequence = document.lastSequence
                guard document.lastSequence >= after else {
                    try? await database.recordSeen(station: station.id, boxLastSequence: document.lastSequence, atMilliseconds: nowMilliseconds())
                    result.failure = .boxRenumbered(boxLast: document.lastSequence, pulledThrough: after)
                    return
                }
                page = try CheckedPage.check(document, station: station.id, after: after, limit: options.reportsPerPage)
            } catch let failure as PullFailure {
                result.failure = failure
                return
            } catch let bad as BadDocument {
                result.failure = .badDocument(bad.description)
                return
            } catch {
                result.failure = .unreachable("\(error)")
                return
            }
            result.pages += 1
            if page.reports.isEmpty, page.through > after, emptyPageRetries < PullOptions.emptyPageRetriesMax,
                !page.holes(explainedBy: page.gaps.map { $0.from...$0.through }).isEmpty
            {
                emptyPageRetries += 1
                continue
            }
            if page.more, !page.reports.isEmpty, result.pages < options.pagesPerStationMax {
                let next = page.through
                let limit = options.reportsPerPage
                let connection = self.connection
                ahead = (next, Task { try await connection.reports(after: next, limit: limit) })
            }
            if page.through > after || !page.gaps.isEmpty {
                let stored: StoredPage
                do {
                    stored = try await database.store(page, station: station.id, atMilliseconds: nowMilliseconds())
                } catch {
                    result.failure = .storage(error.description)
                    return
                }
                result.newReports += stored.newReports
                result.alreadyStored += stored.alreadyStored
                result.newGaps += stored.newGaps
                result.newMissing += stored.newMissing
                result.conflicts += stored.conflicts
                progress.pulledThrough = max(progress.pulledThrough, stored.pulledThrough)
                result.pulledThrough = progress.pulledThrough
            }
            // Committed above; only now may the box treat these as delivered. Also catches up an
            // acknowledgement a killed run stored but never sent.
            if progress.pulledThrough > max(progress.acknowledgedThrough, acknowledging?.through ?? 0) {
                guard await acknowledge(through: progress.pulledThrough) else { return }
            }
            // An empty page ends the run even if the box says "more": everything it has left is
            // thinned or missing and has been accounted for above.
            if !page.more || page.reports.isEmpty { break }
        }
    }
}

/// Signed requests to one box.
struct BoxConnection: Sendable {
    /// The contract this county pulls: v2's kinds and payloads are what the county database stores.
    static let contract = "v2"

    let station: PullStation
    let key: SigningKey
    let client: HTTPClient
    let options: PullOptions
    let clock: any GatewayClock

    func reports(after: Int64, limit: Int) async throws -> ReceivedPage {
        let body = try await send(method: .GET, pathAndQuery: "/\(Self.contract)/reports?after=\(after)&limit=\(limit)", body: [])
        do {
            return try ReportsPageReader.read(Array(body.readableBytesView))
        } catch {
            throw BadDocument("not a reports document (\(error.description))")
        }
    }

    func acknowledge(through: Int64) async throws {
        let body = try ReportsDocument.encoder().encode(AcknowledgeRequest(through: through))
        let answer = try await send(method: .POST, pathAndQuery: "/\(Self.contract)/reports/ack", body: Array(body))
        guard let decoded = try? JSONDecoder().decode(AcknowledgeAnswer.self, from: Data(answer.readableBytesView)), decoded.through == through else {
            throw BadDocument("the acknowledgement's answer is not {\"acknowledged\": N, \"through\": \(through)}")
        }
    }

    /// One signed request; the answer's body when the box said 200 and signed it, a
    /// `PullFailure` otherwise. A 429 is waited out a few times (its Retry-After, bounded).
    private func send(method: HTTPMethod, pathAndQuery: String, body: [UInt8]) async throws -> ByteBuffer {
        var attempt = 0
        while true {
            do {
                return try await sendOnce(method: method, pathAndQuery: pathAndQuery, body: body)
            } catch let limited as RateLimited where attempt < PullOptions.rateLimitedRetriesMax {
                attempt += 1
                await clock.sleep(milliseconds: Int64(limited.retryAfterSeconds) * 1_000)
                try Task.checkCancellation()
            } catch let limited as RateLimited {
                throw PullFailure.refused(status: 429, reason: limited.reason)
            }
        }
    }

    /// A 429 from the box, with how long it asked to wait (bounded).
    struct RateLimited: Error {
        var retryAfterSeconds: Int
        var reason: String
    }

    private func sendOnce(method: HTTPMethod, pathAndQuery: String, body: [UInt8]) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: station.url.hasSuffix("/") ? String(station.url.dropLast()) + pathAndQuery : station.url + pathAndQuery)
        request.method = method
        var nonce = ""
        for header in RequestSignature.headers(
            key: key, method: method.rawValue, pathAndQuery: pathAndQuery, station: station.id,
            timestampMilliseconds: clock.nowMilliseconds(), body: body)
        {
            request.headers.add(name: header.name, value: header.value)
            if header.name == RequestSignature.nonceHeader { nonce = header.value }
        }
        request.headers.add(name: "Accept", value: "application/json")
        if !body.isEmpty {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let timeoutMilliseconds = options.timeoutMilliseconds
        // Wall time by design: a network exchange's deadline is the network's, not the puller's clock.
        let deadline = NIODeadline.now() + .milliseconds(timeoutMilliseconds)
        let client = self.client
        let prepared = request
        let received: (status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer)
        do {
            // One deadline for everything: the client's own covers only the head, so the body is
            // read under a deadline of ours too (a box dribbling a byte a second keeps every
            // per-read timeout happy and would hold the run for hours).
            received = try await withDeadline(milliseconds: timeoutMilliseconds) {
                let response = try await client.execute(prepared, deadline: deadline)
                let limit = response.status == .ok ? PullOptions.answerBytesMax : PullOptions.errorAnswerBytesMax
                let body = try await response.body.collect(upTo: limit)
                return (response.status, response.headers, body)
            }
        } catch is DeadlineExceeded {
            throw PullFailure.unreachable("no complete answer within \(timeoutMilliseconds / 1_000) s (head and body)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw PullFailure.unreachable("no complete answer within \(timeoutMilliseconds / 1_000) s (head and body)")
        } catch let error as NIOTooManyBytesError {
            throw PullFailure.badDocument("the answer is over \(PullOptions.answerBytesMax / 1024 / 1024) MiB (\(error))")
        } catch is CancellationError {
            throw PullFailure.unreachable("no complete answer within \(timeoutMilliseconds / 1_000) s (head and body)")
        } catch {
            throw PullFailure.unreachable(Self.describe(error))
        }
        let answer = received.body
        let status = Int(received.status.code)
        let signatures = received.headers[RequestSignature.responseSignatureHeader]
        let genuine = signatures.count == 1
            && RequestSignature.isGenuineResponse(
                key: key, station: station.id, nonce: nonce, status: status, body: answer.readableBytesView, signature: signatures.first)
        let response = (status: received.status, headers: received.headers)
        // Only a verified answer is acted on: a page is stored, an acknowledgement believed, a 429
        // waited out. An unverified refusal is still shown, marked, because it changes nothing and
        // its most likely cause is the very thing to fix (a key_file that is not the box's).
        guard genuine else {
            let problem = signatures.isEmpty ? "no \(RequestSignature.responseSignatureHeader) header" : "its \(RequestSignature.responseSignatureHeader) does not match"
            guard response.status != .ok else { throw PullFailure.unverified(status: status, problem) }
            let reason = (try? JSONDecoder().decode(APIErrorAnswer.self, from: Data(answer.readableBytesView)))?.reason
                ?? String(decoding: Data(answer.readableBytesView).prefix(200), as: UTF8.self)
            throw PullFailure.refused(status: status, reason: "\(reason.isEmpty ? response.status.reasonPhrase : reason) (unverified answer: \(problem))")
        }
        if response.status == .tooManyRequests {
            let seconds = response.headers.first(name: "Retry-After").flatMap { OutsideNumber.decimal($0, in: 0...Int64(PullOptions.rateLimitedWaitSecondsMax)) }
            let reason = (try? JSONDecoder().decode(APIErrorAnswer.self, from: Data(answer.readableBytesView)))?.reason ?? "too many requests"
            throw RateLimited(retryAfterSeconds: Int(seconds ?? Int64(PullOptions.rateLimitedWaitSecondsMax)), reason: reason)
        }
        guard response.status == .ok else {
            let reason = (try? JSONDecoder().decode(APIErrorAnswer.self, from: Data(answer.readableBytesView)))?.reason
                ?? String(decoding: Data(answer.readableBytesView).prefix(200), as: UTF8.self)
            throw PullFailure.refused(status: Int(response.status.code), reason: reason.isEmpty ? response.status.reasonPhrase : reason)
        }
        return answer
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("connectTimeout") { return "no connection within the timeout" }
        return text
    }
}
