// The HTTP push against an in-test county (Hummingbird on 127.0.0.1): signed batches, priority
// order, only what the county stored is marked, a lost answer is resent and deduplicated.
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Synchronization
import Testing
import TimeSeam
@testable import VillageGateway
import WarningLogic

/// The county's push endpoint as a test double: checks every signature with `RequestVerifier`,
/// stores reports by sequence (deduplicating, as docs/county-api.md lets a county), records each
/// body, and answers as scripted.
final class TestCounty: Sendable {
    enum Answer: Sendable {
        case storeAll
        /// Stores only these and says so.
        case storeOnly(Set<Int64>)
        case serverError
        /// Stores, then answers with something that is not a PushAnswer: the answer is "lost".
        case garbageAfterStoring
        /// Stores, then does not answer until released (the box's request times out).
        case hangAfterStoring
        /// Stores and answers the right receipt, unsigned: as something on the path would forge it.
        case unsignedAfterStoring
        /// Stores and answers the right receipt signed with another key.
        case wronglySignedAfterStoring
    }

    struct State {
        var script: [Answer] = []
        var stored: [Int64: WireReport] = [:]
        var bodies: [ReportsDocument] = []
        var duplicatesReceived = 0
        var refusals: [String] = []
        var hung: [CheckedContinuation<Void, Never>] = []
    }

    static let station = "0011223344"
    static let key = try! SigningKey(hex: String(repeating: "5a", count: 32))
    let verifier = RequestVerifier(station: TestCounty.station, key: TestCounty.key, clockSkewMillisecondsMax: 300_000)
    let state = Mutex(State())
    /// Called with each accepted body before it is answered (a test adds reports meanwhile).
    let onBody: (@Sendable (ReportsDocument) -> Void)?

    init(onBody: (@Sendable (ReportsDocument) -> Void)? = nil) { self.onBody = onBody }

    func script(_ answers: [Answer]) { state.withLock { $0.script = answers } }
    var bodies: [ReportsDocument] { state.withLock { $0.bodies } }
    var storedSequences: Set<Int64> { Set(state.withLock { $0.stored.keys }) }

