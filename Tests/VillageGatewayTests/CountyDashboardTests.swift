// The county dashboard (issue 17) without a browser: the state each station shows, the order,
// the store over a database the real pull migrated, the pages' escaping, the login, and a county
// warning signed to a box that checks the signature. The browser test (Tests/Dashboard) runs the
// whole chain against real boxes.
import ConfigurationFiles
import CountyDashboard
import CountyProtocol
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing
import WarningLogic
@testable import VillageCounty
@testable import VillageGateway

struct DashboardFixture {
    let directory: String
    var databasePath: String { directory + "/county.sqlite" }
    var keyFile: String { directory + "/station.hex" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-dashboard-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try (String(repeating: "5a", count: 32) + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        // The real county database: its schema and migration come from the pull's own code.
        _ = try CountyDatabase(path: databasePath)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    func station(_ id: String, name: String, lastPullAtMilliseconds: Int64?, pulledThrough: Int64 = 0, boxLast: Int64 = 0) throws {
        let queue = try DatabaseQueue(path: databasePath)
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO stations (station, name, url, pulled_through, box_last_sequence, last_pull_at_ms) VALUES (?, ?, 'http://127.0.0.1:1', ?, ?, ?)",
                arguments: [id, name, pulledThrough, boxLast, lastPullAtMilliseconds])
        }
    }

