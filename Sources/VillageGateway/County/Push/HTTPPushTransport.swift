// JSON over HTTP POST to the county (docs/county-api.md, "Push"): signed batches, highest
// priority first; exactly the sequences the county says it stored are marked delivered.
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import TimeSeam
import WarningLogic

/// What one POST achieved.
enum HTTPPushOutcome: Sendable, Equatable {
    /// Nothing undelivered that may go now.
    case nothingToSend
    /// The county answered `{"stored": [...]}`; `marked` are the sent sequences it named.
    case delivered(sent: [Int64], marked: [Int64])
    /// Timeout, refused connection, non-2xx, 401 with a reason, or an answer that is not a
    /// PushAnswer: nothing is marked, the reports wait for the next attempt.
    case failed(String)
}

/// Bounds of one push over HTTP.
struct HTTPPushTimings: Sendable, Equatable {
    var connectTimeoutMilliseconds: Int64 = 15_000
    /// The whole request, body sent and answer read; a slow county costs at most this.
    var requestTimeoutMilliseconds: Int64 = 60_000
    static let standard = HTTPPushTimings()
}

final class HTTPPushTransport: Sendable {
    /// A PushAnswer for 500 sequences is about 10 KB; more than this is not an answer.
    static let answerBytesMax = 256 * 1024
    /// Sequences the county names that were not in the batch are ignored (never marked: the
    /// county cannot have stored a report it was not sent), and at most this many are logged.
    static let unexpectedSequencesLoggedMax = 10

    /// Read here; deliveries are marked through `writer` (the outbox's one writer thread).
    let outbox: Outbox
    let writer: any OutboxWriting
    let configuration: HTTPPushConfiguration
    let endpoint: PushEndpoint
    let station: StationIdentity
    let timings: HTTPPushTimings
    private let key: SigningKey
    private let pathAndQuery: String
    private let clock: any GatewayClock
    private let client: HTTPClient
    private let logger: Logger

    init(
        outbox: Outbox, writer: any OutboxWriting, configuration: HTTPPushConfiguration, key: SigningKey, station: StationIdentity, clock: any GatewayClock,
        client: HTTPClient, timings: HTTPPushTimings = .standard, logger: Logger
    ) throws(PushLinkError) {
        // A push body is a v1 page: at most v1's page size, whatever larger pages v2 allows.
        let batchMax = min(outbox.limits.reportsPerPullMax, CountyAPI.reportsPerPageMax)
        guard (1...batchMax).contains(configuration.batchMax) else {
            throw PushLinkError(description: "push batch_max \(configuration.batchMax) is outside 1-\(batchMax)")
        }
        endpoint = try PushEndpoint(url: configuration.url)
        // The path signed must be the path on the request line: AsyncHTTPClient sends the URL's
        // percent-encoded path and query as given, "/" for an empty path.
        guard let components = URLComponents(string: configuration.url) else {
            throw PushLinkError(description: "push url \(configuration.url.debugDescription) cannot be parsed")
        }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        pathAndQuery = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        self.outbox = outbox
        self.writer = writer
        self.configuration = configuration
        self.key = key
        self.station = station
        self.clock = clock
        self.client = client
        self.timings = timings
        self.logger = logger
    }

    /// The client a push uses. A connection that cannot be made fails the POST at once: by
    /// default AsyncHTTPClient keeps retrying the connect while the request waits (up to the
    /// connect timeout, wall time), so a batch chosen before an outage was sent when the link
    /// came back, ahead of the alarms decided meanwhile (at 120000x a week passed inside one
    /// POST). Failing lets the push back off, listen for the link signals and choose its batch
    /// again, alarms first, once a bare connect succeeds.
    static func clientConfiguration(_ timings: HTTPPushTimings) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(
            connect: .milliseconds(timings.connectTimeoutMilliseconds), read: .milliseconds(timings.requestTimeoutMilliseconds))
        // A redirect would send the body to a path it was not signed for.
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// The next batch: up to `batch_max` undelivered reports, alarms first; with `allowRoutine`
    /// false (outside the push window) only the alarms at its head.
    func nextBatch(allowRoutine: Bool) throws(OutboxError) -> [StoredOutboxReport] {
        let batch = try outbox.undelivered(limit: configuration.batchMax)
        return allowRoutine ? batch : Array(batch.prefix { $0.report.priority == .alarm })
    }

