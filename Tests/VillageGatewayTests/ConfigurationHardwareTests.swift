// The hardware keys of gateway.toml (modbus, input, [buses], siren protection) and their checks against a board.
import Drivers
import Foundation
import Testing
@testable import VillageGateway

private func problems(_ text: String) -> [ConfigurationProblem] { ConfigurationFixtures.problems(text) }

/// `minimal` with the displacement sensor given `modbus = …` (its line is 15).
private func withModbus(_ table: String) -> String {
    ConfigurationFixtures.minimal(replacing: "steady_rate = 0.5\n", with: "steady_rate = 0.5\nmodbus = \(table)\n")
}

@Suite struct ModbusSensorConfigurationTests {
    @Test func theExampleMapsOntoTheDriversDecodingAndPolls() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        let slope = try #require(configuration.hardware.modbusSensors["slope1"])
        #expect(slope.decoding == ModbusDecoding(type: .float32, wordOrder: .little, byteOrder: .big, scale: 1, offset: 0))
        #expect(slope.poll(sensorId: "slope1") == ModbusPoll(name: "slope1", slaveID: 3, function: .holdingRegisters, address: 0,
                                                             valueCount: 1, decoding: slope.decoding))
        #expect(slope.pollEveryMilliseconds == 60_000)
        let river = try #require(configuration.hardware.modbusSensors["river1"])
        #expect(river.decoding.scale == 0.001)
        #expect(river.slaveID == 2)
        #expect(configuration.hardware.buses["rs485"] == BusConfiguration())
        #expect(configuration.hardware.rainGaugeInputs == ["rain1": .rainGauge])
    }

    @Test func onlySlaveAndRegisterAreRequiredAndTheRestHaveDefaults() throws {
        let configuration = try ConfigurationLoader.parse(text: withModbus("{ slave = 7, register = 100 }"), file: "site.toml")
        let modbus = try #require(configuration.hardware.modbusSensors["slope1"])
        #expect(modbus == ModbusSensorConfiguration(bus: "rs485", slaveID: 7, function: .holdingRegisters, register: 100,
                                                    decoding: ModbusDecoding(), pollEveryMilliseconds: 10_000))
        // The bus a sensor uses exists with the defaults even when [buses.rs485] is not written.
        #expect(configuration.hardware.buses == ["rs485": BusConfiguration()])
        let settings = BusConfiguration().serialSettings(direction: .automatic)
        #expect(settings == SerialSettings(baudRate: 9600, dataBits: 8, parity: .none, stopBits: 1, flowControl: .none, rs485: nil))
    }

    @Test func function4ReadsInputRegisters() throws {
        let configuration = try ConfigurationLoader.parse(text: withModbus("{ slave = 7, register = 2, function = 4 }"), file: "site.toml")
        #expect(configuration.hardware.modbusSensors["slope1"]?.function == .inputRegisters)
    }

    @Test func eachModbusMistakeIsNamedOnTheSensorsLine() {
        let found = problems(withModbus("{ slave = 0, register = 70000, function = 6, type = \"float\", bus = \"rs458\" }"))
        #expect(found.allSatisfy { $0.line == 15 }, "\(found.map(\.description))")
        let byKey = Dictionary(found.map { ($0.key, $0.allowed) }, uniquingKeysWith: { first, _ in first })
        #expect(byKey["[[sensor]] \"slope1\" modbus slave"] == "must be 1 to 247 (the sensor's Modbus address, as set on the sensor)")
        #expect(byKey["[[sensor]] \"slope1\" modbus function"]?.hasPrefix("must be 3 to 4") == true)
        #expect(byKey["[[sensor]] \"slope1\" modbus register"]?.hasPrefix("must be 0 to 65535") == true)
        #expect(byKey["[[sensor]] \"slope1\" modbus type"]?.contains("did you mean \"float32\"?") == true)
        #expect(byKey["[[sensor]] \"slope1\" modbus bus"]?.contains("did you mean \"rs485\"?") == true)
    }

    @Test func aMissingSlaveIsNamedAndAWordOrderOnA16BitValueIsRefused() {
        let missing = problems(withModbus("{ register = 0 }"))
        #expect(missing.map(\.key) == ["[[sensor]] \"slope1\" modbus slave"])
        let wordOrder = problems(withModbus("{ slave = 3, register = 0, type = \"int16\", word_order = \"little\" }"))
        #expect(wordOrder.first?.allowed == "only for 32-bit types (int32, uint32, float32): a int16 is one register")
    }

    @Test func aRainGaugeHasNoModbusAndAModbusSensorNoInput() {
        let rain = problems(ConfigurationFixtures.minimal(replacing: "mm_per_tip = 0.2\n", with: "mm_per_tip = 0.2\nmodbus = { slave = 1, register = 0 }\n"))
        #expect(rain.first?.allowed == "only for water_level and displacement sensors; this is a rain_gauge sensor")
        let slope = problems(ConfigurationFixtures.minimal(replacing: "steady_rate = 0.5\n", with: "steady_rate = 0.5\ninput = \"rain_gauge\"\n"))
        #expect(slope.first?.key == "[[sensor]] \"slope1\" input")
    }

    @Test func twoSensorsOnOneRegisterAreCaught() {
        let text = withModbus("{ slave = 3, register = 0 }")
            + "[[sensor]]\nid = \"slope2\"\nkind = \"displacement\"\nmodbus = { slave = 3, register = 0 }\n"
        let found = problems(text)
        #expect(found.count == 1)
        #expect(found.first?.allowed.hasPrefix("reads the same register as sensor \"slope1\" (line 15)") == true)
    }

    @Test func aPollSlowerThanStaleAfterIsRefused() {
        let text = ConfigurationFixtures.minimal(replacing: "steady_rate = 0.5\n",
                                                 with: "steady_rate = 0.5\nstale_after = \"5m\"\nmodbus = { slave = 3, register = 0, poll_every = \"10m\" }\n")
        #expect(problems(text).first?.allowed.hasPrefix("must be shorter than the sensor's stale_after (5m)") == true)
    }
}

