// Bytes from outside the box, chosen to hurt (issue 12): headers and numbers that crashed the
// box or overflowed its arithmetic, their relatives, replays across a restart, and the rate.
import Crypto
import ConnectionGuard
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct HostileHeaderTests {
    static let key = try! SigningKey(hex: String(repeating: "5a", count: 32))
    static let station = "0011223344"
    static let now: Int64 = 1_780_000_000_000

    func verifier() -> RequestVerifier {
        RequestVerifier(station: Self.station, key: Self.key, clockSkewMillisecondsMax: 300_000)
    }

    /// Headers signed by the key holder with `timestampText` exactly as written (so a hostile
    /// value is signed too: the box must survive its own county's mistakes).
    static func signed(timestampText: String, signedTimestamp: Int64) -> [String: [String]] {
        let nonce = "0123456789abcdef0123456789abcdef"
        let text = RequestSignature.canonicalText(
            method: "GET", pathAndQuery: "/v1/status", station: station, timestampMilliseconds: signedTimestamp, nonce: nonce, body: [])
        return [
            RequestSignature.stationHeader.lowercased(): [station],
            RequestSignature.timestampHeader.lowercased(): [timestampText],
            RequestSignature.nonceHeader.lowercased(): [nonce],
            RequestSignature.signatureHeader.lowercased(): [RequestSignature.signature(key: key, canonicalText: text)],
        ]
    }

    func verify(_ verifier: RequestVerifier, _ headers: [String: [String]]) -> SignatureRefusal? {
        verifier.verify(method: "GET", pathAndQuery: "/v1/status", headerValues: { headers[$0.lowercased()] ?? [] }, body: [], nowMilliseconds: Self.now)
    }

    @Test func anAcceptOfOnlySemicolonsIsAnsweredWithJSONNotACrash() async throws {
        // `Accept: ;;;` hit "Index out of range" at CountyAPIServer.swift:172 and stopped the box.
        let fixture = try CountyAPIFixture()
        try fixture.fillStorm()
        let path = "/v1/reports?after=0"
        let jsonAccepts = [";;;", ";", ",,,", ",;,;", " ; ; ", "", "；；；", String(repeating: ";", count: 4_000), "application/json;;;", "*/*;q=0;;"]
        try await fixture.test { client in
            for accept in jsonAccepts {
                let headers = fixture.headers("GET", path, extra: [.accept: accept])
                try await client.execute(uri: path, method: .get, headers: headers) { response in
                    #expect(response.status == .ok, "Accept: \(accept.prefix(20))")
                    #expect(response.headers[.contentType] == "application/json", "Accept: \(accept.prefix(20))")
                }
            }
            let headers = fixture.headers("GET", path, extra: [.accept: "text/plain;;;q=1"])
            try await client.execute(uri: path, method: .get, headers: headers) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
            }
        }
        #expect(try CountyAPI.format(query: nil, accept: ";;;") == .json)
        #expect(try CountyAPI.format(query: nil, accept: ";,application/cap+xml;;") == .cap)
    }

    @Test func aSignedTimestampThatWouldOverflowIsRefusedWithAReason() {
        // -9223372036854775807 hit an arithmetic overflow at RequestSignature.swift:145; the others
        // are its relatives: every value outside 1970…9999 is refused before any arithmetic.
        let verifier = verifier()
        for timestamp: Int64 in [-9_223_372_036_854_775_807, .min, -1, .max, .max - 1, OutsideLimits.unixMillisecondsMax + 1] {
            let refusal = verify(verifier, Self.signed(timestampText: String(timestamp), signedTimestamp: timestamp))
            #expect(refusal?.reason.hasPrefix("X-VG-Timestamp must be Unix time in milliseconds") == true, "\(timestamp): \(String(describing: refusal))")
        }
        // A genuine one still passes, and the widest accepted value is merely stale.
        #expect(verify(verifier, Self.signed(timestampText: String(Self.now), signedTimestamp: Self.now)) == nil)
        let last = OutsideLimits.unixMillisecondsMax
        #expect(verify(verifier, Self.signed(timestampText: String(last), signedTimestamp: last))?.reason.hasPrefix("stale timestamp") == true)
    }

    @Test func timestampsThatAreNotPlainDigitsAreRefused() {
        let verifier = verifier()
        let texts = [
            "+1780000000000", " 1780000000000", "1780000000000 ", "1.78e12", "0x19E7", "", "١٧٨٠٠٠٠٠٠٠٠٠٠", "１７８０００００００００００",
            String(repeating: "9", count: 25), "17800000000000000000000", "-0", "1780000000000\u{0}",
        ]
        for text in texts {
            let refusal = verify(verifier, Self.signed(timestampText: text, signedTimestamp: Self.now))
            #expect(refusal?.reason.hasPrefix("X-VG-Timestamp must be") == true, "\(text.debugDescription): \(String(describing: refusal))")
        }
        #expect(OutsideNumber.decimal("0007", in: 0...10) == 7)
        #expect(OutsideNumber.decimal("9223372036854775807", in: 0...Int64.max) == .max)
        #expect(OutsideNumber.decimal("9223372036854775808", in: 0...Int64.max) == nil)
        #expect(OutsideNumber.decimal("99999999999999999999", in: 0...Int64.max) == nil)
    }

    @Test func repeatedOversizedAndNonASCIISigningHeadersAreRefused() {
        let verifier = verifier()
        var headers = Self.signed(timestampText: String(Self.now), signedTimestamp: Self.now)
        headers[RequestSignature.timestampHeader.lowercased()]!.append(String(Self.now - 1))
        #expect(verify(verifier, headers)?.reason == "X-VG-Timestamp appears 2 times; send it once")

        var station = Self.signed(timestampText: String(Self.now), signedTimestamp: Self.now)
        station[RequestSignature.stationHeader.lowercased()] = [String(repeating: "黄坑村", count: 50)]
        #expect(verify(verifier, station)?.reason.hasPrefix("X-VG-Station is over") == true)
        station[RequestSignature.stationHeader.lowercased()] = ["黄坑村"]
        #expect(verify(verifier, station)?.reason.hasPrefix("wrong station") == true)

        var nonce = Self.signed(timestampText: String(Self.now), signedTimestamp: Self.now)
        nonce[RequestSignature.nonceHeader.lowercased()] = [String(repeating: "ñ", count: 20)]
        #expect(verify(verifier, nonce)?.reason.hasPrefix("X-VG-Nonce must be") == true)

        var signature = Self.signed(timestampText: String(Self.now), signedTimestamp: Self.now)
        signature[RequestSignature.signatureHeader.lowercased()] = [String(repeating: "ab", count: 5_000)]
        #expect(verify(verifier, signature)?.reason.hasPrefix("X-VG-Signature is over") == true)
        signature[RequestSignature.signatureHeader.lowercased()] = ["ｆ" + String(repeating: "a", count: 63)]
        #expect(verify(verifier, signature)?.reason.hasPrefix("bad signature") == true)
    }

    @Test func queryNumbersOutsideTheirRangeAreRefusedWith400() async throws {
        let fixture = try CountyAPIFixture()
        try fixture.fillStorm()
        let paths = [
            "/v1/reports?after=-1", "/v1/reports?after=+5", "/v1/reports?after=99999999999999999999", "/v1/reports?after=9223372036854775807",
            "/v1/reports?after=%D9%A5", "/v1/reports?after=", "/v1/reports?after=1&after=2", "/v1/reports?limit=0", "/v1/reports?limit=501",
            "/v1/reports?limit=-1", "/v1/reports?limit=99999999999999999999", "/v1/reports?limit=%EF%BC%95", "/v1/reports?format=%1B%5B2J",
            "/v1/reports?%E9%BB%84=1", "/v1/reports?format=json&format=cap",
        ]
        try await fixture.test { client in
            for path in paths {
                try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                    #expect(response.status == .badRequest, "\(path)")
                    let answer = try? JSONDecoder().decode(APIErrorAnswer.self, from: Data(buffer: response.body))
                    #expect(answer?.error == "bad request", "\(path)")
                    // A refusal never echoes control characters back.
                    #expect(answer?.reason.contains("\u{1B}") == false, "\(path)")
                }
            }
        }
    }

    @Test func overTheRateTheCountyGets429WithRetryAfterAndThenIsServedAgain() async throws {
        // 4,096 accepted requests used to lock every client out with 401 for minutes.
        let pace = Mutex<Int64>(1_000_000)
        let fixture = try CountyAPIFixture(pace: { pace.withLock { $0 } })
        try await fixture.test { client in
            let path = "/v1/reports?after=0"
            for index in 0..<Int(RequestVerifier.requestsBurstMax) {
                try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                    #expect(response.status == .ok, "request \(index)")
                }
            }
            try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "1")
                let answer = try JSONDecoder().decode(APIErrorAnswer.self, from: Data(buffer: response.body))
                #expect(answer.reason.hasPrefix("too many requests: at most 10 a second"), "\(answer.reason)")
            }
            // A tenth of a second later one more token is there: no lock-out.
            pace.withLock { $0 += 1_000 / RequestVerifier.requestsPerSecondSustained }
            try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func everyAnswerIsSignedForTheNonceOfItsRequest() async throws {
        let fixture = try CountyAPIFixture()
        try fixture.fillStorm()
        let path = "/v1/reports?after=0"
        try await fixture.test { client in
            let headers = fixture.headers("GET", path)
            let nonce = try #require(headers[HTTPField.Name(RequestSignature.nonceHeader)!])
            try await client.execute(uri: path, method: .get, headers: headers) { response in
                #expect(response.status == .ok)
                let signature = response.headers[HTTPField.Name(RequestSignature.responseSignatureHeader)!]
                #expect(RequestSignature.isGenuineResponse(
                    key: fixture.key, station: fixture.station, nonce: nonce, status: 200, body: response.body.readableBytesView, signature: signature))
                // Tied to its request: the same answer under another nonce does not verify.
                #expect(!RequestSignature.isGenuineResponse(
                    key: fixture.key, station: fixture.station, nonce: String(nonce.reversed()), status: 200, body: response.body.readableBytesView,
                    signature: signature))
            }
            // A refusal is signed too, so the county can trust its reason.
            let wrong = fixture.headers("GET", path, key: try SigningKey(hex: CountyAPIFixture.wrongKeyHex))
            let wrongNonce = try #require(wrong[HTTPField.Name(RequestSignature.nonceHeader)!])
            try await client.execute(uri: path, method: .get, headers: wrong) { response in
                #expect(response.status == .unauthorized)
                #expect(RequestSignature.isGenuineResponse(
                    key: fixture.key, station: fixture.station, nonce: wrongNonce, status: 401, body: response.body.readableBytesView,
                    signature: response.headers[HTTPField.Name(RequestSignature.responseSignatureHeader)!]))
            }
            // No nonce, nothing to tie a signature to.
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[HTTPField.Name(RequestSignature.responseSignatureHeader)!] == nil)
            }
        }
    }
}

