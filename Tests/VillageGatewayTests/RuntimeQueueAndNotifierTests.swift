// The engine owner's queue never drops an input, and sd_notify reaches a socket as systemd's would.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct RuntimeQueueAndNotifierTests {
    @Test func aFullQueueMakesInputsWaitAndLosesNothing() async {
        let queue = EventQueue()
        let total = EventQueue.eventsQueuedMax * 3
        let producer = Task {
            for index in 0..<total {
                await queue.submit(Event(time: Timestamp(millisecondsSinceUnixEpoch: Int64(index)), kind: .tips(sensorId: "rain1", count: 1)))
            }
        }
        var received: [Int64] = []
        while received.count < total, let event = await queue.next() {
            received.append(event.time.millisecondsSinceUnixEpoch)
        }
        await producer.value
        #expect(received == (0..<Int64(total)).map { $0 })
        #expect(await queue.depthHighWater <= EventQueue.eventsQueuedMax)
    }

    @Test func aTickIsNotQueuedWhenTheQueueIsFull() async {
        let queue = EventQueue()
        for index in 0..<EventQueue.eventsQueuedMax {
            await queue.submit(Event(time: Timestamp(millisecondsSinceUnixEpoch: Int64(index)), kind: .tick))
        }
        #expect(await queue.offerTick(at: Timestamp(millisecondsSinceUnixEpoch: 9_999)) == false)
        _ = await queue.next()
        #expect(await queue.offerTick(at: Timestamp(millisecondsSinceUnixEpoch: 9_999)) == true)
    }

    @Test func closingWakesTheOwner() async {
        let queue = EventQueue()
        let owner = Task { await queue.next() }
        await queue.close()
        #expect(await owner.value == nil)
    }

    /// A datagram socket bound where systemd would listen; returns its descriptor.
    static func bindDatagram(_ path: String, abstract: Bool) -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes.insert(0, at: 0) }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in for (index, byte) in bytes.enumerated() { buffer[index] = byte } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        precondition(result == 0, "bind \(path): \(String(cString: strerror(errno)))")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return descriptor
    }

    static func receive(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count < 0 ? nil : String(decoding: buffer[..<count], as: UTF8.self)
    }

    @Test func notificationsReachAFilesystemSocket() {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))").path
        let descriptor = Self.bindDatagram(path, abstract: false)
        defer { close(descriptor); unlink(path) }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"])
        #expect(notifier.watchdogIntervalMilliseconds == 2_000)
        #expect(notifier.notify("READY=1"))
        #expect(Self.receive(descriptor) == "READY=1")
    }

    @Test func notificationsReachAnAbstractSocket() {
        let name = "vg-notify-\(UUID().uuidString.prefix(8))"
        let descriptor = Self.bindDatagram(name, abstract: true)
        defer { close(descriptor) }
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@\(name)"]).notify("WATCHDOG=1"))
        #expect(Self.receive(descriptor) == "WATCHDOG=1")
    }

    @Test func withoutSystemdNothingIsSentAndNoWatchdogRuns() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "4000000"])
        #expect(notifier.watchdogIntervalMilliseconds == nil)
        #expect(notifier.notify("READY=1") == false)
        // A watchdog meant for another process (WATCHDOG_PID) is not ours to feed.
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"]).watchdogIntervalMilliseconds == nil)
    }
}

@Suite struct RuntimePackagingTests {
    static let unitPath = GatewayBinary.repositoryRoot.appendingPathComponent("packaging/village-gateway.service").path

    @Test func theUnitIsANotifyServiceRestartedAlwaysWithAWatchdog() throws {
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let keys = Dictionary(unit.split(separator: "\n").compactMap { line -> (String, String)? in
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }, uniquingKeysWith: { first, _ in first })
        #expect(keys["Type"] == "notify")
        #expect(keys["Restart"] == "always")
        #expect(Int(keys["WatchdogSec"] ?? "") ?? 0 > 0)
        #expect(keys["StateDirectory"] == "village-gateway")
        // The command line the unit runs is one `run` accepts.
        let execStart = try #require(keys["ExecStart"]).split(separator: " ").map(String.init)
        #expect(execStart.first == "/usr/local/bin/village-gateway")
        let command = try VillageGatewayCommand.parseAsRoot(Array(execStart.dropFirst()))
        let run = try #require(command as? RunCommand)
        #expect(run.config == "/etc/village-gateway/gateway.toml")
        #expect(run.stateDirectory == "/var/lib/village-gateway")
    }
}

@Suite struct RuntimeStatusTextTests {
    @Test func chineseTextIsCutByTerminalColumnsNotCharacters() {
        let spoken = String(repeating: "黄坑村红色预警", count: 10)
        #expect(spoken.terminalColumns == 140)
        let cut = spoken.truncated(toColumns: 80)
        #expect(cut.terminalColumns <= 80 && cut.hasSuffix("…"))
        #expect("siren off".truncated(toColumns: 80) == "siren off")
    }
}