@Suite struct RainGaugeInputTests {
    @Test func gaugesTakeTheInputsInFileOrderUnlessTheyAsk() throws {
        let second = "[[sensor]]\nid = \"rain2\"\nkind = \"rain_gauge\"\nmm_per_tip = 0.5\n"
        let byOrder = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal + second, file: "site.toml")
        #expect(byOrder.hardware.rainGaugeInputs == ["rain1": .rainGauge, "rain2": .rainGauge2])
        let asked = try ConfigurationLoader.parse(
            text: ConfigurationFixtures.minimal(replacing: "mm_per_tip = 0.2\n", with: "mm_per_tip = 0.2\ninput = \"rain_gauge_2\"\n") + second,
            file: "site.toml")
        #expect(asked.hardware.rainGaugeInputs == ["rain1": .rainGauge2, "rain2": .rainGauge])
    }

    @Test func twoGaugesCannotAskForOneInput() {
        let second = "[[sensor]]\nid = \"rain2\"\nkind = \"rain_gauge\"\nmm_per_tip = 0.5\ninput = \"rain_gauge\"\n"
        let found = problems(ConfigurationFixtures.minimal + second)
        #expect(found.map(\.description) == [
            "site.toml:30: [[sensor]] \"rain2\" input = \"rain_gauge\": already the input of rain gauge \"rain1\"; two gauges cannot share one input"
        ])
    }
}

@Suite struct BusAndSirenConfigurationTests {
    @Test func busesAreReadWithTheirBoundsAndUnknownNamesSuggested() throws {
        let good = try ConfigurationLoader.parse(
            text: ConfigurationFixtures.minimal + "[buses.rs485]\nbaud = 19200\nparity = \"even\"\ntimeout = \"1s\"\nretries_max = 0\n", file: "site.toml")
        #expect(good.hardware.buses["rs485"] == BusConfiguration(baudRate: 19200, parity: .even, stopBits: 1, timeoutMilliseconds: 1000, retriesMax: 0))
        #expect(good.hardware.buses["rs485"]?.masterConfiguration.timeoutMilliseconds == 1000)
        let bad = problems(ConfigurationFixtures.minimal + "[buses.rs458]\nbaud = 9600\n[buses.rs485]\nbaud = 96000\nretries_max = 9\n")
        #expect(bad.map(\.key) == ["[buses.rs458]", "[buses.rs485] baud", "[buses.rs485] retries_max"])
        #expect(bad.first?.allowed.contains("did you mean \"rs485\"?") == true)
    }

