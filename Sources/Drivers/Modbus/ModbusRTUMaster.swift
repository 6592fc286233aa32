// The Modbus RTU master: one synchronous owner of one serial line, sending a request, waiting
// for the reply within its deadline, retrying a bounded number of times, and counting per slave.
import Glibc
import TimeSeam

/// Health of one slave as the master saw it; the shell's status page and the county health
/// report show these, so a flaky cable is visible long before a sensor goes silent.
public struct ModbusSlaveCounters: Sendable, Equatable {
    /// Request frames sent, every retry included.
    public var requests = 0
    public var goodReplies = 0
    /// Tries that heard nothing at all.
    public var timeouts = 0
    public var crcErrors = 0
    public var exceptions = 0
    /// Replies with a good CRC but the wrong shape: truncated, too long, wrong slave, function,
    /// byte count or echo.
    public var badFrames = 0
    /// Monotonic time of the last good reply, for "last heard N s ago".
    public var lastGoodReplyMonotonicNanoseconds: UInt64?

    public init() {}
}

public final class ModbusRTUMaster {
    public struct Configuration: Sendable, Equatable {
        /// How long a slave may take to start answering once our request has left the line.
        public var timeoutMilliseconds: Int
        /// Extra tries after a timeout or an unusable reply (never after an exception: that is
        /// a definite answer).
        public var retriesMax: Int
        /// The shortest silence taken as the end of a frame whose length we cannot know from its
        /// header (garbage, cut-off frames). The spec's 3.5 characters is 1.75–4 ms, but USB
        /// adapters deliver bytes in bursts up to their 16 ms latency timer and ptys through
        /// socat are scheduled by a busy kernel, so a gap that short inside one frame is normal.
        public var frameEndSilenceMillisecondsMin: Int

        public static let timeoutMillisecondsAllowed = 10...10_000
        public static let retriesMaxAllowed = 0...5
        public static let frameEndSilenceMillisecondsMinAllowed = 0...500

        public init(timeoutMilliseconds: Int = 500, retriesMax: Int = 2, frameEndSilenceMillisecondsMin: Int = 20) {
            self.timeoutMilliseconds = timeoutMilliseconds
            self.retriesMax = retriesMax
            self.frameEndSilenceMillisecondsMin = frameEndSilenceMillisecondsMin
        }

        public func validate() throws(ModbusError) {
            guard Self.timeoutMillisecondsAllowed.contains(timeoutMilliseconds) else {
                throw .invalidRequest("timeout \(timeoutMilliseconds) ms is outside \(Self.timeoutMillisecondsAllowed)")
            }
            guard Self.retriesMaxAllowed.contains(retriesMax) else {
                throw .invalidRequest("retries \(retriesMax) is outside \(Self.retriesMaxAllowed)")
            }
            guard Self.frameEndSilenceMillisecondsMinAllowed.contains(frameEndSilenceMillisecondsMin) else {
                throw .invalidRequest(
                    "frame-end silence \(frameEndSilenceMillisecondsMin) ms is outside \(Self.frameEndSilenceMillisecondsMinAllowed)")
            }
        }
    }

    public let transport: any SerialTransport
    /// The line's framing; only used for timing (character time, inter-frame silence).
    public let settings: SerialSettings
    public let configuration: Configuration
    /// Per slave address; at most 247 entries, one per valid address.
    public private(set) var counters: [UInt8: ModbusSlaveCounters] = [:]
    /// Earliest time on `clock` the next request may start: the spec's inter-frame silence after
    /// the last byte anyone put on the line.
    private var lineQuietAfterNanoseconds: Int64 = 0
    /// The bus's deadlines and silences: the monotonic clock on a board; the bus thread's clock in
    /// a simulation, the one its simulated port advances (so a reply window is scenario time).
    private let clock: any GatewayClock

    public init(
        transport: any SerialTransport, settings: SerialSettings, configuration: Configuration = Configuration(),
        clock: any GatewayClock = SystemMonotonicClock()
    ) throws(ModbusError) {
        try configuration.validate()
        do throws(SerialError) {
            try settings.validate()
        } catch {
            throw .transport(error)
        }
        self.transport = transport
        self.settings = settings
        self.configuration = configuration
        self.clock = clock
    }

    /// 3.5 character times, or the fixed 1750 µs the Modbus serial line specification sets
    /// above 19200 baud (where 3.5 characters would be too short for UARTs to time).
    public var interFrameSilenceMicroseconds: Int {
        guard settings.baudRate <= 19200 else { return 1750 }
        return (35 * settings.bitsPerCharacter * 1_000_000 + 10 * settings.baudRate - 1) / (10 * settings.baudRate)
    }