    /// Sends one batch and marks what the county stored.
    func pushOnce(allowRoutine: Bool) async -> HTTPPushOutcome {
        let batch: [StoredOutboxReport]
        let body: [UInt8]
        do {
            batch = try nextBatch(allowRoutine: allowRoutine)
            guard !batch.isEmpty else { return .nothingToSend }
            let sequences = batch.map(\.sequence)
            // The pull's own page writer (contract v1): each stored payload's text spliced in as
            // it is, never parsed. A push goes by priority, not in sequence order: `more` says
            // whether undelivered reports beyond this batch may exist. Gaps are the pull API's business.
            body = CountyAPI.page(
                station: station, after: (sequences.min() ?? 1) - 1, pull: OutboxPull(reports: batch, gaps: []),
                lastSequence: try outbox.lastSequence(), contract: .v1, more: batch.count == configuration.batchMax)
        } catch {
            return .failed("the outbox could not be read: \(error)")
        }

        var request = HTTPClientRequest(url: configuration.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        // Signed with the wall clock, as the county checks it: the box clock is scenario time
        // under --board sim, and a signature from 2020 would be refused as stale.
        let signedHeaders = RequestSignature.headers(
            key: key, method: "POST", pathAndQuery: pathAndQuery, station: station.id,
            timestampMilliseconds: SystemClock().now().millisecondsSinceUnixEpoch, body: body)
        for header in signedHeaders {
            request.headers.add(name: header.name, value: header.value)
        }
        let nonce = signedHeaders.first { $0.name == RequestSignature.nonceHeader }?.value ?? ""
        request.body = .bytes(ByteBuffer(bytes: body))

        let answer: PushAnswer
        do {
            // One deadline for the head and the whole receipt: a county (or something on the path)
            // sending its receipt a byte a second must not hold the push for hours.
            let client = self.client
            let prepared = request
            let timeoutMilliseconds = timings.requestTimeoutMilliseconds
            let (status, receiptSignature, bytes) = try await withDeadline(milliseconds: timeoutMilliseconds) {
                let response = try await client.execute(prepared, timeout: .milliseconds(timeoutMilliseconds))
                let signature = response.headers.first(name: RequestSignature.responseSignatureHeader)
                return (response.status, signature, try await response.body.collect(upTo: Self.answerBytesMax))
            }
            let response = (status: status, body: bytes)
            let data = Data(bytes.readableBytesView)
            guard (200..<300).contains(response.status.code) else {
                let reason = (try? JSONDecoder().decode(APIErrorAnswer.self, from: data)).map { ": \($0.error): \($0.reason)" } ?? ""
                return .failed("the county answered HTTP \(response.status.code)\(reason)")
            }
            // Only a receipt signed with the station's key marks anything delivered: a forged or
            // altered one (anyone on the path of a plain-HTTP push could write it) would make the
            // box forget reports the county never stored.
            guard RequestSignature.isGenuineReceipt(
                key: key, station: station.id, nonce: nonce, status: Int(response.status.code), body: bytes.readableBytesView,
                signature: receiptSignature)
            else {
                let given = receiptSignature == nil ? "has no \(RequestSignature.responseSignatureHeader) header" : "does not verify under the station's key"
                return .failed("the county's receipt \(given): nothing is marked delivered and the reports are sent again (docs/county-api.md, Push)")
            }
            guard let decoded = try? JSONDecoder().decode(PushAnswer.self, from: data) else {
                return .failed("the county's answer is not {\"stored\": [sequence, ...]} (\(bytes.readableBytes) bytes)")
            }
            answer = decoded
        } catch is DeadlineExceeded {
            return .failed("POST \(configuration.url): no complete answer within \(timings.requestTimeoutMilliseconds / 1_000) s")
        } catch {
            return .failed("POST \(configuration.url) failed: \(error)")
        }

        let sent = Set(batch.map(\.sequence))
        let marked = answer.stored.filter { sent.contains($0) }
        let unexpected = answer.stored.filter { !sent.contains($0) }
        if !unexpected.isEmpty {
            logger.warning(
                "the county named sequences it was not sent; they are not marked",
                metadata: ["sequences": "\(unexpected.prefix(Self.unexpectedSequencesLoggedMax))", "count": "\(unexpected.count)"])
        }
        do {
            try await writer.markDelivered(sequences: marked, at: clock.now())
        } catch {
            // The county has them and will dedup by sequence when they are sent again.
            return .failed("the county stored \(marked.count) reports but marking them delivered failed: \(error)")
        }
        return .delivered(sent: batch.map(\.sequence), marked: marked)
    }
}