    func report(_ station: String, _ sequence: Int64, minutes: Int64, _ kind: String, _ payload: String, exercise: Bool = false) throws {
        let queue = try DatabaseQueue(path: databasePath)
        let time = DashboardTests.stormStart + minutes * 60_000
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
                    VALUES (?, ?, ?, ?, ?, 'event', ?, ?, 0)
                    """,
                arguments: [station, sequence, time, ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: time), utcOffsetMinutes: 480), kind,
                            exercise ? 1 : 0, payload])
        }
    }

    func execute(_ sql: String) throws {
        try DatabaseQueue(path: databasePath).write { db in try db.execute(sql: sql) }
    }
}

@Suite struct DashboardTests {
    /// 2020-08-04T00:00+08:00.
    static let stormStart: Int64 = 1_596_470_400_000
    static let now: Int64 = stormStart + 10 * 3_600_000
    static let silentAfter: Int64 = 15 * 60_000

    static func latest(_ reports: [(Int64, String, String)]) -> [String: StoredReport] {
        var latest: [String: StoredReport] = [:]
        for (sequence, kind, payload) in reports {
            latest[kind] = StoredReport(
                station: "0011223344", sequence: sequence, timeMilliseconds: stormStart + sequence * 60_000, time: "", kind: kind,
                priority: "event", exercise: false, payload: payload)
        }
        return latest
    }

    // MARK: The 叫应

    /// Reports as the store gives them: oldest first.
    static func reports(_ reports: [(Int64, String, String)], exercise: Bool = false) -> [StoredReport] {
        reports.map { sequence, kind, payload in
            StoredReport(
                station: "0011223344", sequence: sequence, timeMilliseconds: stormStart + sequence * 60_000, time: "", kind: kind,
                priority: "event", exercise: exercise, payload: payload)
        }
    }

    static let orangeRequest = (Int64(10), "acknowledgement_requested", #"{"contacts":["李村长","张会计"],"deadline_ms":1,"level":"orange"}"#)

    @Test func aCallWaitsForEveryoneAskedAndEscalatedTo() throws {
        let call = try #require(StationStateBuilder.call(
            Self.latest([Self.orangeRequest]), since: Self.reports([(12, "escalated", #"{"contacts":["王镇长"],"level":"orange","step":1}"#)])))
        #expect(call.asked == ["李村长", "张会计", "王镇长"])
        #expect(call.waiting == ["李村长", "张会计", "王镇长"])
        #expect(call.answers.isEmpty && call.isWaiting && call.escalationStep == 1)
        #expect(call.sinceMilliseconds == Self.stormStart + 600_000 && call.deadlineMilliseconds == 1)
        #expect(StationStateBuilder.call([:], since: []) == nil, "no 叫应 asked")
    }

    @Test func everyAnswerSinceTheRequestIsListedWithWhoIsStillWaitedFor() throws {
        // Issue 14: each contact answers on their own; the box waits for the rest.
        let partial = try #require(StationStateBuilder.call(Self.latest([Self.orangeRequest]), since: Self.reports([
            (11, "acknowledged", #"{"by":"李村长","channel":"sms","level":"orange","requested_at_ms":0,"seconds_to_answer":95}"#),
            (12, "escalated", #"{"called":["张会计"],"contacts":["王镇长"],"level":"orange","step":1}"#),
            (13, "acknowledged", #"{"by":"王镇长","channel":"call","level":"orange","requested_at_ms":0,"seconds_to_answer":200}"#),
        ])))
        #expect(partial.answers == [
            CallAnswer(by: "李村长", channel: "sms", seconds: 95, atMilliseconds: Self.stormStart + 660_000),
            CallAnswer(by: "王镇长", channel: "call", seconds: 200, atMilliseconds: Self.stormStart + 780_000),
        ])
        #expect(partial.waiting == ["张会计"])
        #expect(partial.isWaiting && !partial.isComplete)
        let cell = OverviewPage.callCell(partial)
        #expect(cell.contains(#"data-call="partial">橙色叫应已应答 2/3"#), "\(cell)")
        #expect(cell.contains(#"data-answer="李村长">李村长 经短信 1 分 35 秒后应答"#), "\(cell)")
        #expect(cell.contains(#"data-answer="王镇长">王镇长 经来电 3 分 20 秒后应答"#), "\(cell)")
        #expect(cell.contains(#"data-waiting="1">仍待：张会计"#), "\(cell)")
        #expect(cell.contains("（已升级第 1 步）"))

        // The last one answers: complete, every answer still listed.
        let complete = try #require(StationStateBuilder.call(Self.latest([Self.orangeRequest]), since: Self.reports([
            (11, "acknowledged", #"{"by":"李村长","channel":"sms","level":"orange","requested_at_ms":0,"seconds_to_answer":95}"#),
            (14, "acknowledged", #"{"by":"张会计","channel":"keypress","level":"orange","requested_at_ms":0,"seconds_to_answer":300}"#),
        ])))
        #expect(complete.isComplete && !complete.isWaiting && complete.answers.map(\.by) == ["李村长", "张会计"])
        #expect(OverviewPage.callCell(complete).contains(#"data-call="answered">橙色叫应已全部应答"#))
        #expect(OverviewPage.callCell(complete).contains("张会计 经电话按键 5 分后应答"))

        // The box's button answers for everyone.
        let button = try #require(StationStateBuilder.call(Self.latest([Self.orangeRequest]), since: Self.reports([
            (11, "acknowledged", #"{"by":"button","channel":"button","level":"orange","requested_at_ms":0,"seconds_to_answer":30}"#),
        ])))
        #expect(button.isComplete && button.answers.map(\.by) == ["button"])

        // The policy ran out: who never answered is named; a late answer still shows.
        var latest = Self.latest([Self.orangeRequest])
        latest.merge(Self.latest([(20, "acknowledgement_unanswered", #"{"level":"orange","unanswered":["张会计"]}"#)])) { $1 }
        let ranOut = try #require(StationStateBuilder.call(latest, since: Self.reports([
            (11, "acknowledged", #"{"by":"李村长","channel":"sms","level":"orange","requested_at_ms":0,"seconds_to_answer":95}"#),
        ])))
        #expect(!ranOut.isWaiting && ranOut.unansweredAtMilliseconds == Self.stormStart + 1_200_000 && ranOut.waiting == ["张会计"])
        #expect(OverviewPage.callCell(ranOut).contains(#"data-call="unanswered">橙色叫应超时，仍有人未应答"#))
        #expect(OverviewPage.callCell(ranOut).contains("未应答：张会计"))

        // Answers before the request, or to a drill's 叫应, are not answers to this one.
        let other = try #require(StationStateBuilder.call(
            Self.latest([Self.orangeRequest]),
            since: Self.reports([(9, "acknowledged", #"{"by":"李村长","channel":"sms","level":"yellow","requested_at_ms":0,"seconds_to_answer":5}"#)])
                + Self.reports([(11, "acknowledged", #"{"by":"张会计","channel":"sms","level":"blue","requested_at_ms":0,"seconds_to_answer":5}"#)], exercise: true)))
        #expect(other.answers.isEmpty && other.waiting == ["李村长", "张会计"])
    }

    @Test func anOlderBoxsOneAnswerEndsItsCallWithTheSecondsFromTheRequest() throws {
        let older = try #require(StationStateBuilder.call(
            Self.latest([(10, "acknowledgement_requested", #"{"contacts":["李村长","张会计"],"deadline_ms":1,"level":"red"}"#)]),
            since: Self.reports([(11, "acknowledged", #"{"by":"李村长","level":"red","requested_at_ms":\#(Self.stormStart + 600_000)}"#)])))
        #expect(older.answers == [CallAnswer(by: "李村长", channel: nil, seconds: 60, atMilliseconds: Self.stormStart + 660_000)])
        #expect(older.isComplete)
        #expect(OverviewPage.callCell(older).contains(#"data-answer="李村长">李村长 1 分后应答"#))
    }

    // MARK: State and order

    @Test func theStateShowsLevelCausesDrillSensorsSilenceAndBacklog() {
        var row = StationRow(station: "0011223344", name: "db name", pulledThrough: 40, boxLastSequence: 55, lastPullAtMilliseconds: Self.now - 20 * 60_000)
        row.missingNumbers = 3
        let latest = Self.latest([
            (5, "level_changed", #"{"causes":["rain-1h","rain-3h"],"from":"orange","to":"red"}"#),
            (6, "drill", #"{"by":"shell","level":"yellow","started":true}"#),
            (7, "observation_summary", #"{"level":"red","observed_at_milliseconds":0,"period_milliseconds":3600000,"sensors":[{"faulty":false,"id":"rain1","kind":"rain_gauge"},{"faulty":false,"id":"river1","kind":"water_level"}]}"#),
        ])
        // Newer than the summary: river1 went faulty.
        let health = [StoredReport(station: "0011223344", sequence: 8, timeMilliseconds: Self.stormStart + 480_000, time: "", kind: "sensor_health",
                                   priority: "event", exercise: false, payload: #"{"faulty":true,"reason":"no reading","sensor_id":"river1"}"#)]
        let state = StationStateBuilder.state(
            row: row, latest: latest, callReports: [], sensorHealth: health, displayName: "黄坑村", nowMilliseconds: Self.now, silentAfterMilliseconds: Self.silentAfter)
        #expect(state.name == "黄坑村")
        #expect(state.level == .red)
        #expect(state.levelSinceMilliseconds == Self.stormStart + 300_000)
        #expect(state.causes == ["rain-1h", "rain-3h"])
        #expect(state.drill?.level == .yellow)
        #expect(state.faultySensors.map(\.id) == ["river1"])
        #expect(state.faultySensors.first?.reason == "no reading")
        #expect(state.silent)
        #expect(state.backlog == 15)
        #expect(state.summaryPeriodMilliseconds == 3_600_000)
        let fresh = StationStateBuilder.state(
            row: StationRow(station: "1", name: "x", pulledThrough: 0, boxLastSequence: 0, lastPullAtMilliseconds: Self.now - 60_000), latest: [:],
            callReports: [], sensorHealth: [], displayName: nil, nowMilliseconds: Self.now, silentAfterMilliseconds: Self.silentAfter)
        #expect(!fresh.silent)
        #expect(fresh.level == .none)
    }

    @Test func theOverviewPutsTheMostSevereFirst() async throws {
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        try fixture.station("0000000001", name: "无事村", lastPullAtMilliseconds: Self.now)
        try fixture.station("0000000002", name: "橙村", lastPullAtMilliseconds: Self.now)
        try fixture.station("0000000003", name: "红村", lastPullAtMilliseconds: Self.now)
        try fixture.station("0000000004", name: "橙村待应", lastPullAtMilliseconds: Self.now)
        try fixture.station("0000000005", name: "失联村", lastPullAtMilliseconds: Self.now - 3_600_000)
        try fixture.report("0000000002", 1, minutes: 1, "level_changed", #"{"causes":["r"],"from":"none","to":"orange"}"#)
        try fixture.report("0000000003", 1, minutes: 1, "level_changed", #"{"causes":["r"],"from":"none","to":"red"}"#)
        try fixture.report("0000000004", 1, minutes: 1, "level_changed", #"{"causes":["r"],"from":"none","to":"orange"}"#)
        try fixture.report("0000000004", 2, minutes: 2, "acknowledgement_requested", #"{"contacts":["a"],"deadline_ms":0,"level":"orange"}"#)
        let store = try SQLiteDashboardStore(path: fixture.databasePath)
        let states = try await store.overview()
        let ordered = OverviewPage.states(states, configured: [], nowMilliseconds: Self.now, silentAfterMilliseconds: Self.silentAfter)
        #expect(ordered.map(\.name) == ["红村", "橙村待应", "橙村", "失联村", "无事村"])
        let page = OverviewPage.render(ordered, nowMilliseconds: Self.now, silentAfterMilliseconds: Self.silentAfter, user: nil)
        #expect(page.contains(#"data-count-level="red">红 1<"#))
        #expect(page.contains(#"data-count-level="orange">橙 2<"#))
        #expect(page.contains(#"data-count="silent">失联 1<"#))
        #expect(page.contains(#"data-count="waiting">待叫应 1<"#))
        #expect(page.contains("location.reload"))
    }

    @Test func aConfiguredBoxNeverPulledIsShownSilent() throws {
        let snapshot = OverviewSnapshot(stations: [], latest: [:], sensorHealth: [:])
        let states = OverviewPage.states(
            snapshot, configured: [DashboardStation(id: "0011223344", name: "新村", url: "http://x", keyFile: "k")], nowMilliseconds: Self.now,
            silentAfterMilliseconds: Self.silentAfter)
        #expect(states.count == 1)
        #expect(states.first?.silent == true)
        #expect(OverviewPage.render(states, nowMilliseconds: Self.now, silentAfterMilliseconds: 1, user: nil).contains("从未联系"))
    }

    // MARK: A station's page

    @Test func aStationsPageExplainsGapsAndConflictsAndShowsCAP() async throws {
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        try fixture.station("0011223344", name: "黄坑村", lastPullAtMilliseconds: Self.now, pulledThrough: 9, boxLast: 9)
        try fixture.report("0011223344", 1, minutes: 0, "observation_summary",
                           #"{"level":"none","observed_at_milliseconds":\#(Self.stormStart),"period_milliseconds":3600000,"sensors":[{"faulty":false,"id":"rain1","kind":"rain_gauge","rain_millimeters1h":3.5,"rain_millimeters_period":3.5}]}"#)
        try fixture.report("0011223344", 2, minutes: 30, "level_changed", #"{"causes":["rain-1h"],"from":"none","to":"red"}"#)
        try fixture.report("0011223344", 6, minutes: 60, "observation_summary",
                           #"{"level":"red","observed_at_milliseconds":\#(Self.stormStart + 3_600_000),"period_milliseconds":3600000,"sensors":[{"faulty":false,"id":"rain1","kind":"rain_gauge","rain_millimeters1h":41.0,"rain_millimeters_period":41.0}]}"#)
        try fixture.execute("INSERT INTO gaps VALUES ('0011223344', 3, 4, 2, 'outbox full: routine thinned', '', 0)")
        try fixture.execute("INSERT INTO missing VALUES ('0011223344', 5, 5, 0)")
        try fixture.execute("INSERT INTO conflicts VALUES ('0011223344', 2, 0, 'level_changed', 'alarm', 0, '{\"to\":\"blue\"}', 0)")
        let store = try SQLiteDashboardStore(path: fixture.databasePath)
        let found = try await store.station("0011223344", windowMilliseconds: StationPage.windowMilliseconds)
        let snapshot = try #require(found)
        #expect(snapshot.reports.map(\.sequence) == [1, 2, 6])
        #expect(snapshot.gaps.map(\.count) == [2])
        #expect(snapshot.missing.map(\.from) == [5])
        #expect(snapshot.conflicts.first?.first?.kind == "level_changed")
        let state = StationStateBuilder.state(
            row: snapshot.row, latest: snapshot.latest, callReports: snapshot.calls, sensorHealth: [], displayName: nil, nowMilliseconds: Self.now,
            silentAfterMilliseconds: Self.silentAfter)
        let page = StationPage.render(snapshot, state: state, configured: nil, nowMilliseconds: Self.now, user: nil)
        #expect(page.contains("第 3–4 号（2 条）"))
        #expect(page.contains("outbox full: routine thinned"))
        #expect(page.contains("第 5–5 号（1 个编号）：盒子没有发来，也没有声明缺口"))
        #expect(page.contains("第 2 号被再次发送但内容不同"))
        // The chart: the level as bands (none, then red) and the rain panels.
        #expect(page.contains(#"class="level-band" data-level="none""#))
        #expect(page.contains(#"class="level-band" data-level="red""#))
        #expect(page.contains("rain1 1 小时雨量"))
        // The level change's CAP alert, escaped into the page.
        #expect(page.contains("&lt;alert xmlns=&quot;urn:oasis:names:tc:emergency:cap:1.2&quot;&gt;"))
        #expect(page.contains("&lt;identifier&gt;VG-0011223344-2&lt;/identifier&gt;"))
        let unknown = try await store.station("9999999999", windowMilliseconds: 1)
        #expect(unknown == nil)
    }

    @Test func whatABoxSentIsEscapedEverywhere() {
        let hostile = "<script>alert(1)</script>"
        var row = StationRow(station: "0011223344", name: hostile, pulledThrough: 0, boxLastSequence: 0, lastPullAtMilliseconds: Self.now)
        row.name = hostile
        let latest = Self.latest([(1, "level_changed", #"{"causes":["<img src=x>"],"from":"none","to":"red"}"#)])
        let state = StationStateBuilder.state(
            row: row, latest: latest, callReports: [], sensorHealth: [], displayName: nil, nowMilliseconds: Self.now, silentAfterMilliseconds: 1)
        let page = OverviewPage.render([state], nowMilliseconds: Self.now, silentAfterMilliseconds: 1, user: nil)
        #expect(!page.contains("<script>alert"))
        #expect(!page.contains("<img src=x>"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    }

    @Test func theMapPlacesStationsByCoordinatesColouredByLevel() {
        let states = [
            StationStateBuilder.state(
                row: StationRow(station: "0000000001", name: "北村", pulledThrough: 0, boxLastSequence: 0, lastPullAtMilliseconds: Self.now),
                latest: Self.latest([(1, "level_changed", #"{"causes":[],"from":"none","to":"red"}"#)]), callReports: [], sensorHealth: [], displayName: nil,
                nowMilliseconds: Self.now, silentAfterMilliseconds: Self.silentAfter),
            StationStateBuilder.state(
                row: StationRow(station: "0000000002", name: "南村", pulledThrough: 0, boxLastSequence: 0, lastPullAtMilliseconds: Self.now),
                latest: [:], callReports: [], sensorHealth: [], displayName: nil, nowMilliseconds: Self.now, silentAfterMilliseconds: Self.silentAfter),
        ]
        let configured = [
            DashboardStation(id: "0000000001", name: "北村", url: "", keyFile: "", latitude: 28.2, longitude: 120.9),
            DashboardStation(id: "0000000002", name: "南村", url: "", keyFile: "", latitude: 28.0, longitude: 120.9),
        ]
        let page = MapPage.render(states, configured: configured, user: nil)
        // North is up: the northern village is drawn higher (smaller y).
        func y(_ id: String) -> Double? {
            guard let range = page.range(of: "data-station=\"\(id)\""), let cy = page[range.upperBound...].range(of: "cy=\"") else { return nil }
            return Double(page[cy.upperBound...].prefix { $0 != "\"" })
        }
        let north = y("0000000001")
        let south = y("0000000002")
        #expect(north != nil && south != nil)
        #expect((north ?? 0) < (south ?? 0))
        #expect(page.contains(##"fill="#d62728""##))
        #expect(MapPage.render(states, configured: [], user: nil).contains("站点清单里没有坐标"))
    }

    // MARK: Stations file, passwords

    @Test func theStationsFileTakesOptionalCoordinates() throws {
        let stations = try StationsFile.parse(
            text: "[[station]]\nid = \"0011223344\"\nname = \"黄坑村\"\nurl = \"http://10.0.0.7:8651\"\nkey_file = \"k.hex\"\nlatitude = 28.13\nlongitude = 120\n",
            file: "s.toml")
        #expect(stations.first?.latitude == 28.13)
        #expect(stations.first?.longitude == 120)
        let base = "[[station]]\nid = \"0011223344\"\nname = \"x\"\nurl = \"http://10.0.0.7:8651\"\nkey_file = \"k.hex\"\n"
        #expect(throws: ConfigurationError.self) { try StationsFile.parse(text: base + "latitude = 95.0\nlongitude = 120.0\n", file: "s.toml") }
        do {
            _ = try StationsFile.parse(text: base + "latitude = 28.1\n", file: "s.toml")
            Issue.record("one coordinate alone was accepted")
        } catch {
            #expect(error.description.contains("give both latitude and longitude"))
        }
    }

    @Test func passwordsAreHashedAsThePINIsAndTheUsersFileIsChecked() throws {
        let hash = PasswordHash.make(password: "correct horse", rounds: 1_000)
        #expect(hash.description.hasPrefix("pbkdf2-sha256$1000$"))
        let parsed = try #require(PasswordHash.parse(hash.description))
        #expect(parsed.matches(password: "correct horse"))
        #expect(!parsed.matches(password: "correct horsf"))
        let users = try UsersFile.parse("# duty officers\n张三 \(hash)\n", file: "users")
        #expect(users["张三"] != nil)
        #expect(throws: DashboardConfigurationError.self) { try UsersFile.parse("张三 secret\n", file: "users") }
        #expect(throws: DashboardConfigurationError.self) { try UsersFile.parse("张三 \(hash)\n张三 \(hash)\n", file: "users") }
    }

    @Test func serveListensOnLoopbackUnlessGivenUsers() throws {
        #expect(ServeCommand.hostAndPort("127.0.0.1:8650")! == ("127.0.0.1", 8650))
        #expect(ServeCommand.hostAndPort("[::1]:0")! == ("::1", 0))
        #expect(ServeCommand.hostAndPort("8650") == nil)
        #expect(ServeCommand.isLoopback("127.0.0.1") && ServeCommand.isLoopback("::1") && ServeCommand.isLoopback("localhost"))
        #expect(!ServeCommand.isLoopback("0.0.0.0") && !ServeCommand.isLoopback("10.0.0.5"))
        #expect(try ServeCommand.parse(["--db", "x"]).listen == "127.0.0.1:8650")
    }

    // MARK: The server: login, warnings

    static func dashboard(_ fixture: DashboardFixture, users: [String: PasswordHash]?, stations: [DashboardStation]) throws -> Dashboard {
        var options = DashboardOptions(auditPath: fixture.directory + "/audit.jsonl")
        options.users = users
        options.stations = stations
        return try Dashboard(store: try SQLiteDashboardStore(path: fixture.databasePath), options: options, logger: Logger(label: "test"),
                             clock: { VillageCounty.wallClockMilliseconds() })
    }

    @Test func offLoopbackEveryPageNeedsALogin() async throws {
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        try fixture.station("0011223344", name: "黄坑村", lastPullAtMilliseconds: Self.now)
        let dashboard = try Self.dashboard(fixture, users: ["张三": PasswordHash.make(password: "correct horse", rounds: 1_000)], stations: [])
        try await Application(router: dashboard.router()).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/login")
            }
            let wrong = ByteBuffer(string: "user=%E5%BC%A0%E4%B8%89&password=wrong+horse")
            try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: wrong) { response in
                #expect(response.status == .unauthorized)
            }
            let right = ByteBuffer(string: "user=%E5%BC%A0%E4%B8%89&password=correct+horse")
            let cookie = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: right) { response in
                #expect(response.status == .seeOther)
                return try #require(response.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            }
            try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
                let page = String(buffer: response.body)
                #expect(page.contains("黄坑村"))
                #expect(page.contains("张三"))
            }
        }
    }

    /// A box's warnings endpoint that checks the signature as the real API does.
    final class WarnedBox: Sendable {
        let received = Mutex<[String]>([])
        let verifier = RequestVerifier(station: "0011223344", key: try! SigningKey(hex: String(repeating: "5a", count: 32)), clockSkewMillisecondsMax: 300_000)

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            router.post("/v1/warnings") { request, _ -> Response in
                let body = Array(buffer: try await request.body.collect(upTo: 65_536))
                let headers = request.headers
                if let refusal = self.verifier.verify(
                    method: "POST", pathAndQuery: request.uri.description, header: { name in HTTPField.Name(name).flatMap { headers[$0] } }, body: body,
                    nowMilliseconds: VillageCounty.wallClockMilliseconds())
                {
                    return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: refusal.reason)))
                }
                self.received.withLock { $0.append(String(decoding: body, as: UTF8.self)) }
                return Response(status: .accepted, body: .init(byteBuffer: ByteBuffer(string: #"{"submitted":"warning"}"#)))
            }
            return router
        }
    }

    @Test func aWarningGoesOutSignedOnlyAfterConfirmationAndIsAudited() async throws {
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        let box = WarnedBox()
        try await Application(router: box.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { boxClient in
            let port = try #require(boxClient.port)
            let stations = [DashboardStation(id: "0011223344", name: "黄坑村", url: "http://127.0.0.1:\(port)", keyFile: fixture.keyFile)]
            let users = ["张三": PasswordHash.make(password: "correct horse", rounds: 1_000)]
            let dashboard = try Self.dashboard(fixture, users: users, stations: stations)
            try await Application(router: dashboard.router()).test(.router) { client in
                let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                let cookie = try await client.execute(
                    uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "user=%E5%BC%A0%E4%B8%89&password=correct+horse")
                ) { try #require($0.headers[.setCookie]?.split(separator: ";").first.map(String.init)) }
                var headers = form
                headers[.cookie] = cookie
                // A station not in the list, or no level: refused with a reason, nothing sent.
                try await client.execute(uri: "/warnings/confirm", method: .post, headers: headers,
                                         body: ByteBuffer(string: "id=w1&level=red&station=9999999999")) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains("不在站点清单里"))
                }
                // The confirmation page holds the one-time token; nothing is sent yet.
                let token = try await client.execute(
                    uri: "/warnings/confirm", method: .post, headers: headers,
                    body: ByteBuffer(string: "id=county-1&level=red&message=%E7%AB%8B%E5%8D%B3%E8%BD%AC%E7%A7%BB&station=0011223344&action=warn")
                ) { response in
                    #expect(response.status == .ok)
                    let page = String(buffer: response.body)
                    #expect(page.contains("红色预警"))
                    #expect(page.contains("黄坑村"))
                    let marker = try #require(page.range(of: #"name="token" value=""#))
                    return String(page[marker.upperBound...].prefix(32))
                }
                #expect(box.received.withLock { $0 }.isEmpty)
                try await client.execute(uri: "/warnings/send", method: .post, headers: headers, body: ByteBuffer(string: "token=\(token)")) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains("1/1 个站已接受"))
                }
                // A token is good once.
                try await client.execute(uri: "/warnings/send", method: .post, headers: headers, body: ByteBuffer(string: "token=\(token)")) { response in
                    #expect(response.status == .badRequest)
                }
            }
        }
        let bodies = box.received.withLock { $0 }
        #expect(bodies == [#"{"id":"county-1","level":"red","message":"立即转移"}"#])
        let audit = try String(contentsOfFile: fixture.directory + "/audit.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(audit.count == 2)
        #expect(audit.allSatisfy { $0.contains(#""user":"张三""#) })
        #expect(audit[0].contains(#""stage":"confirmed""#))
        #expect(audit[1].contains(#""accepted":true"#))
    }
}