@Suite struct ReplayAcrossRestartTests {
    static let key = try! SigningKey(hex: String(repeating: "5a", count: 32))
    static let station = "0011223344"
    static let now: Int64 = 1_780_000_000_000

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vg-nonces-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func warningHeaders(at time: Int64) -> [String: String] {
        var headers: [String: String] = [:]
        for header in RequestSignature.headers(
            key: key, method: "POST", pathAndQuery: "/v1/warnings", station: station, timestampMilliseconds: time, body: Array(#"{"id":"w1","level":"red"}"#.utf8))
        {
            headers[header.name.lowercased()] = header.value
        }
        return headers
    }

    static func verify(_ verifier: RequestVerifier, _ headers: [String: String], at time: Int64) -> SignatureRefusal? {
        verifier.verify(method: "POST", pathAndQuery: "/v1/warnings", header: { headers[$0.lowercased()] }, body: Array(#"{"id":"w1","level":"red"}"#.utf8), nowMilliseconds: time)
    }

    @Test func aWarningAcceptedBeforeARestartIsRefusedAsAReplayAfterIt() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "replay-test")
        let captured = Self.warningHeaders(at: Self.now)
        do {
            let before = RequestVerifier.withJournal(
                station: Self.station, key: Self.key, clockSkewMillisecondsMax: 300_000, stateDirectory: directory, nowMilliseconds: Self.now, logger: logger)
            #expect(Self.verify(before, captured, at: Self.now) == nil)
        }
        // The box restarts a minute later; the captured request comes again.
        let after = RequestVerifier.withJournal(
            station: Self.station, key: Self.key, clockSkewMillisecondsMax: 300_000, stateDirectory: directory, nowMilliseconds: Self.now + 60_000,
            logger: logger)
        #expect(Self.verify(after, captured, at: Self.now + 60_000)?.reason.hasPrefix("replayed request") == true)
        // A new request from the county is served as before.
        #expect(Self.verify(after, Self.warningHeaders(at: Self.now + 60_000), at: Self.now + 60_000) == nil)
    }

    @Test func theJournalSkipsDamagedLinesAndForgetsExpiredNonces() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let live = "a" + String(repeating: "1", count: 31)
        let expired = "b" + String(repeating: "2", count: 31)
        let text = "\(Self.now + 5_000) \(live)\n\(Self.now - 5_000) \(expired)\n-5 cccccccccccccccccccc\nnot a line\n\(Self.now + 9_000) dddd"
        try text.write(toFile: directory + "/" + NonceJournal.fileName, atomically: true, encoding: .utf8)
        let journal = try NonceJournal(stateDirectory: directory, nowMilliseconds: Self.now, entriesMax: 10)
        #expect(journal.loaded == [live: Self.now + 5_000])
        #expect(journal.damagedLines == 3)
        // Rewritten with the live nonces only, and appended to from there.
        try journal.append(nonce: expired, expiresAtMilliseconds: Self.now + 7_000)
        let lines = try String(contentsOfFile: journal.path, encoding: .utf8).split(separator: "\n")
        #expect(lines == ["\(Self.now + 5_000) \(live)", "\(Self.now + 7_000) \(expired)"])
    }
}

@Suite struct ConnectionLimitTests {
    /// Scripted `accept` results and the waits taken between them.
    final class Script: @unchecked Sendable {
        var results: [(descriptor: Int32, error: Int32)]
        var sleeps: [Int64] = []
        init(_ results: [(descriptor: Int32, error: Int32)]) { self.results = results }
    }

