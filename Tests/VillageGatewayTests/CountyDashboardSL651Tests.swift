// The station page's SL 651 view (issue 17 item 2): the frame the box would send for a report,
// rebuilt by the county from the v2 report it holds, is the box's own frame byte for byte, and the
// fields the page shows are what the tests' independent decoder (SL651TestSupport) reads from its hex.
import CountyDashboard
import CountyProtocol
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct DashboardSL651Tests {
    static let station = "0011223344"

    /// The box's frame for one of its reports, as its pull API and push make it.
    static func boxFrame(_ report: OutboxReport, sequence: Int64, latestObservation: ObservationSummary?, configuration: EngineConfiguration) throws -> [UInt8] {
        let identity = try SL651StationIdentity(centreAddress: 1, stationAddress: try SL651StationAddress(digits: station), password: 0)
        let frame = try SL651ReportMapping.frame(
            ReportContent(boxKind: report.kind, payload: report.payload), sequence: sequence, time: report.time, exercise: report.exercise,
            identity: identity, serialNumber: SL651FrameMaker.serialNumber(forSequence: sequence),
            sendTime: try SL651ReportMapping.localTime(report.time, utcOffsetMinutes: 480, keepSeconds: true), utcOffsetMinutes: 480,
            latestObservation: latestObservation,
            waterLevelRules: Set(configuration.rules.filter { $0.measure.sensorKind == .waterLevel }.map(\.id)))
        return try #require(frame)
    }

    /// The text of every `<details class="sl651">` on a page, in order.
    static func views(_ page: String) -> [String] {
        page.components(separatedBy: #"<details class="sl651">"#).dropFirst().map { $0.components(separatedBy: "</details>")[0] }
    }

    @Test func theSL651ViewIsTheBoxsFrameAndAnIndependentDecodeAgreesWithItsFields() async throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine
        let start = Timestamp(millisecondsSinceUnixEpoch: DashboardTests.stormStart)
        // The box's hourly summary (its rules among it) and a level change the river causes.
        let measures = configuration.rules.map { rule in
            MeasureStatus(ruleId: rule.id, sensorId: rule.sensorId, measure: rule.measure,
                          value: rule.measure.sensorKind == .waterLevel ? 3.21 : 41.5, levelMet: .orange, thresholds: rule.thresholds)
        }
        let summary = ObservationSummary(
            observedAtMilliseconds: start.millisecondsSinceUnixEpoch, periodMilliseconds: Milliseconds.hour, level: "orange",
            sensors: [
                ObservedSensor(id: "rain1", kind: "rain_gauge", faulty: false, rainMillimetersPeriod: 41.5, rainMillimetersTotal: 321.7,
                               rainMillimeters1h: 41.5, rainMillimeters6h: 88.0, rainMillimetersToday: 120.3,
                               rainMillimeters5min: [nil] + Array(repeating: 3.8, count: 11)),
                ObservedSensor(id: "river1", kind: "water_level", faulty: false, waterLevelMeters: 3.21,
                               waterLevelMeters5min: Array(repeating: 3.2, count: 11) + [nil]),
            ],
            rules: measures.map(ObservedRule.init))
        let boxSummary = ObservationSummariser.report(summary)
        let boxChange = OutboxReport(Report(
            time: start.adding(milliseconds: 30 * Milliseconds.minute), kind: .levelChanged(from: .orange, to: .red, causes: ["river-level"]), exercise: false))

        // The county holds their v2 form, pulled.
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        try fixture.station(Self.station, name: "黄坑村", lastPullAtMilliseconds: DashboardTests.now, pulledThrough: 2, boxLast: 2)
        try fixture.report(Self.station, 1, minutes: 0, "observation_summary", try WirePayload.make(boxKind: boxSummary.kind, boxPayload: boxSummary.payload))
        try fixture.report(Self.station, 2, minutes: 30, "level_changed", try WirePayload.make(boxKind: boxChange.kind, boxPayload: boxChange.payload))
        let store = try SQLiteDashboardStore(path: fixture.databasePath)
        let snapshot = try #require(try await store.station(Self.station, windowMilliseconds: StationPage.windowMilliseconds))
        let state = StationStateBuilder.state(
            row: snapshot.row, latest: snapshot.latest, sensorHealth: [], displayName: nil, nowMilliseconds: DashboardTests.now,
            silentAfterMilliseconds: DashboardTests.silentAfter)
        let page = StationPage.render(snapshot, state: state, configured: nil, nowMilliseconds: DashboardTests.now, user: nil)
        // Newest first: the level change, then the summary.
        let views = Self.views(page)
        #expect(views.count == 2, "one SL 651 view per report with an SL 651 form")

        let expected = [
            (try Self.boxFrame(boxChange, sequence: 2, latestObservation: summary, configuration: configuration), 0x33),
            (try Self.boxFrame(boxSummary, sequence: 1, latestObservation: nil, configuration: configuration), 0x32),
        ]
        for (view, (boxBytes, function)) in zip(views, expected) {
            let hexText = try #require(view.components(separatedBy: #"<pre class="sl651-hex">"#).dropFirst().first?.components(separatedBy: "</pre>").first)
            let shown = sl651Bytes(hexText)
            #expect(sl651Hex(shown) == sl651Hex(boxBytes), "the county shows the box's own bytes")

            let decoded = try sl651DecodeUplink(shown)
            let fields = SL651View.fields(shown)
            #expect(fields.map(\.bytes).reduce([], +) == shown, "the fields cover the frame, in order, nothing twice")
            func value(_ name: String) -> String? { fields.first { $0.name == name }?.value }
            #expect(decoded.function == function)
            #expect(value("中心站地址") == String(decoded.centre))
            #expect(value("遥测站地址") == decoded.station)
            #expect(value("流水号") == String(decoded.serial))
            #expect(value("发报时间") == decoded.sendTime)
            #expect(value("观测时间标识符 F0F0 与时间") == decoded.observationTime)
            #expect(fields.first { $0.name == "遥测站分类码" }?.bytes == [UInt8(decoded.stationClass ?? 0)])
            // Each element: the identifier and the value the independent decoder reads.
            let elements = fields.dropFirst(12).dropLast(2).compactMap { field in field.guide.map { SL651DecodedElement(guide: $0, value: field.value) } }
            #expect(elements == decoded.elements)
            #expect(elements.contains { $0.guide == 0x39 && $0.value == "3.210" }, "the river level, Z")
            // The page shows each field's row with its identifier and value.
            for element in elements {
                #expect(view.contains(#"data-guide="\#(element.guide)""#))
            }
        }
        // ZT of the level change: red, and the water level over its limit (a water-level rule,
        // known to the county from the summary's rules).
        let change = SL651View.fields(sl651Bytes(views[0].components(separatedBy: #"<pre class="sl651-hex">"#)[1].components(separatedBy: "</pre>")[0]))
        let status = try #require(change.first { $0.guide == 0x45 })
        #expect(status.meaning.contains("红色预警") && status.meaning.contains("水位超限"), "\(status.meaning)")
        #expect(change.first { $0.guide == 0x20 }?.value == "41.5", "the level change carries the summary before it")
    }
}
