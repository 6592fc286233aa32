// Link signals end the push's backoff at once (issue 18): the wake-up itself, the push loops
// woken out of a long rest, the probe, and rtnetlink's bytes (parsed, and live in a namespace).
import Foundation
import Logging
import Synchronization
import Testing
import TimeSeam
@testable import VillageGateway
import WarningLogic

/// Records each wait and then waits for real until cancelled: a rest only a signal can end.
final class HangingSleeper: GatewayClock {
    func nowNanoseconds() -> Int64 { FixedClock().nowNanoseconds() }
    let delays = Mutex<[Int64]>([])
    func sleep(untilNanoseconds deadline: Int64) async {
        delays.withLock { $0.append((deadline - nowNanoseconds()) / 1_000_000) }
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3_600)) }
    }
    var all: [Int64] { delays.withLock { $0 } }
}

/// The box's clock, moved by the test: "a week offline" is one call.
final class ManualClock: GatewayClock {
    let milliseconds = Atomic<Int64>(FixedClock.time.millisecondsSinceUnixEpoch)
    func nowNanoseconds() -> Int64 { milliseconds.load(ordering: .relaxed) * 1_000_000 }
    func advance(by step: Int64) { milliseconds.add(step, ordering: .relaxed) }
}

/// Waits for `condition` with a bound in iterations, never in time: true when it held.
func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<2_000_000 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

@Suite struct LinkSignalTests {
    @Test func aSignalRaisedDuringTheFailedAttemptStillEndsItsWait() async {
        let signals = LinkSignals()
        let before = signals.generation
        signals.raise(LinkSignal(source: .kernel, detail: "ppp0 is up", time: FixedClock.time))
        // The loop read the generation before its attempt: the wait that follows ends at once.
        let woken = await signals.sleep(milliseconds: 3_600_000, sleeper: HangingSleeper(), afterGeneration: before)
        #expect(woken)
    }

    @Test func aWaitEndsOnTheNextSignalAndOnCancellation() async {
        let signals = LinkSignals()
        let generation = signals.generation
        let waiting = Task { await signals.sleep(milliseconds: 3_600_000, sleeper: HangingSleeper(), afterGeneration: generation) }
        try? await Task.sleep(for: .milliseconds(5))
        signals.raise(LinkSignal(source: .probe, detail: "county:443 accepted a TCP connection", time: FixedClock.time))
        #expect(await waiting.value)
        let cancelled = Task { await signals.sleep(milliseconds: 3_600_000, sleeper: HangingSleeper(), afterGeneration: signals.generation) }
        cancelled.cancel()
        #expect(await cancelled.value == false)
    }