    @Test func anAcceptLoopWaitsOutADescriptorShortageInsteadOfEnding() {
        // The status server's loop ended at the first EMFILE; `status` hung for good after it.
        let script = Script([(-1, EMFILE), (-1, ENFILE), (-1, EINTR), (-1, EMFILE), (7, 0), (-1, EMFILE), (8, 0), (-1, EBADF)])
        var backoff = AcceptBackoff(accept: { _ in script.results.removeFirst() }, sleep: { script.sleeps.append($0) })
        #expect(backoff.accept(3) == 7)
        #expect(script.sleeps == [10, 20, 40])
        // The wait starts small again after a success.
        #expect(backoff.accept(3) == 8)
        #expect(script.sleeps == [10, 20, 40, 10])
        #expect(backoff.shortages == 4)
        // A closed listener ends the loop (the server is stopping).
        #expect(backoff.accept(3) == nil)
    }

    @Test func theWaitIsCappedAtOneSecond() {
        let script = Script(Array(repeating: (-1, EMFILE), count: 12) + [(5, 0)])
        var backoff = AcceptBackoff(accept: { _ in script.results.removeFirst() }, sleep: { script.sleeps.append($0) })
        #expect(backoff.accept(3) == 5)
        #expect(script.sleeps.max() == AcceptBackoff.waitMillisecondsMax)
    }

