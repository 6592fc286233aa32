// The SL 651 push against an in-test TCP centre (plain sockets on a thread): every uplink checked
// with the independent decoder; ACK, ESC, EOT, silence, garbage and a dropped link.
import Foundation
import Logging
import Synchronization
import Testing
import TimeSeam
@testable import VillageGateway
import WarningLogic

/// A county centre on 127.0.0.1: accepts one connection at a time, cuts the uplink stream into
/// frames by their length field, decodes each with `sl651DecodeUplink`, and answers report frames
/// as scripted (keep-alives get no answer).
final class TestCentre: @unchecked Sendable {
    enum Answer: Sendable {
        case ack, esc, eot
        /// No answer at all: the box must time out.
        case silence
        /// Noise, a CRC-damaged copy of the answer, then the ACK.
        case garbageThenAck
        /// Close the connection without answering.
        case hangUp
        /// An answer to another serial (an old frame) and an ENQ for this one, then the ACK.
        case otherSerialAndEnquiryThenAck
        /// Send EOT as soon as this many keep-alives have arrived (answering the report with ACK).
        case ackThenEOTAfterKeepAlives(Int)
        /// As the Python centre 64673a/SL651-2014 answers: same function code, empty body, this end.
        case emptyBody(end: String)
        /// The empty-body answer written in three pieces, a little apart (one frame in three segments).
        case emptyBodyInThreePieces
        /// Two empty-body answers in one write: a late answer to an earlier copy and this one's.
        case emptyBodyTwice
        /// An empty-body answer with a damaged CRC and one for another station: neither may count.
        case emptyBodyDamagedAndForAnotherStation
        /// Two ACKs echoing this serial in one write: a late answer to the first copy and this one's.
        case ackTwice
        /// The empty-body ESC answer and, in the same write, these command frames from the centre.
        case emptyBodyThenCommands([[UInt8]])
    }

    struct Received: Sendable {
        var connection: Int
        var frame: SL651DecodedUplink
    }

    private let lock = NSLock()
    private var script: [Answer]
    private var received: [Received] = []
    private var decodeFailures: [String] = []
    private var stopping = false
    private let listener: Int32
    let port: Int
    /// Called with each report frame before it is answered (a test adds reports meanwhile).
    private let onReport: (@Sendable (SL651DecodedUplink) -> Void)?

    init(script: [Answer], onReport: (@Sendable (SL651DecodedUplink) -> Void)? = nil) throws {
        self.script = script
        self.onReport = onReport
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 4) == 0 else { throw TestCentreError.cannotListen }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    enum TestCentreError: Error { case cannotListen }

    var frames: [Received] { lock.withLock { received } }
    var failures: [String] { lock.withLock { decodeFailures } }

    func stop() {
        lock.withLock { stopping = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        var connection = 0
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            connection += 1
            handle(client, connection: connection)
            close(client)
            if lock.withLock({ stopping }) { return }
        }
    }

    private func send(_ client: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
    }

    /// The centre's answer to `frame`: a downlink frame with the same serial, built by hand.
    static func emptyAnswer(to frame: SL651DecodedUplink, end: String, station: String? = nil) -> [UInt8] {
        sl651Downlink(station: station ?? frame.station, centre: String(format: "%02X", frame.centre), password: String(format: "%04X", frame.password),
                      function: String(format: "%02X", frame.function), body: "", end: end)
    }

    static func answer(to frame: SL651DecodedUplink, end: String) -> [UInt8] {
        let serial = String(format: "%04X", frame.serial)
        return sl651Downlink(station: frame.station, centre: String(format: "%02X", frame.centre), password: String(format: "%04X", frame.password),
                             function: String(format: "%02X", frame.function), body: serial + "260714031500", end: end)
    }

