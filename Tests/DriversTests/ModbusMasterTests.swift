// The master's transaction rules over a scripted line: retries, typed errors, counters, and a
// bus where one dead slave must not starve the others.
import Testing
import TimeSeam
@testable import Drivers

@Suite struct ModbusMasterTests {
    let readOne = ModbusRequest.readHoldingRegisters(address: 0, count: 1)

    @Test func aReplySplitAcrossReadsIsReassembled() throws {
        let reply = withCRC([1, 0x03, 0x02, 0x01, 0x02])
        let (master, transport) = try scriptedMaster([.chunks([Array(reply[0..<1]), Array(reply[1..<4]), Array(reply[4...])])])
        #expect(try master.execute(readOne, slaveID: 1) == .registers([0x0102]))
        #expect(transport.requestsHeard == [readOne.frame(slaveID: 1)])
        #expect(master.counters[1]?.requests == 1)
        #expect(master.counters[1]?.goodReplies == 1)
        #expect(master.counters[1]?.lastGoodReplyMonotonicNanoseconds != nil)
    }

    @Test func staleInputIsDiscardedBeforeEveryTry() throws {
        let (master, transport) = try scriptedMaster([.silence, .chunks([withCRC([1, 0x03, 0x02, 0x00, 0x07])])])
        #expect(try master.execute(readOne, slaveID: 1) == .registers([7]))
        #expect(transport.discardCalls == 2)
    }