    /// Time `byteCount` bytes take on the wire at this line's framing.
    public func transmitMicroseconds(byteCount: Int) -> Int {
        (byteCount * settings.bitsPerCharacter * 1_000_000 + settings.baudRate - 1) / settings.baudRate
    }

    /// The silence that ends a frame: the spec's 3.5 characters, but never less than the
    /// configured floor (see `frameEndSilenceMillisecondsMin`).
    public var frameEndSilenceMilliseconds: Int {
        max((interFrameSilenceMicroseconds + 999) / 1000, configuration.frameEndSilenceMillisecondsMin, 1)
    }

    /// Sends `request` to `slaveID` and returns its reply, trying up to `attemptsMax` times
    /// (default: 1 + `retriesMax`). Throws typed errors; never hangs past
    /// attempts × (timeout + frame times).
    public func execute(_ request: ModbusRequest, slaveID: UInt8, attemptsMax: Int? = nil) throws(ModbusError) -> ModbusResponse {
        try request.validate(slaveID: slaveID)
        let attempts = min(max(attemptsMax ?? configuration.retriesMax + 1, 1), Configuration.retriesMaxAllowed.upperBound + 1)
        let frame = request.frame(slaveID: slaveID)
        var lastFault: ModbusReplyFault?
        for _ in 0..<attempts {
            let received: [UInt8]
            do throws(SerialError) {
                received = try transact(frame, request: request, slaveID: slaveID)
            } catch {
                throw .transport(error)
            }
            if received.isEmpty {
                counters[slaveID, default: ModbusSlaveCounters()].timeouts += 1
                continue
            }
            switch ModbusReplyParser.parse(received[...], slaveID: slaveID, request: request) {
            case .success(let response):
                counters[slaveID, default: ModbusSlaveCounters()].goodReplies += 1
                counters[slaveID, default: ModbusSlaveCounters()].lastGoodReplyMonotonicNanoseconds = MonotonicDeadline.nowNanoseconds()  // for `status`, read against the system monotonic clock
                return response
            case .failure(.exception(let code)):
                counters[slaveID, default: ModbusSlaveCounters()].exceptions += 1
                throw .exception(slaveID: slaveID, port: transport.portDescription, functionCode: request.functionCode, code: code)
            case .failure(.fault(let fault)):
                if case .crcMismatch = fault {
                    counters[slaveID, default: ModbusSlaveCounters()].crcErrors += 1
                } else {
                    counters[slaveID, default: ModbusSlaveCounters()].badFrames += 1
                }
                lastFault = fault
            }
        }
        if let lastFault {
            throw .badReply(slaveID: slaveID, port: transport.portDescription, fault: lastFault, attempts: attempts)
        }
        throw .noReply(
            slaveID: slaveID, port: transport.portDescription, timeoutMilliseconds: configuration.timeoutMilliseconds, attempts: attempts)
    }

    /// Reads `count` registers with function 03 (holding) or 04 (input).
    public func readRegisters(
        slaveID: UInt8, function: ModbusReadFunction, address: UInt16, count: Int, attemptsMax: Int? = nil
    ) throws(ModbusError) -> [UInt16] {
        let request: ModbusRequest = switch function {
        case .holdingRegisters: .readHoldingRegisters(address: address, count: count)
        case .inputRegisters: .readInputRegisters(address: address, count: count)
        }
        guard case .registers(let registers) = try execute(request, slaveID: slaveID, attemptsMax: attemptsMax) else {
            preconditionFailure("the parser returns registers for a read request")
        }
        return registers
    }

    /// Writes one register with function 06.
    public func writeRegister(slaveID: UInt8, address: UInt16, value: UInt16) throws(ModbusError) {
        _ = try execute(.writeSingleRegister(address: address, value: value), slaveID: slaveID)
    }

    /// Writes consecutive registers with function 16.
    public func writeRegisters(slaveID: UInt8, address: UInt16, values: [UInt16]) throws(ModbusError) {
        _ = try execute(.writeMultipleRegisters(address: address, values: values), slaveID: slaveID)
    }