    private func handle(_ client: Int32, connection: Int) {
        var buffer: [UInt8] = []
        var pendingEOTAfterKeepAlives: Int?
        var keepAlivesSeen = 0
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            var pollDescriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollDescriptor, 1, 100)
            if lock.withLock({ stopping }) { return }
            if ready == 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            buffer += chunk[0..<count]
            // Cut complete frames: 13 header bytes, STX, body, end, 2 CRC.
            while buffer.count >= 13 {
                let bodyLength = (Int(buffer[11]) << 8 | Int(buffer[12])) & 0x0FFF
                let total = 13 + 1 + bodyLength + 1 + 2
                guard buffer.count >= total else { break }
                let bytes = Array(buffer[0..<total])
                buffer.removeFirst(total)
                guard let frame = try? sl651DecodeUplink(bytes) else {
                    lock.withLock { decodeFailures.append(sl651Hex(bytes)) }
                    continue
                }
                lock.withLock { received.append(Received(connection: connection, frame: frame)) }
                if frame.function == 0x2F {
                    keepAlivesSeen += 1
                    if let wanted = pendingEOTAfterKeepAlives, keepAlivesSeen >= wanted {
                        send(client, Self.answer(to: frame, end: "04"))
                    }
                    continue
                }
                // Answers to the centre's commands (37H and up) are acknowledged as the Python centre
                // does every uplink but 2F: same code, empty body, ESC. The box must not answer those.
                if frame.function >= 0x36 {
                    send(client, Self.emptyAnswer(to: frame, end: "1B"))
                    continue
                }
                onReport?(frame)
                let answer: Answer = lock.withLock { script.isEmpty ? .ack : script.removeFirst() }
                switch answer {
                case .ack: send(client, Self.answer(to: frame, end: "06"))
                case .esc: send(client, Self.answer(to: frame, end: "1B"))
                case .eot: send(client, Self.answer(to: frame, end: "04"))
                case .silence: break
                case .garbageThenAck:
                    var damaged = Self.answer(to: frame, end: "06")
                    damaged[damaged.count - 1] ^= 0xFF
                    send(client, [0x00, 0x13, 0x7E, 0x41, 0x54] + damaged + Self.answer(to: frame, end: "06"))
                case .hangUp: return
                case .otherSerialAndEnquiryThenAck:
                    var other = frame
                    other.serial = frame.serial == 1 ? 2 : frame.serial - 1
                    send(client, Self.answer(to: other, end: "06") + Self.answer(to: frame, end: "05") + Self.answer(to: frame, end: "06"))
                case .ackThenEOTAfterKeepAlives(let count):
                    pendingEOTAfterKeepAlives = count
                    keepAlivesSeen = 0
                    send(client, Self.answer(to: frame, end: "06"))
                case .emptyBody(let end):
                    send(client, Self.emptyAnswer(to: frame, end: end))
                case .emptyBodyInThreePieces:
                    let bytes = Self.emptyAnswer(to: frame, end: "1B")
                    for range in [0..<5, 5..<14, 14..<bytes.count] {
                        send(client, Array(bytes[range]))
                        usleep(20_000)
                    }
                case .ackTwice:
                    send(client, Self.answer(to: frame, end: "06") + Self.answer(to: frame, end: "06"))
                case .emptyBodyTwice:
                    send(client, Self.emptyAnswer(to: frame, end: "06") + Self.emptyAnswer(to: frame, end: "06"))
                case .emptyBodyDamagedAndForAnotherStation:
                    var damaged = Self.emptyAnswer(to: frame, end: "1B")
                    damaged[damaged.count - 1] ^= 0x01
                    send(client, damaged + Self.emptyAnswer(to: frame, end: "1B", station: "9999999999"))
                case .emptyBodyThenCommands(let commands):
                    send(client, Self.emptyAnswer(to: frame, end: "1B") + commands.flatMap { $0 })
                }
            }
        }
    }
}

struct SL651PushFixture {
    static let identity = try! SL651StationIdentity(
        centreAddress: 5, stationAddress: try! SL651StationAddress(digits: TestCounty.station), password: 0x03E8)

    /// The test's mapping: observation summaries and level changes become add (33) reports with
    /// the sequence as the river level; other kinds have no SL 651 form.
    static let frames: SL651FrameBuilder = { stored, serial, sendTime in
        guard stored.report.kind == "observationSummary" || stored.report.kind == "levelChanged" else { return nil }
        let fields = ISO8601.localFields(stored.report.time, utcOffsetMinutes: 480)
        guard let observed = try? SL651LocalTime(year: fields.year, month: fields.month, day: fields.day, hour: fields.hour, minute: fields.minute),
              let level = try? SL651Element.riverLevel(meters: Double(stored.sequence) / 100)
        else { return nil }
        return try? SL651UplinkEncoder.report(
            identity: identity, functionCode: .addReport, serialNumber: serial, sendTime: sendTime,
            report: SL651Report(stationClass: .river, observationTime: observed, elements: [level]))
    }

    let outbox: Outbox

    init() throws { outbox = try Outbox(path: OutboxTests.temporaryStorePath()) }
    init(outbox: Outbox) { self.outbox = outbox }