    @Test func silenceIsRetriedThenReportedWithTheNumberOfTries() throws {
        let (master, transport) = try scriptedMaster([.silence, .silence, .silence])
        #expect(throws: ModbusError.noReply(slaveID: 1, port: "scripted line", timeoutMilliseconds: 10, attempts: 3)) {
            try master.execute(readOne, slaveID: 1)
        }
        #expect(transport.requestsHeard.count == 3)
        #expect(master.counters[1]?.timeouts == 3)
        #expect(master.counters[1]?.requests == 3)
    }

    /// The master measures its reply window and the line's silences on the clock it is given (the
    /// bus thread's: scenario time in a simulation). A silent slave on a stepped clock costs three
    /// reply windows of that clock and not a moment of the wall; with deadlines on the wall, each
    /// read would have moved the simulated port's clock by its timeout again and again until a
    /// real half second had passed.
    @Test func aSilentSlavesReplyWindowsAreMeasuredOnTheBussClock() throws {
        let clock = SimulatedClock()
        let port = SimulatedSerialPort(clock: clock, device: nil)
        let master = try ModbusRTUMaster(
            transport: port, settings: SerialSettings(baudRate: 9600), configuration: .init(timeoutMilliseconds: 500, retriesMax: 2), clock: clock)
        #expect(throws: ModbusError.self) { try master.execute(readOne, slaveID: 1) }
        #expect(master.counters[1]?.timeouts == 3)
        // Each try: 8 request bytes on the wire (8.3 ms), then a reply window of 500 ms plus the
        // request's own transmission time (9 ms).
        #expect(clock.nanoseconds >= 3 * 509_000_000)
        #expect(clock.nanoseconds < 3 * 530_000_000)
    }

    @Test func aBadCRCIsRetriedAndAGoodSecondTryWins() throws {
        var corrupted = withCRC([1, 0x03, 0x02, 0x00, 0x07])
        corrupted[3] ^= 0x01
        let (master, _) = try scriptedMaster([.chunks([corrupted]), .chunks([withCRC([1, 0x03, 0x02, 0x00, 0x07])])])
        #expect(try master.execute(readOne, slaveID: 1) == .registers([7]))
        #expect(master.counters[1]?.crcErrors == 1)
        #expect(master.counters[1]?.goodReplies == 1)
    }

    @Test func anExceptionIsADefiniteAnswerAndIsNotRetried() throws {
        let (master, transport) = try scriptedMaster([.chunks([withCRC([1, 0x83, 0x02])])])
        #expect(throws: ModbusError.exception(slaveID: 1, port: "scripted line", functionCode: 3, code: .illegalDataAddress)) {
            try master.execute(readOne, slaveID: 1)
        }
        #expect(transport.requestsHeard.count == 1)
        #expect(master.counters[1]?.exceptions == 1)
    }

    @Test func wrongSlaveTruncatedAndWrongFunctionAreCountedAsBadFrames() throws {
        let (master, _) = try scriptedMaster([
            .chunks([withCRC([2, 0x03, 0x02, 0x00, 0x07])]),
            .chunks([[1, 0x03, 0x02, 0x00]]),
            .chunks([withCRC([1, 0x04, 0x02, 0x00, 0x07])]),
        ])
        #expect(throws: ModbusError.badReply(
            slaveID: 1, port: "scripted line", fault: .wrongFunction(receivedFunction: 4), attempts: 3)) {
            try master.execute(readOne, slaveID: 1)
        }
        #expect(master.counters[1]?.badFrames == 3)
        #expect(master.counters[1]?.timeouts == 0)
    }

    @Test func anUnpluggedPortEndsTheTransactionAtOnceWithoutRetries() throws {
        let (master, transport) = try scriptedMaster([.disconnect])
        #expect(throws: ModbusError.transport(.disconnected(path: "scripted"))) {
            try master.execute(readOne, slaveID: 1)
        }
        #expect(transport.requestsHeard.count == 1)
    }

    @Test func endlessNoiseStopsAtTheLongestFrame() throws {
        // A babbling line (a shorted transceiver) keeps sending; the master must stop at the
        // 256-byte RTU maximum rather than read forever.
        let noise = Array(repeating: [UInt8](repeating: 0x55, count: 64), count: 100)
        let (master, transport) = try scriptedMaster([.chunks(noise)], retriesMax: 0)
        #expect(throws: ModbusError.self) { try master.execute(readOne, slaveID: 1) }
        #expect(transport.readCalls <= ModbusReplyParser.frameBytesMax / 64 + 1)
    }

    @Test func timingFollowsTheSerialLineSpecification() throws {
        let transport = ScriptedTransport([])
        let slow = try ModbusRTUMaster(transport: transport, settings: SerialSettings(baudRate: 9600))
        #expect(slow.interFrameSilenceMicroseconds == 3646)  // 3.5 × 10 bits ÷ 9600, rounded up
        #expect(slow.transmitMicroseconds(byteCount: 8) == 8334)
        let even = try ModbusRTUMaster(transport: transport, settings: SerialSettings(baudRate: 19200, parity: .even))
        #expect(even.interFrameSilenceMicroseconds == 2006)  // 11-bit characters
        let fast = try ModbusRTUMaster(transport: transport, settings: SerialSettings(baudRate: 115200))
        #expect(fast.interFrameSilenceMicroseconds == 1750)  // fixed above 19200 baud
    }

    @Test func limitsOnTimeoutAndRetriesAreEnforced() {
        let transport = ScriptedTransport([])
        #expect(throws: ModbusError.self) {
            try ModbusRTUMaster(transport: transport, settings: SerialSettings(), configuration: .init(timeoutMilliseconds: 0))
        }
        #expect(throws: ModbusError.self) {
            try ModbusRTUMaster(transport: transport, settings: SerialSettings(), configuration: .init(retriesMax: 50))
        }
    }

    @Test func aDeadSlaveCostsItsNeighboursOneTryPerRound() throws {
        // Slave 1 answers; slave 2 is dead. First round: slave 2 gets 1 + retriesMax tries; after
        // that, one try per round until it answers again.
        let good = ScriptedReply.chunks([withCRC([1, 0x04, 0x02, 0x00, 0x2A])])
        let (master, transport) = try scriptedMaster([good, .silence, .silence, .silence, good, .silence, good, .silence])
        let bus = try ModbusBus(master: master, polls: [
            ModbusPoll(name: "level", slaveID: 1, function: .inputRegisters, address: 0, decoding: .init(type: .uint16, scale: 0.5)),
            ModbusPoll(name: "slope", slaveID: 2, function: .inputRegisters, address: 0),
        ])
        for _ in 0..<3 {
            let outcomes = try bus.pollOnce()
            guard case .reading(let reading) = outcomes[0] else {
                Issue.record("the live slave must be read every round: \(outcomes[0])")
                continue
            }
            #expect(reading.values == [21])
            guard case .failed(_, 2, .noReply) = outcomes[1] else {
                Issue.record("the dead slave must be reported silent: \(outcomes[1])")
                continue
            }
        }
        #expect(transport.requestsHeard.count == 3 + 3 + 1 + 1)
        #expect(bus.counters[2]?.timeouts == 5)
        #expect(bus.counters[1]?.goodReplies == 3)
        #expect(bus.lastGoodReading(pollName: "level")?.registers == [42])
        #expect(bus.lastGoodReading(pollName: "slope") == nil)
    }

    @Test func aBusRefusesDuplicateNamesAndImpossibleReadings() throws {
        let (master, _) = try scriptedMaster([])
        #expect(throws: ModbusError.self) {
            try ModbusBus(master: master, polls: [
                ModbusPoll(name: "a", slaveID: 1, function: .holdingRegisters, address: 0),
                ModbusPoll(name: "a", slaveID: 2, function: .holdingRegisters, address: 0),
            ])
        }
        #expect(throws: ModbusError.self) {
            try ModbusBus(master: master, polls: [
                ModbusPoll(name: "a", slaveID: 1, function: .holdingRegisters, address: 0, valueCount: 70, decoding: .init(type: .float32))
            ])
        }
    }
}