    @Test func upAndDownSayWhenAndWhichSignalAndAnOutageIsMeasured() {
        let signals = LinkSignals()
        let start = FixedClock.time
        signals.markDown(reason: "POST failed: connection refused", at: start)
        signals.markDown(reason: "again", at: start.adding(milliseconds: 5_000))
        #expect(signals.uplink.isUp == false)
        #expect(signals.uplink.since == start)
        signals.raise(LinkSignal(source: .kernel, detail: "ppp0 got an IPv4 address", time: start.adding(milliseconds: 7 * Milliseconds.day)))
        let outage = signals.markUp(at: start.adding(milliseconds: 7 * Milliseconds.day + 300))
        #expect(outage == LinkOutage(from: start, through: start.adding(milliseconds: 7 * Milliseconds.day + 300),
                                     downReason: "POST failed: connection refused", endedBy: "kernel: ppp0 got an IPv4 address"))
        #expect(signals.uplink.isUp == true)
        #expect(signals.uplink.signal == "kernel: ppp0 got an IPv4 address")
        #expect(signals.markUp(at: start.adding(milliseconds: 8 * Milliseconds.day)) == nil)
    }

    /// After a week offline the push rests an hour after its failures; the link returns, the
    /// kernel says so, and the backlog goes at once: alarms first, then the rest in pages, then
    /// the county learns of the outage.
    @Test func aKernelSignalEndsTheHourLongRestAndTheBacklogGoesAlarmsFirst() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        county.script([.serverError])
        let sleeper = HangingSleeper()
        let clock = ManualClock()
        let log = EventLog()
        // One failure ends the round: the next wait is the long rest.
        let policy = PushBackoffPolicy(baseMilliseconds: 5_000, capMilliseconds: 900_000, floorMilliseconds: 1_000, attemptsPerRoundMax: 1, restMilliseconds: 3_600_000)
        try await county.serve { port in
            var configuration = CountyConfiguration()
            configuration.httpPush = HTTPPushConfiguration(url: "http://127.0.0.1:\(port)/v1/push", keyFile: try PushFixture.keyFile(), batchMax: 2)
            let service = try PushService(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration, station: PushFixture.station, clock: clock, logger: Logger(label: "test.push"),
                backoff: policy, sleeper: sleeper, random: PushRandom(seed: 18), observer: log.record, probeSleeper: HangingSleeper())
            let running = Task { await service.run() }
            #expect(await eventually { sleeper.all.contains { $0 >= policy.restMilliseconds } })
            #expect(service.signals.uplink.isUp == false)
            #expect(service.signals.uplink.nextAttemptAt != nil)
            clock.advance(by: 7 * Milliseconds.day)
            service.signals.raise(LinkSignal(source: .kernel, detail: "ppp0 is up", time: clock.now()))
            #expect(await eventually { fixture.undelivered.isEmpty && county.storedSequences.count == 8 })
            running.cancel()
            await running.value
            #expect(service.signals.uplink.isUp == true)
            #expect(service.signals.uplink.signal == "kernel: ppp0 is up")
        }
        #expect(log.all.contains(.woken(transport: "http", by: "kernel: ppp0 is up")))
        #expect(log.all.contains(.outageReported(sequence: 8, waiting: 7)))
        // The rest was asked for and never waited out: the only waits are the rest and idling.
        #expect(sleeper.all.first == log.all.compactMap { if case .httpFailed(_, let delay) = $0 { delay } else { nil } }.first)
        let delivered = county.bodies.dropFirst().map { $0.reports.map(\.sequence) }
        #expect(delivered.first == [2, 5])
        #expect(delivered.flatMap { $0 } == [2, 5, 4, 7, 8, 1, 3, 6])
        let outage = try #require(county.bodies.flatMap(\.reports).first { $0.kind == LinkOutageReport.kind })
        #expect(outage.priority == "event")
    }

    @Test func theProbeConnectsOnlyWhileThePushIsFailing() async {
        let signals = LinkSignals()
        let probes = Atomic<Int>(0)
        let counter = CountingSleeperBox()
        let probe = Task {
            await LinkProbe.run(
                endpoints: [PushEndpoint(host: "county.example", port: 443)], everyMilliseconds: 60_000, timeoutMilliseconds: 1_000,
                signals: signals, clock: FixedClock(), sleeper: counter) { _, _ in
                    probes.add(1, ordering: .relaxed)
                    return nil
                }
        }
        #expect(await eventually { counter.count >= 5 })
        #expect(probes.load(ordering: .relaxed) == 0)
        let generation = signals.generation
        signals.markDown(reason: "POST failed", at: FixedClock.time)
        #expect(await eventually { signals.generation != generation })
        #expect(signals.uplink.lastSignal?.description == "probe: county.example:443 accepted a TCP connection")
        probe.cancel()
        await probe.value
    }

    @Test func statusSaysTheUplinkIsDownSinceWhenWhyAndWhenTheNextTryIs() {
        let signals = LinkSignals()
        signals.markDown(reason: "POST http://county/v1/push failed: connection refused", at: FixedClock.time)
        signals.scheduleNextAttempt(at: FixedClock.time.adding(milliseconds: 3_600_000))
        let status = StatusUplink(signals.uplink, utcOffsetMinutes: 480)
        #expect(status.state == "down")
        #expect(status.lines == [
            "Uplink    down since \(ISO8601.format(FixedClock.time, utcOffsetMinutes: 480)); next try \(ISO8601.format(FixedClock.time.adding(milliseconds: 3_600_000), utcOffsetMinutes: 480))",
            "          push: POST http://county/v1/push failed: connection refused",
        ])
        signals.raise(LinkSignal(source: .kernel, detail: "wwan0 is up", time: FixedClock.time))
        signals.markUp(at: FixedClock.time.adding(milliseconds: 1_000))
        #expect(StatusUplink(signals.uplink, utcOffsetMinutes: 480).lines.last == "          kernel: wwan0 is up")
    }

    // MARK: rtnetlink

    /// One rtnetlink message as the kernel writes it (little-endian host).
    static func message(type: UInt16, body: [UInt8], attributes: [(UInt16, [UInt8])]) -> [UInt8] {
        var payload = body
        for (kind, value) in attributes {
            let length = 4 + value.count
            payload += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(kind & 0xFF), UInt8(kind >> 8)] + value
            while payload.count % 4 != 0 { payload.append(0) }
        }
        let length = 16 + payload.count
        return le32(UInt32(length)) + [UInt8(type & 0xFF), UInt8(type >> 8), 0, 0] + le32(0) + le32(0) + payload
    }

    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * UInt32($0))) & 0xFF) } }

    static func link(index: UInt32, name: String, flags: UInt32) -> [UInt8] {
        message(type: 16, body: [0, 0, 0, 0] + le32(index) + le32(flags) + le32(0), attributes: [(3, Array(name.utf8) + [0])])
    }

    @Test func kernelMessagesBecomeSignalsOnlyForTheUplinkComingBack() {
        let upRunning: UInt32 = 0x1 | 0x40
        let bytes = Self.link(index: 3, name: "ppp0", flags: upRunning) + Self.link(index: 4, name: "docker0", flags: upRunning)
            + Self.message(type: 24, body: [2, 0, 0, 0, 254, 3, 0, 1] + Self.le32(0), attributes: [(4, Self.le32(4))])
            + Self.message(type: 20, body: [2, 24, 0, 0] + Self.le32(4), attributes: [(3, Array("docker0".utf8) + [0])])
            + Self.link(index: 3, name: "ppp0", flags: upRunning)
            + Self.link(index: 3, name: "ppp0", flags: 0x1)
            + Self.link(index: 3, name: "ppp0", flags: 0x1 | 0x1_0000)
        let events = RouteNetlink.events(in: bytes)
        #expect(events.count == 7)
        #expect(events[2] == .defaultRouteAdded(outputIndex: 4))
        var interpreter = UplinkInterpreter(interfaceNames: ["ppp0", "wwan0", "eth0"])
        let signals = events.map { interpreter.interpret($0) }
        #expect(signals == [
            "ppp0 is up", nil,
            "a default route appeared via docker0",
            // The default route's interface is the uplink now, whatever its name.
            "docker0 got an IPv4 address",
            nil,  // ppp0 still up: no news
            nil,  // carrier lost
            "ppp0 is up",
        ])
        // Truncated or garbage bytes are skipped, never trusted.
        #expect(RouteNetlink.events(in: Array(bytes.prefix(20))).isEmpty)
        #expect(RouteNetlink.events(in: [0xFF, 0xFF, 0xFF, 0xFF] + Array(repeating: 0, count: 20)).isEmpty)
        // A route in another table or with a prefix is not a default route.
        #expect(RouteNetlink.events(in: Self.message(type: 24, body: [2, 24, 0, 0, 254, 3, 0, 1] + Self.le32(0), attributes: [])).isEmpty)
    }

    static var canMakeNamespaces: Bool {
        getuid() == 0 && (FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip"))
    }

    @Test(.enabled(if: canMakeNamespaces, "needs root and iproute2 (ip netns): run as root, or in CI"))
    func theKernelSaysWhenAnUplinkInterfaceComesUpInANamespace() async throws {
        let namespace = "vg-link-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try NetworkNamespaces.ip(["netns", "add", namespace])
        defer { try? NetworkNamespaces.ip(["netns", "delete", namespace]) }
        let seen = Mutex<[String]>([])
        let watcher = try RouteNetlinkWatcher.start(interfaceNames: ["vgup0"], networkNamespacePath: "/run/netns/\(namespace)") { signal in
            seen.withLock { $0.append(signal) }
        }
        defer { watcher.stop() }
        // A veth pair: the uplink has a carrier once both ends are up (the far end first).
        try NetworkNamespaces.ip(["-n", namespace, "link", "add", "vgup0", "type", "veth", "peer", "name", "vgfar0"])
        try NetworkNamespaces.ip(["-n", namespace, "link", "set", "vgfar0", "up"])
        try NetworkNamespaces.ip(["-n", namespace, "link", "set", "vgup0", "up"])
        #expect(await eventually { seen.withLock { $0 }.contains("vgup0 is up") })
        try NetworkNamespaces.ip(["-n", namespace, "address", "add", "169.254.18.1/24", "dev", "vgup0"])
        #expect(await eventually { seen.withLock { $0 }.contains("vgup0 got an IPv4 address") })
        try NetworkNamespaces.ip(["-n", namespace, "route", "add", "default", "dev", "vgup0"])
        #expect(await eventually { seen.withLock { $0 }.contains("a default route appeared via vgup0") })
        watcher.stop()
        #expect(await eventually { watcher.isFinished })
    }
}

final class CountingSleeperBox: GatewayClock {
    func nowNanoseconds() -> Int64 { FixedClock().nowNanoseconds() }
    private let counted = Atomic<Int>(0)
    var count: Int { counted.load(ordering: .relaxed) }
    func sleep(untilNanoseconds deadline: Int64) async {
        counted.add(1, ordering: .relaxed)
        try? await Task.sleep(for: .milliseconds(1))
    }
}

/// `ip` for the namespace tests; a failure says the command and its output.
enum NetworkNamespaces {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func ip(_ arguments: [String]) throws {
        try run(FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip", arguments)
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text)")
        }
    }
}
