// The request signature every county API call carries: genuine requests pass once; wrong keys,
// tampering, replays and stale clocks are refused with a reason.
import Crypto
import Foundation
import Testing
@testable import VillageGateway

@Suite struct RequestSignatureTests {
    static let key = try! SigningKey(hex: String(repeating: "5a", count: 32))
    static let otherKey = try! SigningKey(hex: String(repeating: "a5", count: 32))
    static let station = "0011223344"
    static let now: Int64 = 1_780_000_000_000

    static func signed(_ key: SigningKey = key, method: String = "POST", path: String = "/v1/reports/ack", body: String = #"{"through":12}"#, at time: Int64 = now) -> [String: String] {
        var headers: [String: String] = [:]
        for header in RequestSignature.headers(key: key, method: method, pathAndQuery: path, station: station, timestampMilliseconds: time, body: Array(body.utf8)) {
            headers[header.name.lowercased()] = header.value
        }
        return headers
    }

    static func verify(_ verifier: RequestVerifier, _ headers: [String: String], method: String = "POST", path: String = "/v1/reports/ack", body: String = #"{"through":12}"#, at time: Int64 = now) -> SignatureRefusal? {
        verifier.verify(method: method, pathAndQuery: path, header: { headers[$0.lowercased()] }, body: Array(body.utf8), nowMilliseconds: time)
    }

    func verifier() -> RequestVerifier {
        RequestVerifier(station: Self.station, key: Self.key, clockSkewMillisecondsMax: 300_000)
    }

    @Test func aGenuineRequestPassesOnceAndItsReplayIsRefused() {
        let verifier = verifier()
        let headers = Self.signed()
        #expect(Self.verify(verifier, headers) == nil)
        #expect(Self.verify(verifier, headers, at: Self.now + 1_000)?.reason.hasPrefix("replayed request") == true)
    }

    @Test func wrongKeyTamperedBodyAndTamperedPathAreRefused() {
        let verifier = verifier()
        #expect(Self.verify(verifier, Self.signed(Self.otherKey))?.reason.hasPrefix("bad signature") == true)
        #expect(Self.verify(verifier, Self.signed(), body: #"{"through":99999}"#)?.reason.hasPrefix("bad signature") == true)
        #expect(Self.verify(verifier, Self.signed(method: "GET", path: "/v1/reports?after=0", body: ""), method: "GET", path: "/v1/reports?after=100", body: "")?
            .reason.hasPrefix("bad signature") == true)
    }

    @Test func staleAndFutureTimestampsAreRefused() {
        let verifier = verifier()
        #expect(Self.verify(verifier, Self.signed(at: Self.now - 301_000))?.reason.hasPrefix("stale timestamp") == true)
        #expect(Self.verify(verifier, Self.signed(at: Self.now + 301_000))?.reason.hasPrefix("stale timestamp") == true)
        #expect(Self.verify(verifier, Self.signed(at: Self.now - 299_000)) == nil)
    }

    @Test func missingHeadersAndAnotherStationAreRefused() {
        let verifier = verifier()
        var headers = Self.signed()
        headers.removeValue(forKey: RequestSignature.nonceHeader.lowercased())
        #expect(Self.verify(verifier, headers)?.reason.hasPrefix("unsigned request") == true)
        var other = Self.signed()
        other[RequestSignature.stationHeader.lowercased()] = "9999999999"
        #expect(Self.verify(verifier, other)?.reason.hasPrefix("wrong station") == true)
    }

    @Test func theSignedTextIsTheDocumentedOne() {
        // docs/county-api.md: six lines; the last is the body's SHA-256 in lowercase hex.
        let text = RequestSignature.canonicalText(method: "get", pathAndQuery: "/v1/reports?after=0", station: Self.station, timestampMilliseconds: 5, nonce: "n", body: [])
        #expect(text == "GET\n/v1/reports?after=0\n0011223344\n5\nn\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let mac = HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: Self.key.symmetricKey)
        #expect(RequestSignature.signature(key: Self.key, canonicalText: text) == Array(mac).map { String(format: "%02x", $0) }.joined())
    }

    @Test func keysAreHexOfAtLeast32Bytes() throws {
        #expect(throws: SigningKeyError.tooShort(bytes: 16)) { try SigningKey(hex: String(repeating: "ab", count: 16)) }
        #expect(throws: SigningKeyError.notHex) { try SigningKey(hex: String(repeating: "zz", count: 32)) }
        #expect(try SigningKey(hex: String(repeating: "ab", count: 16) + "\n" + String(repeating: "cd", count: 16) + "\n").bytes.count == 32)
    }
}

/// The pages the county pull reads: the fast reader agrees with the Codable one, and names what is wrong.
@Suite struct ReportsDocumentTests {
    static let sample = #"""
        {"after":0,"gaps":[{"count":2,"from":3,"reason":"outbox full","recorded_at":"2026-07-14T03:12:00+08:00","through":5}],
         "last_sequence":9,"more":true,"reports":[{"exercise":false,"kind":"levelChanged",
         "payload":{"levelChanged":{"causes":["rain1-1h"],"from":0,"to":2.5,"flag":true,"none":null,"list":[false,1,"x"]}},
         "priority":"alarm","sequence":1,"time":"2026-07-14T03:12:00+08:00","time_ms":1783969920000}],
         "schema":"village-gateway/reports/1","station":"0011223344"}
        """#

    @Test func theFastReaderAgreesWithTheCodableOne() throws {
        let data = Data(Self.sample.utf8)
        let fast = try ReportsDocument.decode(data)
        #expect(fast == (try JSONDecoder().decode(ReportsDocument.self, from: data)))
        guard case .object(let payload) = fast.reports[0].payload, case .object(let change)? = payload["levelChanged"] else {
            Issue.record("payload is not an object")
            return
        }
        #expect(change["flag"] == .bool(true))
        #expect(change["from"] == .number(0))
        #expect(change["none"] == .null)
        #expect(change["list"] == .array([.bool(false), .number(1), .string("x")]))
    }

    @Test func aBrokenDocumentNamesWhatIsWrong() {
        let missing = Self.sample.replacingOccurrences(of: #""time_ms":1783969920000"#, with: #""time_ms":"soon""#)
        #expect(throws: ReportsDocumentProblem(description: #"reports[0] "time_ms" is not a whole number"#)) {
            try ReportsDocument.decode(Data(missing.utf8))
        }
        #expect(throws: ReportsDocumentProblem(description: "the body is not a JSON object")) { try ReportsDocument.decode(Data("[1]".utf8)) }
    }
}