    func transport(port: Int, answerTimeoutMilliseconds: Int64 = 10_000, keepAliveEveryMilliseconds: Int64 = 60_000,
                   window: DailyWindow? = nil, resendsPerReportMax: Int = 2, commandSources: SL651CommandSources = .none,
                   mapping: SL651MappingConfiguration = SL651MappingConfiguration(), logger: Logger = Logger(label: "test.sl651")) throws -> SL651PushTransport {
        try SL651PushTransport(
            outbox: outbox, writer: outbox.writer, identity: Self.identity,
            configuration: SL651PushConfiguration(host: "127.0.0.1", port: port, keepAliveEveryMilliseconds: keepAliveEveryMilliseconds),
            schedule: PushSchedule(window: window, utcOffsetMinutes: 480), frames: Self.frames, clock: SystemClock(),
            timings: SL651PushTimings(connectTimeoutMilliseconds: 5_000, answerTimeoutMilliseconds: answerTimeoutMilliseconds, idlePollMilliseconds: 20,
                                      resendsPerReportMax: resendsPerReportMax),
            logger: logger, mapping: mapping, commandSources: commandSources)
    }

    var undelivered: Set<Int64> { Set((try? outbox.undelivered(limit: 500))?.map(\.sequence) ?? []) }
}

@Suite(.serialized) struct SL651PushTests {
    @Test func reportsGoByPriorityOneAtATimeEachAcknowledgedAndDecodable() async throws {
        let fixture = try SL651PushFixture()
        let (routine, alarms, events) = try PushFixture(outbox: fixture.outbox).fillMixed()
        let centre = try TestCentre(script: [.ack, .ack, .ack, .ack, .eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port)
        let end = await push.runConnection()
        #expect(end == SL651ConnectionEnd(reason: .closedByCentre, delivered: 5))
        let frames = centre.frames.map(\.frame)
        #expect(centre.failures.isEmpty)
        // Alarms (levelChanged) first, then routine summaries; the events (inputRejected) have no SL 651 form.
        #expect(frames.map(\.serial) == (alarms + routine).map { Int($0) })
        #expect(frames.allSatisfy { $0.function == 0x33 && $0.station == TestCounty.station && $0.centre == 5 && $0.password == 0x03E8 })
        #expect(frames.map { $0.elements.first?.value } == (alarms + routine).map { String(format: "%.3f", Double($0) / 100) })
        #expect(fixture.undelivered == Set(events))  // left for HTTP push and pull, not lost
        #expect(push.counters.reportsWithoutSL651Form == 2)
        #expect(push.counters.acknowledged == 5)
    }

    @Test func silenceMeansReconnectAndTheSameSerialIsSentAgain() async throws {
        let fixture = try SL651PushFixture()
        let sequence = try fixture.outbox.append(OutboxTests.alarm(1))
        // M2: sent three times on the link (two resends), then the link is given up.
        let centre = try TestCentre(script: [.silence, .silence, .silence, .eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port, answerTimeoutMilliseconds: 300)
        guard case .failed(let reason) = await push.runConnection().reason else {
            Issue.record("silence must fail the connection")
            return
        }
        #expect(reason.contains("no answer to serial \(sequence)"))
        #expect(fixture.undelivered == [sequence])
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 1))
        #expect(centre.frames.map(\.connection) == [1, 1, 1, 2])
        #expect(centre.frames.map(\.frame.serial) == Array(repeating: Int(sequence), count: 4))
        #expect(push.counters.answerTimeouts == 3)
        #expect(push.counters.resends == 2)
        #expect(fixture.undelivered.isEmpty)
    }

    @Test func garbageAndDamagedFramesAreCountedAndTheGoodAnswerStillCounts() async throws {
        let fixture = try SL651PushFixture()
        _ = try fixture.outbox.append(OutboxTests.routine(1))
        _ = try fixture.outbox.append(OutboxTests.routine(2))
        let centre = try TestCentre(script: [.garbageThenAck, .eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 2))
        #expect(push.counters.downlinkFramesRejected >= 1)
        #expect(fixture.undelivered.isEmpty)
    }

