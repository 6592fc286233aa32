// The outbox's one writer (issue 13 part 2): the county API's acknowledgement, the push's
// deliveries and its outage report are written on the outbox-writer thread, never on the
// cooperative pool, and outside writes wait in a bounded queue.
import Foundation
import Logging
import Synchronization
import Testing
import WarningLogic
@testable import VillageGateway

extension Outbox {
    /// The box's one writer over a store a test made itself (every `OutboxService` writes on the
    /// one outbox-writer thread).
    var writer: OutboxService { OutboxService(outbox: self, keepDeliveredMilliseconds: Milliseconds.day, logger: Logger(label: "test.outbox")) }
}

/// A store's write guard that records, for each write transaction, whether it ran on the
/// outbox-writer thread; `holdNext` makes the next write wait until `release` (a stalled disk).
final class WriterThreadRecorder: Sendable {
    private struct State {
        var onWriterThread: [Bool] = []
        var holding = false
    }
    private let state = Mutex(State())
    private let held = DispatchSemaphore(value: 0)

    var writeGuard: @Sendable () -> Void {
        { [self] in
            let hold = state.withLock { state in
                state.onWriterThread.append(OutboxService.executor.isCurrentThread)
                defer { state.holding = false }
                return state.holding
            }
            if hold { held.wait() }
        }
    }

    /// Whether each write since the last `forget` ran on the writer thread.
    var writes: [Bool] { state.withLock { $0.onWriterThread } }
    func forget() { state.withLock { $0.onWriterThread = [] } }
    func holdNext() { state.withLock { $0.holding = true } }
    func release() { held.signal() }

    func outbox() throws -> Outbox { try Outbox(path: OutboxTests.temporaryStorePath(), writeGuard: writeGuard) }
}

@Suite(.serialized) struct OutboxWriterTests {
    /// The negative space: without it the tests below would pass with a guard that sees nothing.
    @Test func aWriteMadeStraightOnTheCooperativePoolIsSeenByTheGuard() async throws {
        let recorder = WriterThreadRecorder()
        let outbox = try recorder.outbox()
        _ = try await Task { try outbox.append(OutboxTests.alarm(1)) }.value
        _ = try await outbox.writer.append(OutboxTests.alarm(2))
        #expect(recorder.writes == [false, true])
    }

    @Test func theCountysAcknowledgementIsWrittenOnTheOutboxWriterThread() async throws {
        let recorder = WriterThreadRecorder()
        let fixture = try CountyAPIFixture(outbox: try recorder.outbox())
        let sequences = try fixture.fillStorm()
        recorder.forget()
        let body = Array("{\"through\": \(sequences[2])}".utf8)
        try await fixture.test { client in
            let answer = try await client.execute(
                uri: "/v1/reports/ack", method: .post, headers: fixture.headers("POST", "/v1/reports/ack", body: body),
                body: .init(bytes: body))
            #expect(answer.status == .ok)
        }
        #expect(try fixture.outbox.backlog.delivered == 3)
        #expect(recorder.writes == [true])
    }

    @Test func anHTTPPushDeliveryIsMarkedOnTheOutboxWriterThread() async throws {
        let recorder = WriterThreadRecorder()
        let fixture = PushFixture(outbox: try recorder.outbox())
        try fixture.fillMixed()
        recorder.forget()
        let county = TestCounty()
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, batchMax: 100, client: client)
                guard case .delivered(_, let marked) = await push.pushOnce(allowRoutine: true) else {
                    Issue.record("the push must deliver")
                    return
                }
                #expect(marked.count == 7)
            }
        }
        #expect(fixture.undelivered.isEmpty)
        #expect(!recorder.writes.isEmpty && recorder.writes.allSatisfy { $0 })
    }

    @Test func anSL651DeliveryIsMarkedOnTheOutboxWriterThread() async throws {
        let recorder = WriterThreadRecorder()
        let fixture = SL651PushFixture(outbox: try recorder.outbox())
        _ = try fixture.outbox.append(OutboxTests.alarm(1))
        _ = try fixture.outbox.append(OutboxTests.routine(2))
        recorder.forget()
        let centre = try TestCentre(script: [.ack, .eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 2))
        #expect(recorder.writes == [true, true])
    }

    @Test func outsideWritesPastTheLimitAreRefusedWhileTheDiskStalls() async throws {
        let recorder = WriterThreadRecorder()
        let outbox = try recorder.outbox()
        let writer = outbox.writer
        let sequence = try outbox.append(OutboxTests.alarm(1))
        recorder.holdNext()
        let limit = OutboxService.outsideWritesWaitingMax
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<limit {
                group.addTask { _ = try await writer.markDelivered(sequences: [sequence], at: Timestamp(millisecondsSinceUnixEpoch: 1)) }
            }
            // Bounded wait on the condition: every one of them admitted (the first holds the thread).
            var rounds = 0
            while writer.outsideWritesWaitingCount < limit {
                rounds += 1
                #expect(rounds < 20_000, "the writes never all reached the writer's queue")
                if rounds >= 20_000 { break }
                try await Task.sleep(for: .milliseconds(1))
            }
            await #expect(throws: OutboxError.self) {
                _ = try await writer.acknowledge(through: sequence, at: Timestamp(millisecondsSinceUnixEpoch: 2))
            }
            recorder.release()
            try await group.waitForAll()
        }
        #expect(writer.outsideWritesWaitingCount == 0)
        #expect(try outbox.backlog.delivered == 1)
        // Room again once the disk has caught up.
        #expect(try await writer.acknowledge(through: sequence, at: Timestamp(millisecondsSinceUnixEpoch: 3)) == 0)
    }
}
