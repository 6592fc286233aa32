// [county] in gateway.toml: defaults, every sub-table, every mistake named, and the effective file.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct CountyConfigurationTests {
    static func parse(_ county: String) throws -> GatewayConfiguration {
        try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal + "\n" + county, file: "site.toml")
    }

    static func problems(_ county: String) -> [String] {
        ConfigurationFixtures.problems(ConfigurationFixtures.minimal + "\n" + county).map(\.description)
    }

    @Test func withoutCountyEveryDefaultHoldsAndNoAPIIsServed() throws {
        let configuration = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal, file: "site.toml")
        #expect(configuration.county == CountyConfiguration())
        #expect(configuration.county.api == nil)
    }

    @Test func everyKeyIsRead() throws {
        let configuration = try Self.parse("""
            [county]
            centre_address = 5
            password = 1000
            summary_every = "10m"
            outbox_max_mb = 64
            keep_delivered = "7d"
            push_window = "22:00-06:00"

            [county.api]
            listen = "127.0.0.1:0"
            key_file = "keys/api.key"
            max_clock_skew = "2m"

            [county.push]
            url = "https://county.example.cn/v1/push"
            key_file = "/etc/village-gateway/push.key"
            batch_max = 50

            [county.sl651]
            centre = "10.1.2.3:5005"
            keep_alive_every = "40s"
            """)
        let county = configuration.county
        #expect(county.centreAddress == 5)
        #expect(county.password == 1000)
        #expect(county.summaryEveryMilliseconds == 10 * Milliseconds.minute)
        #expect(county.outboxMegabytesMax == 64)
        #expect(county.keepDeliveredMilliseconds == 7 * Milliseconds.day)
        #expect(county.pushWindow == DailyWindow(startMinuteOfDay: 22 * 60, endMinuteOfDay: 6 * 60))
        #expect(county.api == CountyAPIConfiguration(host: "127.0.0.1", port: 0, keyFile: "keys/api.key", clockSkewMillisecondsMax: 2 * Milliseconds.minute))
        #expect(county.httpPush == HTTPPushConfiguration(url: "https://county.example.cn/v1/push", keyFile: "/etc/village-gateway/push.key", batchMax: 50))
        #expect(county.sl651Push == SL651PushConfiguration(host: "10.1.2.3", port: 5005, keepAliveEveryMilliseconds: 40_000))

        // The effective configuration writes it all and reads back equal.
        let rendered = EffectiveConfiguration.render(configuration)
        #expect(rendered.contains("[county.api]\nlisten = \"127.0.0.1:0\"\n"))
        #expect(rendered.contains("push_window = \"22:00-06:00\"\n"))
        #expect(try ConfigurationLoader.parse(text: rendered, file: "effective.toml") == configuration)
    }

    @Test func defaultsAreMarkedInTheEffectiveConfiguration() throws {
        let configuration = try Self.parse("[county]\n")
        let rendered = EffectiveConfiguration.render(configuration)
        #expect(rendered.contains("[county]\ncentre_address = 1  # default\npassword = 0  # default\nsummary_every = \"1h\"  # default\n"))
        #expect(rendered.contains("# [county.api] not set: no pull API is served"))
        #expect(try ConfigurationLoader.parse(text: rendered, file: "effective.toml") == configuration)
    }

    @Test func anAPIWithoutAKeyFileIsRefusedWithHowToMakeOne() {
        let problems = Self.problems("[county]\n[county.api]\nlisten = \"0.0.0.0:8651\"\n")
        #expect(problems.count == 1)
        let problem = problems.first ?? ""
        #expect(problem.contains("[county.api] key_file"))
        #expect(problem.contains("openssl rand -hex 32 > /etc/village-gateway/api.key; chmod 600 /etc/village-gateway/api.key"))
    }

    @Test func mistakesAreNamedWithTheirLineAndWhatIsAllowed() {
        let text = """
            [county]
            centre_address = 0
            summary_every = "7m"
            keep_deliverd = "7d"
            push_window = "22:00"

            [county.api]
            listen = "8651"
            key_file = "api.key"

            [county.sl651]
            keep_alive_every = "1h"
            """
        let problems = Self.problems(text)
        let base = ConfigurationFixtures.minimal.split(separator: "\n", omittingEmptySubsequences: false).count + 1
        func line(_ offset: Int) -> String { "site.toml:\(base + offset): " }
        #expect(problems.contains { $0.hasPrefix(line(1)) && $0.contains("centre_address") && $0.contains("1 to 255") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix(line(2)) && $0.contains("must divide a day evenly") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix(line(3)) && $0.contains("did you mean \"keep_delivered\"?") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix(line(4)) && $0.contains("hh:mm-hh:mm") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix(line(7)) && $0.contains("host:port") }, "\(problems)")
        #expect(problems.contains { $0.contains("[county.sl651] centre") && $0.contains("missing") }, "\(problems)")
        #expect(problems.contains { $0.hasPrefix(line(11)) && $0.contains("keep_alive_every") }, "\(problems)")
        #expect(problems.count == 7, "\(problems)")
    }

    @Test func hourlyAndDisplacementIdentifiersAreReadCheckedAndPrinted() throws {
        let configuration = try Self.parse("""
            [county.sl651]
            centre = "10.1.2.3:5005"
            hourly = true
            displacement = { slope1 = "hunan-vertical" }
            """)
        #expect(configuration.county.sl651 == SL651MappingConfiguration(
            hourly: true, displacement: ["slope1": SL651DisplacementIdentifier(extendedGuide: 0x18, digits: 8, decimals: 2)]))
        let printed = EffectiveConfiguration.render(configuration)
        #expect(printed.contains("hourly = true\n") && printed.contains(#"displacement = { slope1 = "FF18 N(8,2)" }"#), "\(printed)")
        // What the effective file prints reads back the same.
        #expect(SL651DisplacementIdentifier(text: "FF18 N(8,2)") == configuration.county.sl651.displacement["slope1"])

        let problems = Self.problems("""
            [county]
            summary_every = "10m"

            [county.sl651]
            centre = "10.1.2.3:5005"
            hourly = "yes"
            displacement = { slope2 = "hunan-x", rain1 = "FF17", slope1 = "FF16 N(20,2)" }
            """)
        #expect(problems.contains { $0.contains("hourly") && $0.contains("must be true") }, "\(problems)")
        #expect(problems.contains { $0.contains("displacement.slope2") && $0.contains("did you mean \"slope1\"?") }, "\(problems)")
        #expect(problems.contains { $0.contains("displacement.rain1") && $0.contains("not a displacement sensor") }, "\(problems)")
        #expect(problems.contains { $0.contains("displacement.slope1") && $0.contains("hunan-x") }, "\(problems)")
        let tenMinutes = Self.problems("""
            [county]
            summary_every = "10m"

            [county.sl651]
            centre = "10.1.2.3:5005"
            hourly = true
            """)
        #expect(tenMinutes.contains { $0.contains("hourly") && $0.contains("summary_every = \"1h\"") }, "\(tenMinutes)")
    }

    @Test func unknownCountySectionsSuggestTheRightOne() {
        let problems = Self.problems("[county]\n[county.apii]\nkey_file = \"k\"\n")
        #expect(problems.contains { $0.contains("did you mean \"api\"?") }, "\(problems)")
        let top = ConfigurationFixtures.problems(ConfigurationFixtures.minimal + "\n[countty]\n").map(\.description)
        #expect(top.contains { $0.contains("did you mean [county]?") }, "\(top)")
    }

    @Test func theExampleHasACountySectionAndTheAPIExplained() throws {
        let text = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
        #expect(text.contains("[county]\n"))
        #expect(text.contains("openssl rand -hex 32"))
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        #expect(configuration.county.summaryEveryMilliseconds == Milliseconds.hour)
    }
}