    @Test func sirenProtectionHasDefaultsAndBoundsAndOnlyWhereTheSirenSounds() throws {
        let outputs = "[outputs.red]\nsiren = \"continuous\"\nmessage = \"立即转移\"\n[outputs.yellow]\nsiren = \"intermittent\"\nsiren_max_on = \"2m\"\nsiren_rest = \"30s\"\nmessage = \"注意\"\n"
        let configuration = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal + outputs, file: "site.toml")
        #expect(configuration.hardware.sirenProtection == [
            .red: SirenProtection(maxOnMilliseconds: 300_000, restMilliseconds: 60_000),
            .yellow: SirenProtection(maxOnMilliseconds: 120_000, restMilliseconds: 30_000),
        ])
        let off = problems(ConfigurationFixtures.minimal + "[outputs.blue]\nsiren = \"off\"\nsiren_rest = \"1m\"\nmessage = \"注意\"\n")
        #expect(off.first?.allowed == "only when the siren sounds (continuous or intermittent); here siren = \"off\"")
        let tooShort = problems(ConfigurationFixtures.minimal + "[outputs.red]\nsiren = \"continuous\"\nsiren_max_on = \"5s\"\nmessage = \"立即转移\"\n")
        #expect(tooShort.first?.allowed.hasPrefix("must be from 10s to 1h") == true)
        let longSound = problems(ConfigurationFixtures.minimal
            + "[outputs.red]\nsiren = \"intermittent\"\nsiren_on = \"3m\"\nsiren_max_on = \"1m\"\nmessage = \"立即转移\"\n")
        #expect(longSound.first?.allowed.hasPrefix("is longer than siren_max_on (1m)") == true)
    }

    @Test func theEffectiveConfigurationWritesTheHardwareKeysAndReadsBackEqual() throws {
        let text = withModbus("{ slave = 7, register = 100, type = \"int32\", word_order = \"little\", scale = 0.1 }")
            + "[outputs.red]\nsiren = \"continuous\"\nsiren_rest = \"2m\"\nmessage = \"立即转移\"\n"
        let configuration = try ConfigurationLoader.parse(text: text, file: "site.toml")
        let rendered = EffectiveConfiguration.render(configuration)
        #expect(rendered.contains("input = \"rain_gauge\"  # default"))
        #expect(rendered.contains("modbus = { bus = \"rs485\", slave = 7, function = 3, register = 100, type = \"int32\", word_order = \"little\", byte_order = \"big\", scale = 0.1, offset = 0, poll_every = \"10s\" }"))
        #expect(rendered.contains("[buses.rs485]\nbaud = 9600  # default"))
        #expect(rendered.contains("siren_max_on = \"5m\"  # default\nsiren_rest = \"2m\"\n"))
        let reparsed = try ConfigurationLoader.parse(text: rendered, file: "effective.toml")
        #expect(reparsed == configuration)
    }
}

@Suite struct BoardCrossCheckTests {
    private func board(_ name: String) throws -> BoardDescription {
        try BoardLoader.load(path: BoardFixtures.boardsDirectory + "/\(name).toml")
    }