    func releaseHung() {
        let hung = state.withLock { state in defer { state.hung = [] }; return state.hung }
        for continuation in hung { continuation.resume() }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("v1/push") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 4 << 20)
            let body = Array(buffer.readableBytesView)
            let refusal = self.verifier.verify(
                method: "POST", pathAndQuery: request.head.path ?? "",
                header: { name in HTTPField.Name(name).flatMap { request.headers[$0] } }, body: body,
                nowMilliseconds: SystemClock().now().millisecondsSinceUnixEpoch)
            if let refusal {
                self.state.withLock { $0.refusals.append(refusal.reason) }
                let answer = try JSONEncoder().encode(APIErrorAnswer(error: "unauthorized", reason: refusal.reason))
                return Response(status: .unauthorized, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer)))
            }
            let document = try JSONDecoder().decode(ReportsDocument.self, from: Data(body))
            let answer: Answer = self.state.withLock { state in
                state.bodies.append(document)
                return state.script.isEmpty ? .storeAll : state.script.removeFirst()
            }
            self.onBody?(document)
            let nonce = request.headers[HTTPField.Name(RequestSignature.nonceHeader)!] ?? ""
            /// A 200 with the receipt signed as docs/county-api.md asks (or left unsigned, or signed
            /// with another key, when the script says so).
            func receipt(_ data: [UInt8], signedWith key: SigningKey? = TestCounty.key) -> Response {
                var headers = HTTPFields()
                if let key {
                    headers[HTTPField.Name(RequestSignature.responseSignatureHeader)!] = RequestSignature.receiptSignature(
                        key: key, station: TestCounty.station, nonce: nonce, status: 200, body: data)
                }
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            }
            func store(_ only: Set<Int64>?) -> [Int64] {
                self.state.withLock { state in
                    var stored: [Int64] = []
                    for report in document.reports where only?.contains(report.sequence) ?? true {
                        if state.stored[report.sequence] != nil { state.duplicatesReceived += 1 }
                        state.stored[report.sequence] = report
                        stored.append(report.sequence)
                    }
                    return stored
                }
            }
            switch answer {
            case .serverError:
                return Response(status: .internalServerError, body: ResponseBody(byteBuffer: ByteBuffer(string: "database down")))
            case .garbageAfterStoring:
                _ = store(nil)
                return receipt(Array(#"{"sto"#.utf8))
            case .hangAfterStoring:
                _ = store(nil)
                await withCheckedContinuation { continuation in self.state.withLock { $0.hung.append(continuation) } }
                return receipt(Array(#"{"stored":[]}"#.utf8))
            case .unsignedAfterStoring, .wronglySignedAfterStoring:
                let data = Array(try JSONEncoder().encode(PushAnswer(stored: store(nil))))
                if case .unsignedAfterStoring = answer { return receipt(data, signedWith: nil) }
                return receipt(data, signedWith: try SigningKey(hex: String(repeating: "a5", count: 32)))
            case .storeAll, .storeOnly:
                var only: Set<Int64>?
                if case .storeOnly(let subset) = answer { only = subset }
                let stored = store(only)
                return receipt(Array(try JSONEncoder().encode(PushAnswer(stored: stored))))
            }
        }
        return router
    }

    /// Runs the county on 127.0.0.1 (a free port) for the duration of `body`.
    func serve(_ body: @Sendable (_ port: Int) async throws -> Void) async throws {
        let app = Application(router: router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await body(try #require(client.port))
            self.releaseHung()
        }
    }
}

struct PushFixture {
    static let station = StationIdentity(id: TestCounty.station, name: "测试村", utcOffsetMinutes: 480)
    let outbox: Outbox

    init() throws {
        outbox = try Outbox(path: OutboxTests.temporaryStorePath())
    }

    init(outbox: Outbox) { self.outbox = outbox }

    /// 3 routine, 2 alarms, 2 events, interleaved in time: sequences 1…7.
    @discardableResult
    func fillMixed() throws -> (routine: [Int64], alarms: [Int64], events: [Int64]) {
        var routine: [Int64] = [], alarms: [Int64] = [], events: [Int64] = []
        routine.append(try outbox.append(OutboxTests.routine(1)))
        alarms.append(try outbox.append(OutboxTests.alarm(2)))
        routine.append(try outbox.append(OutboxTests.routine(3)))
        events.append(try outbox.append(OutboxTests.event(4)))
        alarms.append(try outbox.append(OutboxTests.alarm(5)))
        routine.append(try outbox.append(OutboxTests.routine(6)))
        events.append(try outbox.append(OutboxTests.event(7)))
        return (routine, alarms, events)
    }

    static func keyFile(_ key: SigningKey = TestCounty.key) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vg-push-key-\(UUID().uuidString)").path
        try key.bytes.hexText.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func transport(port: Int, batchMax: Int = 100, key: SigningKey = TestCounty.key, requestTimeoutMilliseconds: Int64 = 120_000,
                   client: HTTPClient) throws -> HTTPPushTransport {
        try HTTPPushTransport(
            outbox: outbox, writer: outbox.writer,
            configuration: HTTPPushConfiguration(url: "http://127.0.0.1:\(port)/v1/push", keyFile: "unused", batchMax: batchMax),
            key: key, station: Self.station, clock: FixedClock(), client: client,
            timings: HTTPPushTimings(connectTimeoutMilliseconds: 5_000, requestTimeoutMilliseconds: requestTimeoutMilliseconds),
            logger: Logger(label: "test.push"))
    }

    var undelivered: Set<Int64> { Set((try? outbox.undelivered(limit: 500))?.map(\.sequence) ?? []) }
}

func withHTTPClient(_ body: (HTTPClient) async throws -> Void) async throws {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    do {
        try await body(client)
    } catch {
        try? await client.shutdown()
        throw error
    }
    try await client.shutdown()
}

@Suite struct HTTPPushTests {
    @Test func batchesGoHighestPriorityFirstSignedAndAreMarkedDelivered() async throws {
        let fixture = try PushFixture()
        let (routine, alarms, events) = try fixture.fillMixed()
        let county = TestCounty()
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, batchMax: 3, client: client)
                #expect(await push.pushOnce(allowRoutine: true) == .delivered(sent: alarms + [events[0]], marked: alarms + [events[0]]))
                #expect(await push.pushOnce(allowRoutine: true) == .delivered(sent: [events[1]] + routine.prefix(2), marked: [events[1]] + routine.prefix(2)))
                #expect(await push.pushOnce(allowRoutine: true) == .delivered(sent: [routine[2]], marked: [routine[2]]))
                #expect(await push.pushOnce(allowRoutine: true) == .nothingToSend)
            }
        }
        let bodies = county.bodies
        #expect(bodies.map { $0.reports.map(\.priority) } == [["alarm", "alarm", "event"], ["event", "routine", "routine"], ["routine"]])
        #expect(bodies.allSatisfy { $0.reports.count <= 3 && $0.schema == ReportsDocument.currentSchema && $0.station == TestCounty.station })
        #expect(bodies.map(\.more) == [true, true, false])
        #expect(bodies.allSatisfy { $0.lastSequence == 7 })
        #expect(county.state.withLock { $0.refusals }.isEmpty)
        #expect(county.storedSequences == Set(1...7))
        #expect(fixture.undelivered.isEmpty)
        // The payload arrives as the report's own JSON object.
        let first = try #require(bodies.first?.reports.first)
        // (The origin key is the box's own de-duplication, not part of the wire report.)
        var stored = try #require(try fixture.outbox.reports(after: first.sequence - 1, limit: 1).reports.first?.report)
        stored.originKey = nil
        #expect(first.outboxReport() == stored)
    }

    @Test func onlyTheSequencesTheCountyStoredAreMarked() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        // The county stores 2 and 6, and (wrongly) claims 99, which it was never sent.
        county.script([.storeOnly([2, 6])])
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, client: client)
                #expect(await push.pushOnce(allowRoutine: true) == .delivered(sent: [2, 5, 4, 7, 1, 3, 6], marked: [2, 6]))
            }
        }
        #expect(fixture.undelivered == [1, 3, 4, 5, 7])
    }

    @Test func aLostAnswerLeadsToAResendThatTheCountyDeduplicates() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        county.script([.garbageAfterStoring, .storeAll])
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, client: client)
                guard case .failed(let reason) = await push.pushOnce(allowRoutine: true) else {
                    Issue.record("garbage must be a failure")
                    return
                }
                #expect(reason.contains("stored"))
                #expect(fixture.undelivered == Set(1...7))  // nothing marked on garbage
                #expect(await push.pushOnce(allowRoutine: true) == .delivered(sent: [2, 5, 4, 7, 1, 3, 6], marked: [2, 5, 4, 7, 1, 3, 6]))
            }
        }
        #expect(county.bodies.count == 2)
        #expect(county.bodies[0].reports == county.bodies[1].reports)
        #expect(county.state.withLock { $0.duplicatesReceived } == 7)
        #expect(county.storedSequences == Set(1...7))
        #expect(fixture.undelivered.isEmpty)
    }

    /// Issue 12: a receipt is believed only when the county signed it with the station's key; an
    /// unsigned or wrongly signed one (forged on the path of a plain-HTTP push) marks nothing, and
    /// the reports go again until a genuine receipt comes.
    @Test func aReceiptNotSignedWithTheStationsKeyMarksNothing() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        county.script([.unsignedAfterStoring, .wronglySignedAfterStoring, .storeAll])
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, client: client)
                #expect(await push.pushOnce(allowRoutine: true) == .failed(
                    "the county's receipt has no X-VG-Response-Signature header: nothing is marked delivered and the reports are sent again (docs/county-api.md, Push)"))
                #expect(fixture.undelivered == Set(1...7))
                guard case .failed(let reason) = await push.pushOnce(allowRoutine: true) else {
                    Issue.record("a receipt signed with another key must be refused")
                    return
                }
                #expect(reason.contains("does not verify under the station's key"))
                #expect(fixture.undelivered == Set(1...7))
                #expect(await push.pushOnce(allowRoutine: true) == .delivered(sent: [2, 5, 4, 7, 1, 3, 6], marked: [2, 5, 4, 7, 1, 3, 6]))
            }
        }
        #expect(county.bodies.count == 3)
        #expect(fixture.undelivered.isEmpty)
    }

    @Test func serverErrorsTimeoutsAndRefusedSignaturesMarkNothing() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        county.script([.serverError, .hangAfterStoring])
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, client: client)
                #expect(await push.pushOnce(allowRoutine: true) == .failed("the county answered HTTP 500"))
                // The county stores, then never answers: the request's own bound ends it.
                let impatient = try fixture.transport(port: port, requestTimeoutMilliseconds: 500, client: client)
                guard case .failed = await impatient.pushOnce(allowRoutine: true) else {
                    Issue.record("a request that times out must be a failure")
                    return
                }
                county.releaseHung()
                let wrongKey = try fixture.transport(port: port, key: try SigningKey(hex: String(repeating: "a5", count: 32)), client: client)
                guard case .failed(let reason) = await wrongKey.pushOnce(allowRoutine: true) else {
                    Issue.record("a wrong key must be refused")
                    return
                }
                #expect(reason.contains("401") && reason.contains("bad signature"))
            }
        }
        #expect(fixture.undelivered == Set(1...7))
    }

    @Test func nothingListensIsAFailureAndTheReportsStay() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        try await withHTTPClient { client in
            // Port 1 on loopback: connection refused.
            let push = try fixture.transport(port: 1, requestTimeoutMilliseconds: 1_000, client: client)
            guard case .failed = await push.pushOnce(allowRoutine: true) else {
                Issue.record("a refused connection must be a failure")
                return
            }
            #expect(await TCPReachability.check(PushEndpoint(host: "127.0.0.1", port: 1), timeoutMilliseconds: 2_000) != nil)
        }
        #expect(fixture.undelivered == Set(1...7))
    }

    /// The link-cut test's failure (issue 18): a POST made while the county was unreachable kept
    /// its batch while the client retried the connect, and delivered it after the restore ahead of
    /// the alarms stored meanwhile. The push's client fails a connect that fails: with a request
    /// deadline of two minutes the refused POST comes back as a connection failure, not a deadline.
    @Test func aConnectThatFailsFailsThePushAtOnceSoNoBatchOutlivesTheOutage() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let timings = HTTPPushTimings(connectTimeoutMilliseconds: 120_000, requestTimeoutMilliseconds: 120_000)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPPushTransport.clientConfiguration(timings))
        // Port 1 on loopback: connection refused.
        let push = try fixture.transport(port: 1, requestTimeoutMilliseconds: timings.requestTimeoutMilliseconds, client: client)
        let outcome = await push.pushOnce(allowRoutine: true)
        try await client.shutdown()
        guard case .failed(let reason) = outcome else {
            Issue.record("a refused connection must be a failure, not \(outcome)")
            return
        }
        #expect(!reason.contains("no complete answer within"), "the POST waited for its deadline: \(reason)")
        #expect(fixture.undelivered == Set(1...7))
    }

    @Test func outsideTheWindowOnlyAlarmsArePushed() async throws {
        let fixture = try PushFixture()
        let (_, alarms, _) = try fixture.fillMixed()
        let county = TestCounty()
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, client: client)
                #expect(await push.pushOnce(allowRoutine: false) == .delivered(sent: alarms, marked: alarms))
                #expect(await push.pushOnce(allowRoutine: false) == .nothingToSend)
            }
        }
        #expect(fixture.undelivered == [1, 3, 4, 6, 7])
    }

    @Test func aBadURLOrBatchSizeIsRefusedWithWhatIsAccepted() throws {
        let fixture = try PushFixture()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { try? client.syncShutdown() }
        #expect(throws: PushLinkError.self) {
            _ = try HTTPPushTransport(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: HTTPPushConfiguration(url: "county.example.cn/push", keyFile: "k"),
                key: TestCounty.key, station: PushFixture.station, clock: FixedClock(), client: client, logger: Logger(label: "t"))
        }
        do {
            _ = try HTTPPushTransport(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: HTTPPushConfiguration(url: "http://c/p", keyFile: "k", batchMax: 0),
                key: TestCounty.key, station: PushFixture.station, clock: FixedClock(), client: client, logger: Logger(label: "t"))
            Issue.record("batch_max 0 must be refused")
        } catch {
            #expect(error.description == "push batch_max 0 is outside 1-500")
        }
    }
}
