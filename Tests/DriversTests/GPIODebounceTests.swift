// Debouncing a tipping-bucket reed switch and buttons, on the pure debouncer and through the simulated chip.
import Testing
@testable import Drivers

private let millisecond: Int64 = 1_000_000
private let microsecond: Int64 = 1_000

/// One bucket tip as a reed switch with pull-up produces it: the closure (falling) bounces for a
/// couple of milliseconds, the magnet passes in ~80 ms, the opening (rising) bounces again.
/// Shape after typical reed-switch bounce traces (sub-millisecond to ~3 ms of chatter).
private func bouncyTip(atNanoseconds start: Int64) -> [GPIOEdgeEvent] {
    [
        GPIOEdgeEvent(.falling, atNanoseconds: start),
        GPIOEdgeEvent(.rising, atNanoseconds: start + 300 * microsecond),
        GPIOEdgeEvent(.falling, atNanoseconds: start + 700 * microsecond),
        GPIOEdgeEvent(.rising, atNanoseconds: start + 1_400 * microsecond),
        GPIOEdgeEvent(.falling, atNanoseconds: start + 2_100 * microsecond),
        GPIOEdgeEvent(.rising, atNanoseconds: start + 80 * millisecond),
        GPIOEdgeEvent(.falling, atNanoseconds: start + 80 * millisecond + 400 * microsecond),
        GPIOEdgeEvent(.rising, atNanoseconds: start + 80 * millisecond + 1_100 * microsecond),
    ]
}

@Suite struct GPIODebouncerTests {
    @Test func oneBouncyTipIsOneClosureDatedAtItsLastBounce() {
        var debouncer = Debouncer(debounceMilliseconds: 10, activeLow: true, initialLevelHigh: true)
        var events: [GPIOInputEvent] = []
        for edge in bouncyTip(atNanoseconds: 1_000 * millisecond) {
            if let event = debouncer.feed(edge) { events.append(event) }
        }
        if let event = debouncer.settle(nowNanoseconds: 2_000 * millisecond) { events.append(event) }
        #expect(events == [
            GPIOInputEvent(.activated, atNanoseconds: 1_000 * millisecond + 2_100 * microsecond),
            GPIOInputEvent(.released, atNanoseconds: 1_080 * millisecond + 1_100 * microsecond),
        ])
        #expect(debouncer.rejectedEdgeCount == 6)
        #expect(!debouncer.isActive)
    }

    @Test func aGlitchShorterThanTheDebounceTimeIsNotATip() {
        var debouncer = Debouncer(debounceMilliseconds: 10, activeLow: true, initialLevelHigh: true)
        #expect(debouncer.feed(GPIOEdgeEvent(.falling, atNanoseconds: 0)) == nil)
        #expect(debouncer.feed(GPIOEdgeEvent(.rising, atNanoseconds: 4 * millisecond)) == nil)
        #expect(debouncer.settle(nowNanoseconds: 1_000 * millisecond) == nil)
        #expect(!debouncer.isActive)
    }

    @Test func aLevelIsNotConfirmedBeforeItHasHeldTheWholeDebounceTime() {
        var debouncer = Debouncer(debounceMilliseconds: 10, activeLow: true, initialLevelHigh: true)
        _ = debouncer.feed(GPIOEdgeEvent(.falling, atNanoseconds: 0))
        #expect(debouncer.settle(nowNanoseconds: 9 * millisecond) == nil)
        #expect(debouncer.settle(nowNanoseconds: 10 * millisecond) == GPIOInputEvent(.activated, atNanoseconds: 0))
    }

    @Test func anActiveHighButtonReportsPressAndRelease() {
        var debouncer = Debouncer(debounceMilliseconds: 20, activeLow: false, initialLevelHigh: false)
        _ = debouncer.feed(GPIOEdgeEvent(.rising, atNanoseconds: 0))
        let press = debouncer.feed(GPIOEdgeEvent(.falling, atNanoseconds: 500 * millisecond))
        let release = debouncer.settle(nowNanoseconds: 600 * millisecond)
        #expect(press == GPIOInputEvent(.activated, atNanoseconds: 0))
        #expect(release == GPIOInputEvent(.released, atNanoseconds: 500 * millisecond))
    }

    @Test func timeRunningBackwardsIsCountedAndNeverConfirmsEarly() {
        var debouncer = Debouncer(debounceMilliseconds: 10, activeLow: true, initialLevelHigh: true)
        _ = debouncer.feed(GPIOEdgeEvent(.falling, atNanoseconds: 100 * millisecond))
        _ = debouncer.feed(GPIOEdgeEvent(.rising, atNanoseconds: 50 * millisecond))
        #expect(debouncer.outOfOrderEdgeCount == 1)
        #expect(debouncer.settle(nowNanoseconds: 1_000 * millisecond) == nil)
    }

    @Test func seededRandomBounceNeverChangesTheTipCount() {
        var random = SeededRandom(seed: 0x5EED_0001)
        for _ in 0..<50 {
            var debouncer = Debouncer(debounceMilliseconds: 10, activeLow: true, initialLevelHigh: true)
            let tips = Int.random(in: 1...40, using: &random)
            var time: Int64 = 0
            var activations = 0
            for _ in 0..<tips {
                time += Int64.random(in: 200...5_000, using: &random) * millisecond
                // Closure chatter: an odd number of edges ending low, each within 3 ms.
                let bounces = Int.random(in: 0...4, using: &random)
                var edges = [GPIOEdgeEvent(.falling, atNanoseconds: time)]
                var t = time
                for _ in 0..<bounces {
                    t += Int64.random(in: 50...600, using: &random) * microsecond
                    edges.append(GPIOEdgeEvent(.rising, atNanoseconds: t))
                    t += Int64.random(in: 50...600, using: &random) * microsecond
                    edges.append(GPIOEdgeEvent(.falling, atNanoseconds: t))
                }
                t += Int64.random(in: 40...120, using: &random) * millisecond
                edges.append(GPIOEdgeEvent(.rising, atNanoseconds: t))
                time = t
                for edge in edges where debouncer.feed(edge)?.kind == .activated { activations += 1 }
            }
            if debouncer.settle(nowNanoseconds: time + 1_000 * millisecond)?.kind == .activated { activations += 1 }
            #expect(activations == tips)
        }
    }
}