    @Test func theConnectionLimitLeavesDescriptorsForTheBox() {
        let limits = APIConnectionLimits.standard
        #expect(limits.fitted(descriptorLimit: 65_536, descriptorsOpen: 40).connectionsMax == limits.connectionsMax)
        // Under a tiny ulimit the API shrinks rather than eat the box's reserve.
        #expect(limits.fitted(descriptorLimit: 160, descriptorsOpen: 20).connectionsMax == 12)
        #expect(limits.fitted(descriptorLimit: 64, descriptorsOpen: 20).connectionsMax == APIConnectionLimits.connectionsMin)
    }

    /// Serves the fixture's API with `limits` on a free port until `body` ends.
    static func serve(
        _ fixture: CountyAPIFixture, limits: APIConnectionLimits, registry: APIConnectionRegistry? = nil, _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        let directory = try ReplayAcrossRestartTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let api = fixture.api
        let server = Task { await CountyAPIServer.run(api, host: "127.0.0.1", port: 0, stateDirectory: directory, limits: limits, registry: registry) }
        defer { server.cancel() }
        // Long: the server starts on the cooperative pool, which a full parallel run can starve for
        // a while; only a server that never starts may fail here.
        let deadline = Date().addingTimeInterval(300)
        var port: Int?
        while port == nil, Date() < deadline {
            port = (try? String(contentsOfFile: directory + "/" + CountyAPIServer.portFileName, encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if port == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        try await body(try #require(port))
        server.cancel()
        _ = await server.value
    }

    /// Sends `text`, a request cut short, on a new connection; true when the server closed it
    /// before `seconds` passed.
    static func sendsPartAndIsCut(port: Int, _ text: String, withinSeconds seconds: Int) throws -> Bool {
        let descriptor = try #require(RawHTTP.connectedSocket(port: port, timeoutSeconds: seconds))
        defer { close(descriptor) }
        let part = Array(text.utf8)
        _ = part.withUnsafeBytes { send(descriptor, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        return closedByServer(descriptor, withinSeconds: seconds)
    }

    /// True when the server closed `descriptor` (end of file or reset) before `seconds` passed.
    static func closedByServer(_ descriptor: Int32, withinSeconds seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 1_024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    @Test func aHeadOrBodySentTooSlowlyIsCut() async throws {
        let fixture = try CountyAPIFixture()
        var limits = APIConnectionLimits.standard
        limits.headerTimeoutMilliseconds = 300
        limits.bodyTimeoutMilliseconds = 300
        try await Self.serve(fixture, limits: limits) { port in
            let headCut = try Self.sendsPartAndIsCut(port: port, "GET /v1/status HTTP/1.1\r\nHost: x\r\n", withinSeconds: 20)
            #expect(headCut)
            let bodyCut = try Self.sendsPartAndIsCut(port: port, "POST /v1/warnings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", withinSeconds: 20)
            #expect(bodyCut)
        }
    }

    @Test func overTheLimitTheConnectionIdleLongestMakesRoomForTheCounty() async throws {
        let fixture = try CountyAPIFixture(status: nil)
        var limits = APIConnectionLimits.standard
        limits.connectionsMax = 4
        // Timeouts far beyond the test: only making room can close an idle connection here.
        limits.headerTimeoutMilliseconds = 600_000
        let registry = APIConnectionRegistry(limits: limits)
        try await Self.serve(fixture, limits: limits, registry: registry) { port in
            var idle: [Int32] = []
            defer { for descriptor in idle { close(descriptor) } }
            for _ in 0..<4 {
                idle.append(try #require(RawHTTP.connectedSocket(port: port, timeoutSeconds: 20)))
            }
            let deadline = Date().addingTimeInterval(20)
            while registry.openConnections < 4, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(registry.openConnections == 4)
            // The county's request gets through, and an idle connection made the room.
            let path = "/v1/reports?after=0"
            let fields = fixture.headers("GET", path)
            let answer = RawHTTP.exchange(port: port, method: "GET", path: path, headers: fields.map { ($0.name.rawName, $0.value) })
            #expect(answer?.status == 200)
            #expect(registry.counters.evicted == 1)
            let closed = idle.filter { descriptor in
                var probe = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                return poll(&probe, 1, 0) > 0
            }
            #expect(closed.count == 1)
            #expect(registry.openConnections <= 4)
        }
    }
}