    @Test func theExampleFitsEveryShippedBoardWithLamps() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        for name in ["sim", "raspberry-pi-4", "orange-pi-zero-3", "beaglebone-black"] {
            #expect(validate(configuration: configuration, board: try board(name)).isEmpty, "\(name)")
        }
    }

    @Test func whatTheBoardLacksIsNamedWithTheConfigurationsKey() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        var bare = try BoardFixtures.board()
        bare.outputs[.lampRed] = nil
        bare.outputs[.siren] = nil
        bare.serialPorts[.rs485] = nil
        var sensor = try #require(configuration.hardware.modbusSensors["river1"])
        sensor.bus = "rs485_2"
        var moved = configuration
        moved.hardware.modbusSensors["river1"] = sensor
        let found = validate(configuration: moved, board: bare, configurationFile: "gateway.toml")
        let keys = found.map(\.key)
        #expect(keys.contains("[[sensor]] \"river1\" modbus bus"))
        #expect(keys.contains("[[sensor]] \"slope1\" modbus bus"))
        #expect(keys.contains("[outputs.blue] lamp"))
        #expect(keys.contains("[outputs.red] lamp"))
        #expect(keys.contains("[outputs.yellow] siren"), "the lowest sounding level is named: \(keys)")
        #expect(found.allSatisfy { $0.file == "gateway.toml" })
        #expect(found.first { $0.key == "[outputs.red] lamp" }?.allowed == "board \"test-board\" (test-board.toml) has no [outputs.lamp_red] relay")
    }

    @Test func aRealBoardNeedsEveryPolledSensorToHaveModbusButSimDoesNot() throws {
        let configuration = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal, file: "site.toml")
        let onReal = validate(configuration: configuration, board: try board("raspberry-pi-4"))
        #expect(onReal.map(\.key) == ["[[sensor]] \"slope1\""])
        #expect(onReal.first?.allowed.hasPrefix("has no modbus table") == true)
        #expect(validate(configuration: configuration, board: try board("sim")).isEmpty)
    }

    @Test func aSecondRainGaugeNeedsTheBoardsSecondInput() throws {
        let text = ConfigurationFixtures.minimal + "[[sensor]]\nid = \"rain2\"\nkind = \"rain_gauge\"\nmm_per_tip = 0.5\n"
            + "[[sensor]]\nid = \"rain3\"\nkind = \"rain_gauge\"\nmm_per_tip = 0.5\n"
        let configuration = try ConfigurationLoader.parse(text: text, file: "site.toml")
        let found = validate(configuration: configuration, board: try board("orange-pi-zero-3"))
        #expect(found.map(\.key) == ["[[sensor]] \"slope1\"", "[[sensor]] \"rain2\" input", "[[sensor]] \"rain3\""])
    }
}

@Suite struct BusOverrideTests {
    @Test func aBusMovesToTheGivenDevice() throws {
        var board = try BoardLoader.load(path: BoardFixtures.boardsDirectory + "/raspberry-pi-4.toml")
        try applyBusOverrides(["rs485=/dev/ttyUSB0"], to: &board)
        #expect(board.serialPorts[.rs485]?.device == "/dev/ttyUSB0")
        #expect(board.serialPorts[.rs485]?.rs485Direction == .automatic)
    }

    @Test func mistakesAreRefusedAndTheBoardIsLeftAsItWas() throws {
        let original = try BoardLoader.load(path: BoardFixtures.boardsDirectory + "/raspberry-pi-4.toml")
        let cases: [([String], String)] = [
            (["rs458=/dev/ttyUSB0"], "--bus rs458=/dev/ttyUSB0: \"rs458\" is not a bus; did you mean \"rs485\"?"),
            (["rs485"], "--bus rs485: write NAME=DEVICE, e.g. --bus rs485=/dev/ttyUSB0"),
            (["rs485=ttyUSB0"], "--bus rs485=ttyUSB0: the device must be a path under /dev, e.g. /dev/ttyUSB0"),
            (["rs485_2=/dev/ttyUSB0"], "--bus rs485_2=/dev/ttyUSB0: board \"raspberry-pi-4\" (\(original.file)) has no [serial.rs485_2]; its buses are \"rs485\""),
            (["rs485=/dev/ttyUSB0", "rs485=/dev/ttyUSB1"], "--bus rs485=/dev/ttyUSB1: bus \"rs485\" is given twice; give each bus once"),
            (["rs485=/dev/serial0"], "--bus: /dev/serial0 would be both the RS-485 bus and the console; one port can do one job"),
        ]
        for (overrides, message) in cases {
            var board = original
            #expect(throws: BusOverrideError(description: message)) { try applyBusOverrides(overrides, to: &board) }
            #expect(board == original)
        }
    }
}