@Suite struct GPIOSimulatedChipTests {
    private func makeChip() -> (SimulatedGPIOChip, SimulatedClock) {
        let clock = SimulatedClock()
        let chip = SimulatedGPIOChip(lineCount: 8, lineNames: [3: "RAIN_GAUGE", 5: "SIREN"], clock: clock)
        return (chip, clock)
    }

    @Test func rainGaugeTipsThroughTheChipCountOnceEach() throws {
        let (chip, _) = makeChip()
        chip.setRestingLevel(offset: 3, high: true)
        let gauge = try chip.openInput(GPIOInputConfiguration(
            line: .name("RAIN_GAUGE"), consumer: "village-gateway", debounceMilliseconds: 10))
        let tipStarts: [Int64] = [1_000, 1_500, 4_000, 4_300].map { $0 * millisecond }
        chip.schedule(tipStarts.flatMap { bouncyTip(atNanoseconds: $0) }, offset: 3)
        var activations: [Int64] = []
        for _ in 0..<100 {
            for event in try gauge.waitForEvents(timeoutMilliseconds: 250) where event.kind == .activated {
                activations.append(event.timestampNanoseconds)
            }
        }
        #expect(activations == tipStarts.map { $0 + 2_100 * microsecond })
        #expect(gauge.rejectedEdgeCount == 4 * 6)
        #expect(!gauge.isActive)
    }

    @Test func aWaitReturnsAsSoonAsTheClosureIsConfirmed() throws {
        let (chip, clock) = makeChip()
        let button = try chip.openInput(GPIOInputConfiguration(line: .offset(2), consumer: "ack", debounceMilliseconds: 30))
        chip.schedule([GPIOEdgeEvent(.falling, atNanoseconds: 100 * millisecond)], offset: 2)
        let events = try button.waitForEvents(timeoutMilliseconds: 10_000)
        #expect(events == [GPIOInputEvent(.activated, atNanoseconds: 100 * millisecond)])
        #expect(clock.nanoseconds == 130 * millisecond)
        #expect(button.isActive)
    }

    @Test func aQuietLineWaitsOutItsTimeoutAndReportsNothing() throws {
        let (chip, clock) = makeChip()
        let button = try chip.openInput(GPIOInputConfiguration(line: .offset(1), consumer: "drill", debounceMilliseconds: 30))
        #expect(try button.waitForEvents(timeoutMilliseconds: 500).isEmpty)
        #expect(clock.nanoseconds == 500 * millisecond)
    }

