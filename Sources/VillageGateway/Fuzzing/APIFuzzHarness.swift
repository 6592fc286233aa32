// The county API as a fuzz target: one whole request per input, through the same router the
// server runs, over an outbox holding a storm's reports (and damaged rows).
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import TimeSeam
import WarningLogic

/// The input is a request in HTTP/1.1 text: `METHOD PATH?QUERY`, then `Name: value` lines, an
/// empty line, the body. The first byte is a switch: odd, the harness signs the request with
/// the station's key at the right time (X-VG-* headers from the input are replaced), so the
/// input reaches the handlers; even, the input's own headers meet the signature check.
///
/// `@unchecked Sendable`: the fuzzer calls it from its one thread, and NIO's `EmbeddedChannel`
/// is single-threaded by design; nothing else touches it.
final class APIFuzzHarness: @unchecked Sendable {
    static let keyHex = String(repeating: "0123456789abcdef", count: 4)
    static let nowMilliseconds: Int64 = 1_784_056_320_000
    /// Bounds what one input may make the harness send (the API caps bodies at 16 KiB itself).
    static let requestBytesMax = 64 * 1024

    let responder: RouterResponder<BasicRequestContext>
    let key: SigningKey
    let station: String
    let directory: String
    private let channel = EmbeddedChannel()
    static let verbose = ProcessInfo.processInfo.environment["VG_FUZZ_VERBOSE"] == "1"
    private let logger: Logger

    init(gateway: GatewayConfiguration) throws {
        directory = NSTemporaryDirectory() + "vg-fuzz-api-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let outbox = try Outbox(path: "\(directory)/outbox.sqlite")
        try Self.fill(outbox, station: gateway.engine.station)
        key = try SigningKey(hex: Self.keyHex)
        station = gateway.engine.station.id
        var logger = Logger(label: "fuzz-api")
        logger.logLevel = .critical
        self.logger = logger
        let api = CountyAPI(environment: CountyAPIEnvironment(
            configuration: gateway.engine, county: gateway.county, outbox: outbox,
            outboxWriter: OutboxService(outbox: outbox, keepDeliveredMilliseconds: gateway.county.keepDeliveredMilliseconds, logger: logger),
            verifier: RequestVerifier(station: station, key: key, clockSkewMillisecondsMax: 5 * 60_000),
            events: DiscardingEventSink(), boxClock: StandingClock(time: Timestamp(millisecondsSinceUnixEpoch: Self.nowMilliseconds)),
            wallClockMilliseconds: { Self.nowMilliseconds }, status: { nil }, logger: logger))
        responder = api.router().buildResponder()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A storm's reports of every kind the formats map, and rows damaged on disk.
    static func fill(_ outbox: Outbox, station: StationIdentity) throws {
        let base = Timestamp(millisecondsSinceUnixEpoch: nowMilliseconds - 3 * Milliseconds.hour)
        let summary = ObservationSummary(
            observedAtMilliseconds: base.millisecondsSinceUnixEpoch, periodMilliseconds: Milliseconds.hour, level: "none", supplyVolts: 12.5,
            sensors: [
                ObservedSensor(id: "rain1", kind: "rain_gauge", faulty: false, rainMillimetersPeriod: 4.0, rainMillimetersTotal: 4.0,
                               rainMillimeters1h: 4.0, rainMillimeters6h: 10.2, rainMillimetersToday: 12.4),
                ObservedSensor(id: "river1", kind: "water_level", faulty: false, waterLevelMeters: 10.49),
            ])
        _ = try outbox.appendBatch([
            ObservationSummariser.report(summary),
            OutboxReport(Report(time: base.adding(milliseconds: 600_000), kind: .levelChanged(from: .none, to: .yellow, causes: ["rain-1h"]), exercise: false)),
            OutboxReport(Report(time: base.adding(milliseconds: 700_000), kind: .sensorHealth(sensorId: "slope1", faulty: true, reason: "no data"), exercise: false)),
            OutboxReport(Report(time: base.adding(milliseconds: 800_000), kind: .countyWarning(id: "county-1", level: .orange, cancelled: false), exercise: false)),
            OutboxReport(Report(time: base.adding(milliseconds: 900_000), kind: .levelChanged(from: .yellow, to: .red, causes: ["drill"]), exercise: true)),
            OutboxReport(Report(time: base.adding(milliseconds: 950_000), kind: .levelChanged(from: .none, to: .red, causes: ["rain-1h"]), exercise: false)),
        ])
        try outbox.damageRowsForTesting()
    }

    func run(_ bytes: [UInt8]) {
        guard let first = bytes.first, bytes.count <= Self.requestBytesMax else { return }
        let text = bytes.dropFirst()
        // Head and body split at the first empty line (CRLF or LF).
        var headEnd = text.endIndex
        var bodyStart = text.endIndex
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == 0x0A {
                let next = text.index(after: index)
                if next < text.endIndex, text[next] == 0x0A { headEnd = index; bodyStart = text.index(after: next); break }
                if next + 1 < text.endIndex, text[next] == 0x0D, text[next + 1] == 0x0A { headEnd = index; bodyStart = next + 2; break }
            }
            index += 1
        }
        let body = Array(text[bodyStart...])
        let headLines = String(decoding: text[text.startIndex..<headEnd], as: UTF8.self)
            // "\r\n" is one Character in Swift: split on both forms of a line end.
            .split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
        guard let requestLine = headLines.first else { return }
        let parts = requestLine.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let method = HTTPRequest.Method(String(parts[0])) else { return }
        let pathAndQuery = String(parts[1])
        var fields = HTTPFields()
        for line in headLines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else { continue }
            fields.append(HTTPField(name: name, value: String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        if first & 1 == 1 {
            for name in ["X-VG-Station", "X-VG-Timestamp", "X-VG-Nonce", "X-VG-Signature"] { fields[HTTPField.Name(name)!] = nil }
            // A new nonce each time: the verifier remembers the ones it has seen.
            for (name, value) in RequestSignature.headers(
                key: key, method: method.rawValue, pathAndQuery: pathAndQuery, station: station,
                timestampMilliseconds: Self.nowMilliseconds, body: body)
            {
                fields[HTTPField.Name(name)!] = value
            }
        }
        let head = HTTPRequest(method: method, scheme: "http", authority: "box", path: pathAndQuery, headerFields: fields)
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: body)))
        let context = BasicRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
        let responder = self.responder
        let verbose = Self.verbose
        Self.waitFor {
            let response = try? await responder.respond(to: request, context: context)
            // VG_FUZZ_VERBOSE=1: what each input was answered, to check that seeds get past the signature.
            if verbose { print("\(method.rawValue) \(pathAndQuery) -> \(response.map { "\($0.status.code)" } ?? "thrown")") }
        }
    }

    /// libFuzzer calls synchronously; the router is async.
    static func waitFor(_ body: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        Task {
            await body()
            done.signal()
        }
        done.wait()
    }
}

/// County warnings the fuzzer submits go nowhere: there is no engine behind the harness.
struct DiscardingEventSink: EventSink {
    func submit(_ event: Event) async {}
}
