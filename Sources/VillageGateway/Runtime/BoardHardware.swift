// A board's hardware, opened from its board file and the configuration through a device factory
// (libgpiod and libserialport on a real board, the drivers' twins on `sim`), each device handed
// to its one owner.
import Drivers
import Logging
import WarningLogic

struct BoardHardwareError: Error, CustomStringConvertible {
    var description: String
}

/// The inputs and outputs of a board. Everything is opened before the box arms, so a missing
/// chip, line or port stops the start with a message naming it, rather than failing hours later
/// when the first storm needs it. The simulated board goes through the very same code: only the
/// device factory differs.
struct BoardHardware {
    var inputs: [any GatewayInput]
    var outputs: HardwareOutputs

    /// `stateDirectory`: where the SMS queue is kept across restarts (nil: in memory only).
    static func open(
        board: BoardDescription, configuration: GatewayConfiguration, configurationFile: String, stateDirectory: String? = nil,
        devices: any BoardDevices = HostDevices(), logger: Logger
    ) throws(BoardHardwareError) -> BoardHardware {
        let problems = validate(configuration: configuration, board: board, configurationFile: configurationFile)
        guard problems.isEmpty else {
            throw BoardHardwareError(description: (["the configuration does not fit board \(board.name) (\(board.file)):"] + problems.map(\.description)).joined(separator: "\n"))
        }
        var chips: [String: any GPIOChip] = [:]
        func chip(_ line: BoardGPIOLine) throws(BoardHardwareError) -> any GPIOChip {
            if let opened = chips[line.chipPath] { return opened }
            do {
                let opened = try devices.openChip(path: line.chipPath)
                chips[line.chipPath] = opened
                return opened
            } catch {
                throw BoardHardwareError(description: "\(error) (board \(board.name), \(board.file))")
            }
        }
        func output(_ function: BoardOutputFunction) throws(BoardHardwareError) -> (any GPIOOutput)? {
            guard let wired = board.outputs[function] else { return nil }
            do {
                return try chip(wired.gpio).openOutput(wired.gpioConfiguration(consumer: "village-gateway \(function.rawValue)"))
            } catch let error as BoardHardwareError {
                throw error
            } catch {
                throw BoardHardwareError(description: "\(function.meaning) on \(wired.gpio): \(error)")
            }
        }
        func input(_ function: BoardInputFunction) throws(BoardHardwareError) -> (any GPIOInput)? {
            guard let wired = board.inputs[function] else { return nil }
            do {
                return try chip(wired.gpio).openInput(wired.gpioConfiguration(consumer: "village-gateway \(function.rawValue)"))
            } catch let error as BoardHardwareError {
                throw error
            } catch {
                throw BoardHardwareError(description: "\(function.meaning) on \(wired.gpio): \(error)")
            }
        }
        func serial(_ function: BoardSerialFunction, settings: SerialSettings) throws(BoardHardwareError) -> any SerialTransport {
            guard let port = board.serialPorts[function] else {
                throw BoardHardwareError(description: "board \(board.name) has no \(function.meaning) port ([serial.\(function.rawValue)] in \(board.file))")
            }
            do {
                return try devices.openSerial(path: port.device, settings: settings, logger: logger)
            } catch {
                throw BoardHardwareError(description: "\(function.meaning): \(error)")
            }
        }

        var inputs: [any GatewayInput] = []
        // Rain gauges on their GPIO inputs (the configuration says which gauge is on which input).
        for sensor in configuration.engine.sensors where sensor.kind == .rainGauge {
            let function = configuration.hardware.rainGaugeInputs[sensor.id] ?? .rainGauge
            guard let line = try input(function) else {
                throw BoardHardwareError(description: "rain gauge \(sensor.id) is on the board's \(function.rawValue) input, which \(board.file) does not wire")
            }
            inputs.append(TipCounterInput(
                sensorId: sensor.id, input: line, eventTime: devices.edgeTime, waitSliceMilliseconds: devices.gpioWaitSliceMilliseconds, logger: logger))
        }
        if let line = try input(.acknowledgeButton) {
            inputs.append(ButtonInput(
                role: .acknowledge, input: line, eventTime: devices.edgeTime, waitSliceMilliseconds: devices.gpioWaitSliceMilliseconds, logger: logger))
        }
        if let line = try input(.drillKey) {
            // The key drills the highest level the box has outputs for: the drill exercises every
            // siren, lamp and message the village would meet.
            let level = WarningLevel.colours.last { configuration.engine.outputs[$0] != nil } ?? .red
            inputs.append(ButtonInput(
                role: .drillKey(level: level), input: line, eventTime: devices.edgeTime, waitSliceMilliseconds: devices.gpioWaitSliceMilliseconds,
                logger: logger))
        }
        // One owner per RS-485 bus, polling its sensors in turn.
        let sensorsByBus = Dictionary(grouping: configuration.hardware.modbusSensors.sorted { $0.key < $1.key }, by: \.value.bus)
        for busName in sensorsByBus.keys.sorted() {
            guard let function = BoardSerialFunction(rawValue: busName), let port = board.serialPorts[function] else {
                throw BoardHardwareError(description: "bus \(busName) is not a serial port of board \(board.name) (\(board.file))")
            }
            let bus = configuration.hardware.buses[busName] ?? BusConfiguration()
            let settings = bus.serialSettings(direction: port.rs485Direction)
            let sensors = (sensorsByBus[busName] ?? []).map { id, sensor in
                ModbusSensor(sensorId: id, poll: sensor.poll(sensorId: id), pollIntervalMilliseconds: sensor.pollEveryMilliseconds)
            }
            let device = port.device
            do {
                inputs.append(try ModbusPollingInput(
                    busName: busName, portPath: device,
                    opener: { () throws(SerialError) -> any SerialTransport in
                        try devices.openSerial(path: device, settings: settings, logger: logger)
                    },
                    settings: settings, masterConfiguration: bus.masterConfiguration, sensors: sensors,
                    makeClock: { devices.makeClock() }, logger: logger))
            } catch {
                throw BoardHardwareError(description: "\(error)")
            }
        }

        var lamps: [LampColour: any GPIOOutput] = [:]
        for colour in LampColour.allCases {
            if let function = BoardOutputFunction(rawValue: "lamp_\(colour.rawValue)"), let lamp = try output(function) {
                lamps[colour] = lamp
            }
        }
        let siren = try output(.siren)
        // Each output worker reads its own clock, the one its driver measures deadlines with.
        let voiceClock = devices.makeClock()
        let smsClock = devices.makeClock()
        var voice: VoiceDevice?
        if let port = board.serialPorts[.voice] {
            let transport = try serial(.voice, settings: SerialSettings(baudRate: port.baudRate))
            if let model = port.voiceModel?.textToSpeechModel {
                voice = .textToSpeech(FDTextToSpeech(transport: transport, clock: voiceClock, model: model))
            } else {
                logger.warning("voice port \(port.device) is an MP3 clip player; broadcasts without a recorded clip are logged, not spoken")
                voice = .clipPlayer(SerialClipPlayer(transport: transport, format: .withChecksum), clipsByMessage: [:], clipMillisecondsMax: 60_000)
            }
        }
        var modem: ModemEndpoint?
        if let port = board.serialPorts[.modem] {
            // Opened here so a wrong port stops the start; the worker reopens it after an unplug.
            let first = LockedValue<(any SerialTransport)?>((try serial(.modem, settings: SerialSettings(baudRate: port.baudRate))))
            let device = port.device
            let settings = SerialSettings(baudRate: port.baudRate)
            modem = ModemEndpoint(portDescription: device, model: port.modemModel ?? .generic) { () throws(ModemError) -> Modem in
                let transport: any SerialTransport
                if let opened = first.withLock({ $0.take() }) {
                    transport = opened
                } else {
                    do throws(SerialError) {
                        transport = try devices.openSerial(path: device, settings: settings, logger: logger)
                    } catch {
                        throw .transport(error)
                    }
                }
                return Modem(channel: ATChannel(transport: transport, clock: devices.makeClock()))
            }
        }
        // HardwareOutputs protects the siren with one limit; levels may configure their own, and
        // the strictest (shortest on, longest rest) keeps every level's siren and battery safe.
        let protections = Array(configuration.hardware.sirenProtection.values)
        let maxOn = protections.map(\.maxOnMilliseconds).min() ?? SirenProtection.maxOnMillisecondsDefault
        let rest = protections.map(\.restMilliseconds).max() ?? SirenProtection.restMillisecondsDefault
        do {
            let outputs = try HardwareOutputs(
                siren: siren, lamps: lamps, voice: voice, modem: modem,
                smsQueueFile: stateDirectory.map { "\($0)/\(SMSQueueFile.fileName)" }, sirenMaxOnMilliseconds: maxOn, sirenRestMilliseconds: rest,
                relayClock: devices.makeClock(), voiceClock: voiceClock, smsClock: smsClock, logger: logger)
            return BoardHardware(inputs: inputs + [outputs.modemAnswersInput].compactMap { $0 }, outputs: outputs)
        } catch {
            throw BoardHardwareError(description: "\(error)")
        }
    }
}