    @Test func relayStartsSafeSwitchesAndReturnsToSafeOnRelease() throws {
        let (chip, clock) = makeChip()
        do {
            let siren = try chip.openOutput(GPIOOutputConfiguration(line: .name("SIREN"), consumer: "siren", activeLow: true))
            #expect(chip.levelHigh(offset: 5))  // active-low relay off = high
            clock.advance(milliseconds: 10)
            try siren.set(on: true)
            #expect(siren.isOn)
            #expect(!chip.levelHigh(offset: 5))
            clock.advance(milliseconds: 10)
        }
        #expect(chip.outputHistory(offset: 5) == [
            SimulatedOutputChange(on: false, levelHigh: true, atNanoseconds: 0),
            SimulatedOutputChange(on: true, levelHigh: false, atNanoseconds: 10 * millisecond),
            SimulatedOutputChange(on: false, levelHigh: true, atNanoseconds: 20 * millisecond),
        ])
        // Released on deinit: the line can be requested again.
        _ = try chip.openOutput(GPIOOutputConfiguration(line: .offset(5), consumer: "siren"))
    }

    @Test func aFailedSwitchFallsBackToTheSafeState() throws {
        let (chip, _) = makeChip()
        let lamp = try chip.openOutput(GPIOOutputConfiguration(line: .offset(6), consumer: "lamp"))
        try lamp.set(on: true)
        chip.failNextWrites(offset: 6, count: 1)
        #expect(throws: GPIOError.io(chip: "/dev/gpiochip0", line: .offset(6), operation: "set value", detail: "simulated write failure")) {
            try lamp.set(on: false)
        }
        // The failed write was followed by a successful return to safe (off).
        #expect(chip.outputHistory(offset: 6).last?.on == false)
        #expect(!lamp.isOn)
    }

    @Test func aSafeStateOnOutputStartsOnAndReturnsOn() throws {
        let (chip, _) = makeChip()
        do {
            let watchdogLamp = try chip.openOutput(GPIOOutputConfiguration(line: .offset(7), consumer: "ok-lamp", safeStateOn: true))
            #expect(watchdogLamp.isOn)
            try watchdogLamp.set(on: false)
        }
        #expect(chip.outputHistory(offset: 7).map(\.on) == [true, false, true])
    }
}

@Suite struct GPIOErrorPathTests {
    @Test func aMissingChipSaysWhatIsMissing() {
        #expect(throws: GPIOError.noChip(path: "/dev/gpiochip0")) {
            _ = try LibgpiodChip(path: "/dev/gpiochip0")
        }
        #expect(GPIOError.noChip(path: "/dev/gpiochip0").description
            == "no GPIO chip /dev/gpiochip0: is this the right board file?")
    }

    @Test func aMissingChipPathOfAnyNameIsReportedAsSuch() {
        #expect(throws: GPIOError.noChip(path: "/dev/gpiochip-not-here")) {
            _ = try LibgpiodChip(path: "/dev/gpiochip-not-here")
        }
    }

    @Test func aMissingLineNameOrOffsetIsNamed() {
        let chip = SimulatedGPIOChip(lineCount: 4, lineNames: [0: "RAIN"], clock: SimulatedClock())
        #expect(throws: GPIOError.noLine(chip: "/dev/gpiochip0", line: .name("RAIN_GAUGE"))) {
            _ = try chip.openInput(GPIOInputConfiguration(line: .name("RAIN_GAUGE"), consumer: "t", debounceMilliseconds: 10))
        }
        #expect(throws: GPIOError.noLine(chip: "/dev/gpiochip0", line: .offset(4))) {
            _ = try chip.openOutput(GPIOOutputConfiguration(line: .offset(4), consumer: "t"))
        }
        #expect(GPIOError.noLine(chip: "/dev/gpiochip0", line: .name("RAIN_GAUGE")).description
            == "no line named \"RAIN_GAUGE\" on GPIO chip /dev/gpiochip0: check the board file against `gpioinfo`")
    }

    @Test func wrongSettingsAreRefused() throws {
        let chip = SimulatedGPIOChip(lineCount: 4, clock: SimulatedClock())
        #expect(throws: GPIOError.invalidSetting("debounceMilliseconds -5 is negative")) {
            _ = try chip.openInput(GPIOInputConfiguration(line: .offset(0), consumer: "t", debounceMilliseconds: -5))
        }
        let held = try chip.openInput(GPIOInputConfiguration(line: .offset(1), consumer: "t", debounceMilliseconds: 5))
        #expect(throws: GPIOError.lineBusy(chip: "/dev/gpiochip0", line: .offset(1), detail: "already requested")) {
            _ = try chip.openOutput(GPIOOutputConfiguration(line: .offset(1), consumer: "t"))
        }
        #expect(throws: GPIOError.invalidSetting("wait timeout -1 ms is negative")) {
            _ = try held.waitForEvents(timeoutMilliseconds: -1)
        }
    }

    @Test func aChipThatVanishesMidReadIsReportedAndOutputsStopWriting() throws {
        let chip = SimulatedGPIOChip(lineCount: 4, clock: SimulatedClock())
        let gauge = try chip.openInput(GPIOInputConfiguration(line: .offset(0), consumer: "t", debounceMilliseconds: 10))
        let siren = try chip.openOutput(GPIOOutputConfiguration(line: .offset(1), consumer: "t"))
        chip.schedule([GPIOEdgeEvent(.falling, atNanoseconds: 5 * millisecond)], offset: 0)
        _ = try gauge.waitForEvents(timeoutMilliseconds: 1)
        chip.vanish()
        #expect(throws: GPIOError.disconnected(chip: "/dev/gpiochip0", line: .offset(0))) {
            _ = try gauge.waitForEvents(timeoutMilliseconds: 100)
        }
        #expect(throws: GPIOError.disconnected(chip: "/dev/gpiochip0", line: .offset(1))) {
            try siren.set(on: true)
        }
        #expect(!siren.isOn)
    }
}
