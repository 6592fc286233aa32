// `county pull` against answers it must not trust (issue 12): a box that dribbles its answer, a
// forged page that would carry the county's progress to 2^63, an oversized report.
import Foundation
import Synchronization
import Testing
@testable import VillageCounty
@testable import VillageGateway

/// A "box" on a plain socket that answers every request with a valid-looking page, one byte every
/// `byteIntervalMilliseconds`: every per-read timeout is satisfied, the whole takes minutes.
final class DribblingBox: Sendable {
    static let byteIntervalMilliseconds: UInt32 = 500
    let port: Int
    private let listener: Int32
    private let stopping = Atomic(false)

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound, listen(listener, 8) == 0 else { throw StateError(description: "the dribbling box cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        let thread = Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                Thread { [self] in dribble(client) }.start()
            }
        }
        thread.start()
    }

    private func dribble(_ client: Int32) {
        defer { close(client) }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        _ = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress!, $0.count) }
        let body = #"{"schema":"village-gateway/reports/1","station":"0011223344","after":0,"reports":[],"gaps":[],"last_sequence":0,"more":false}"#
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        _ = Array(head.utf8).withUnsafeBytes { send(client, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        for byte in body.utf8 {
            if stopping.load(ordering: .relaxed) { return }
            usleep(Self.byteIntervalMilliseconds * 1_000)
            var one = byte
            guard send(client, &one, 1, Int32(MSG_NOSIGNAL)) == 1 else { return }
        }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

@Suite struct CountyPullHostileTests {
    static let key = try! SigningKey(hex: String(repeating: "5a", count: 32))

    @Test func aBoxDribblingItsAnswerIsCutAtTheTimeoutAndTheRunPrintsItsSummary() async throws {
        let site = try CountyPullTests.Site()
        defer { site.remove() }
        let box = try DribblingBox()
        defer { box.stop() }
        let stations = site.directory + "/stations.toml"
        try """
            [[station]]
            id = "0011223344"
            name = "黄坑村"
            url = "http://127.0.0.1:\(box.port)"
            key_file = "\(site.keyFile)"
            """.write(toFile: stations, atomically: true, encoding: .utf8)
        let run = try await CountyPullTests.runOffThePool(["pull", "--stations", stations, "--db", site.countyPath, "--timeout", "2"])
        #expect(run.status == 1, "\(run.standardOutput)\(run.standardError)")
        #expect(run.standardOutput.contains("county pull: 1 station, 0 pulled, 1 not"), "\(run.standardOutput)")
        #expect(run.standardOutput.contains("no complete answer within 2 s"), "\(run.standardOutput)")
    }

    static func page(sequence: Int64, lastSequence: Int64, payload: String = #"{"causes":["rain1-1h"],"from":"green","to":"yellow"}"#) -> String {
        #"{"schema":"village-gateway/reports/2","station":"0011223344","after":0,"reports":[{"sequence":\#(sequence),"time":"2026-07-14T03:12:00+08:00","time_ms":1783969920000,"kind":"level_changed","priority":"alarm","exercise":false,"payload":\#(payload)}],"gaps":[],"last_sequence":\#(lastSequence),"more":false}"#
    }

    /// Pulls once from a box answering `page` (signed by the box's key or not); returns the
    /// result and the county's progress afterwards.
    static func pullForged(page: String, signed: Bool) async throws -> (StationPullResult, Int64) {
        let site = try CountyPullTests.Site()
        defer { site.remove() }
        let box = TestBox(station: "0011223344", key: key, outbox: try site.outbox())
        box.state.withLock {
            $0.forgedPage = page
            $0.signsAnswers = signed
        }
        let result = Mutex<StationPullResult?>(nil)
        try await TestBox.serve([box]) { ports in
            let outcome = try await site.puller().pull([site.station(port: ports[0])])[0]
            result.withLock { $0 = outcome }
        }
        let progress = try await CountyDatabase(path: site.countyPath).begin(site.station(port: 1))
        return (try #require(result.withLock { $0 }), progress.pulledThrough)
    }

    @Test func aForgedPageDoesNotMovePulledThrough() async throws {
        // One forged page with last_sequence 9223372036854774784 moved pulled_through there, and
        // the county would never have asked the box for its real reports again.
        let forged = Self.page(sequence: 9_223_372_036_854_774_784, lastSequence: 9_223_372_036_854_774_784)
        let (unsigned, unsignedProgress) = try await Self.pullForged(page: forged, signed: false)
        #expect(unsigned.failure?.word == "unverified", "\(String(describing: unsigned.failure))")
        #expect(unsignedProgress == 0)
        #expect(unsigned.newReports == 0)
        // Even from the key holder, a number no box can have made is refused.
        let (signed, signedProgress) = try await Self.pullForged(page: forged, signed: true)
        guard case .badDocument(let detail)? = signed.failure else {
            Issue.record("expected a bad document, got \(String(describing: signed.failure))")
            return
        }
        #expect(detail.contains("last_sequence 9223372036854774784 is beyond"), "\(detail)")
        #expect(signedProgress == 0)
    }

    @Test func aReportOverThePayloadLimitIsRefusedNotStored() async throws {
        let payload = #"{"note":""# + String(repeating: "x", count: PullOptions.reportPayloadBytesMax) + #""}"#
        let (result, progress) = try await Self.pullForged(page: Self.page(sequence: 1, lastSequence: 1, payload: payload), signed: true)
        guard case .badDocument(let detail)? = result.failure else {
            Issue.record("expected a bad document, got \(String(describing: result.failure))")
            return
        }
        #expect(detail.contains("report 1 has a payload of \(payload.utf8.count) bytes"), "\(detail)")
        #expect(progress == 0)
        #expect(result.newReports == 0)
    }
}

@Suite struct PushReceiptHostileTests {
    @Test func aReceiptDribbledAByteAtATimeIsCutAtTheRequestTimeoutAndMarksNothing() async throws {
        // The client's own timeout covers only the head: the body used to be read for as long as
        // the peer kept sending, holding the push worker.
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = try DribblingBox()
        defer { county.stop() }
        try await withHTTPClient { client in
            let push = try fixture.transport(port: county.port, requestTimeoutMilliseconds: 1_000, client: client)
            let outcome = await push.pushOnce(allowRoutine: true)
            #expect(outcome == .failed("POST http://127.0.0.1:\(county.port)/v1/push: no complete answer within 1 s"), "\(outcome)")
        }
        #expect(fixture.undelivered == Set(1...7))
    }
}