    @Test func escKeepsTheLinkOpenOutsideTheWindowAndKeepAlivesFlowWhileIdle() async throws {
        let fixture = try SL651PushFixture()
        let alarm = try fixture.outbox.append(OutboxTests.alarm(1))
        let routine = try fixture.outbox.append(OutboxTests.routine(2))
        // ESC to the alarm; then idle: keep-alives every 50 ms; after 3 the centre sends EOT.
        let centre = try TestCentre(script: [.ackThenEOTAfterKeepAlives(3)])
        defer { centre.stop() }
        // A window that is never open (start == end): only alarms go; the ESC keeps the link.
        let escCentre = try TestCentre(script: [.esc])
        defer { escCentre.stop() }
        let closed = DailyWindow(startMinuteOfDay: 0, endMinuteOfDay: 0)
        let windowed = try fixture.transport(port: escCentre.port, keepAliveEveryMilliseconds: 50, window: closed)
        let task = Task { await windowed.runConnection() }
        // Wait for the ESC'd link to send keep-alives while the routine report waits for the window.
        while escCentre.frames.filter({ $0.frame.function == 0x2F }).count < 2 { await Task.yield() }
        task.cancel()
        let end = await task.value
        #expect(end.delivered == 1)
        #expect(escCentre.frames.first?.frame.serial == Int(alarm))
        #expect(!escCentre.frames.contains { $0.frame.serial == Int(routine) && $0.frame.function != 0x2F })
        #expect(fixture.undelivered == [routine])

        let open = try fixture.transport(port: centre.port, keepAliveEveryMilliseconds: 50)
        #expect(await open.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 1))
        let keepAlives = centre.frames.map(\.frame).filter { $0.function == 0x2F }
        #expect(keepAlives.count >= 3)
        #expect(keepAlives.allSatisfy { $0.bodyLength == 8 && $0.station == TestCounty.station })
        #expect(centre.failures.isEmpty && escCentre.failures.isEmpty)
        #expect(fixture.undelivered.isEmpty)
    }

    @Test func theLinkDroppedMidBatchLosesNothing() async throws {
        let fixture = try SL651PushFixture()
        for index in 1...4 { _ = try fixture.outbox.append(OutboxTests.routine(index)) }
        let centre = try TestCentre(script: [.ack, .hangUp, .ack, .ack, .eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port)
        let first = await push.runConnection()
        guard case .failed = first.reason else {
            Issue.record("a dropped link must fail the connection: \(first)")
            return
        }
        #expect(first.delivered == 1)
        #expect(fixture.undelivered == [2, 3, 4])
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 3))
        #expect(fixture.undelivered.isEmpty)
        #expect(centre.frames.map(\.frame.serial) == [1, 2, 2, 3, 4])
    }

    @Test func answersToOtherSerialsAndEnquiriesDoNotCountAsAcknowledgement() async throws {
        let fixture = try SL651PushFixture()
        _ = try fixture.outbox.append(OutboxTests.routine(1))
        _ = try fixture.outbox.append(OutboxTests.routine(2))
        let centre = try TestCentre(script: [.otherSerialAndEnquiryThenAck, .eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 2))
        #expect(push.counters.downlinkFramesUnmatched == 2)
        #expect(centre.frames.map(\.frame.serial) == [1, 2])
    }

    @Test func reportsWithAnSL651FormAreFoundBehindAFullPageOfReportsWithout() async throws {
        // Pages of 5: ten events (no SL 651 form) fill the undelivered page ahead of the summary.
        let limits = OutboxLimits(outboxBytesMax: 1 << 20, outboxBytesAfterThinning: 1 << 19, reportsPerPullMax: 5, payloadBytesMax: 4_096)
        let fixture = SL651PushFixture(outbox: try Outbox(path: OutboxTests.temporaryStorePath(), limits: limits))
        _ = try fixture.outbox.appendBatch((1...10).map { OutboxTests.event($0) })
        let summary = try fixture.outbox.append(OutboxTests.routine(11))
        let centre = try TestCentre(script: [.eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 1))
        #expect(centre.frames.map(\.frame.serial) == [Int(summary)])
        #expect(fixture.undelivered.count == 5)  // the events: still there for HTTP and pull
        #expect(try fixture.outbox.backlog.undeliveredEvents == 10)
    }

    @Test func noCentreListeningIsACouldNotConnect() async throws {
        let fixture = try SL651PushFixture()
        _ = try fixture.outbox.append(OutboxTests.alarm(1))
        let push = try fixture.transport(port: 1)
        guard case .couldNotConnect = await push.runConnection().reason else {
            Issue.record("nothing listening must be reported as such")
            return
        }
        #expect(fixture.undelivered == [1])
    }
}
