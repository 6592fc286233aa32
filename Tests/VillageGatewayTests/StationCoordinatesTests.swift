// `[station] latitude`/`longitude` (issue 17): read and checked with the other station keys, and
// carried into the CAP alert's `<area>` as a `<circle>` the OASIS schema accepts.
import CountyProtocol
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct StationCoordinatesTests {
    @Test func coordinatesAreReadBothOrNeitherAndInRange() throws {
        let text = ConfigurationFixtures.minimal(replacing: "name = \"黄坑村\"", with: "name = \"黄坑村\"\nlatitude = 28.1352\nlongitude = 120.9571")
        let configuration = try ConfigurationLoader.parse(text: text, file: "site.toml")
        #expect(configuration.engine.station.latitude == 28.1352)
        #expect(configuration.engine.station.longitude == 120.9571)
        let without = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal, file: "site.toml")
        #expect(without.engine.station.latitude == nil)

        let alone = ConfigurationFixtures.problems(ConfigurationFixtures.minimal(replacing: "name = \"黄坑村\"", with: "name = \"黄坑村\"\nlatitude = 28.1"))
        #expect(alone.contains { $0.allowed.contains("give both latitude and longitude") }, "\(alone)")
        let outside = ConfigurationFixtures.problems(
            ConfigurationFixtures.minimal(replacing: "name = \"黄坑村\"", with: "name = \"黄坑村\"\nlatitude = 128.1\nlongitude = 120.9"))
        #expect(outside.contains { $0.key.hasSuffix("latitude") && $0.allowed.contains("-90 to 90") }, "\(outside)")
    }

    @Test func aStationWithCoordinatesGetsACircleInItsCAPArea() throws {
        let station = StationIdentity(id: "0011223344", name: "黄坑村", utcOffsetMinutes: 480, latitude: 28.1352, longitude: 120.9571)
        let report = Report(time: Timestamp(millisecondsSinceUnixEpoch: 1_596_483_000_000), kind: .levelChanged(from: .none, to: .red, causes: ["rain-1h"]), exercise: false)
        let alert = try #require(try CAPAlertWriter.alert(for: report, sequenceNumber: 7, station: station))
        #expect(alert.circle == "28.13520,120.95710 1.0")
        #expect(try CAPSchemaValidator.text(of: "circle", in: alert.xml) == "28.13520,120.95710 1.0")
        let outcome = try CAPSchemaValidator.validate(alert.xml)
        #expect(outcome.isValid, "\(outcome.output)\n\(alert.xml)")
        // Southern and western hemispheres keep their signs.
        #expect(CAPAlertWriter.circle(StationIdentity(id: "1", name: "x", latitude: -0.5, longitude: -70.123456)) == "-0.50000,-70.12346 1.0")
        let plain = try #require(try CAPAlertWriter.alert(for: report, sequenceNumber: 7, station: StationIdentity(id: "0011223344", name: "黄坑村")))
        #expect(plain.circle == nil)
        #expect(!plain.xml.contains("<circle>"))
    }
}