    /// One try: silence, send, collect the reply bytes. Returns [] when nothing came back.
    private func transact(_ frame: [UInt8], request: ModbusRequest, slaveID: UInt8) throws(SerialError) -> [UInt8] {
        waitForInterFrameSilence()
        // Bytes already waiting are a late reply to an earlier try or line noise; left in, they
        // would be read as the start of this reply.
        try transport.discardInput()
        let requestMilliseconds = (transmitMicroseconds(byteCount: frame.count) + 999) / 1000
        try transport.write(frame, timeoutMilliseconds: configuration.timeoutMilliseconds + requestMilliseconds)
        counters[slaveID, default: ModbusSlaveCounters()].requests += 1
        // write(2) returns once the kernel has the bytes, not once they left the line: the reply
        // window starts after the request's own transmission time.
        let sentNanoseconds = clock.nowNanoseconds()
        lineQuietAfterNanoseconds = sentNanoseconds
            + Int64(transmitMicroseconds(byteCount: frame.count) + interFrameSilenceMicroseconds) * 1000
        let replyWindowMilliseconds = configuration.timeoutMilliseconds + requestMilliseconds
        let received = try receiveFrame(for: request, firstByteWithinMilliseconds: replyWindowMilliseconds)
        if !received.isEmpty {
            lineQuietAfterNanoseconds = clock.nowNanoseconds() + Int64(interFrameSilenceMicroseconds) * 1000
        }
        return received
    }

    /// Collects one frame into a buffer bounded by the RTU maximum. The frame ends when the
    /// header says it is complete, or after `frameEndSilenceMilliseconds` without a byte, or at a
    /// hard deadline (a line babbling noise must not hold the bus).
    private func receiveFrame(for request: ModbusRequest, firstByteWithinMilliseconds: Int) throws(SerialError) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(ModbusReplyParser.frameBytesMax)
        let firstByteDeadline = ClockDeadline(clock: clock, millisecondsFromNow: firstByteWithinMilliseconds)
        let longestFrameMilliseconds = (transmitMicroseconds(byteCount: ModbusReplyParser.frameBytesMax) + 999) / 1000
        let hardDeadline = ClockDeadline(
            clock: clock, millisecondsFromNow: firstByteWithinMilliseconds + longestFrameMilliseconds + frameEndSilenceMilliseconds)
        while buffer.count < ModbusReplyParser.frameBytesMax {
            let expected = ModbusReplyParser.frameLength(startingWith: buffer[...], for: request)
            if let expected, buffer.count >= expected { break }
            let wanted = min(expected ?? ModbusReplyParser.frameBytesMax, ModbusReplyParser.frameBytesMax) - buffer.count
            let waitMilliseconds = buffer.isEmpty
                ? firstByteDeadline.remainingMilliseconds
                : min(frameEndSilenceMilliseconds, hardDeadline.remainingMilliseconds)
            if waitMilliseconds == 0 {
                // The thread came late to its deadline (descheduled on a loaded board; in a
                // simulation at 86400x the reply window is microseconds of wall): what arrived in
                // time is still taken, by one read that does not wait.
                buffer += try transport.read(maxBytes: wanted, timeoutMilliseconds: 0).prefix(wanted)
                break
            }
            let chunk = try transport.read(maxBytes: wanted, timeoutMilliseconds: waitMilliseconds)
            if chunk.isEmpty { break }  // silence: the frame is over (or never began)
            buffer += chunk.prefix(wanted)
        }
        return buffer
    }

    /// Sleeps (never spins) until the line has been quiet for the inter-frame silence.
    private func waitForInterFrameSilence() {
        clock.sleepBlocking(untilNanoseconds: lineQuietAfterNanoseconds)
    }
}

/// A point on the bus's clock to give up at.
private struct ClockDeadline {
    let clock: any GatewayClock
    let nanoseconds: Int64

    init(clock: any GatewayClock, millisecondsFromNow: Int) {
        self.clock = clock
        nanoseconds = clock.nowNanoseconds() + Int64(max(0, millisecondsFromNow)) * 1_000_000
    }

    /// Whole milliseconds left, rounded up so a deadline 0.3 ms away still gets one last poll
    /// rather than returning early; 0 once passed.
    var remainingMilliseconds: Int {
        let left = nanoseconds - clock.nowNanoseconds()
        return left <= 0 ? 0 : Int((left + 999_999) / 1_000_000)
    }
}

/// The two read functions a sensor's register map names.
public enum ModbusReadFunction: String, Sendable, CaseIterable {
    /// Function 03.
    case holdingRegisters = "holding"
    /// Function 04.
    case inputRegisters = "input"

    public var functionCode: UInt8 {
        switch self {
        case .holdingRegisters: 0x03
        case .inputRegisters: 0x04
        }
    }
}
