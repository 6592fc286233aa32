// Deadline-bounded reads and writes on an open serial file descriptor, shared by the termios
// and libserialport ports so both detect an unplugged adapter and time out the same way.
import Glibc

/// A point in monotonic time to give up at; wall-clock jumps (NTP, a modem setting the date)
/// must never stretch or cut a serial timeout. Not on the time seam, by design: poll(2) on a
/// real descriptor waits in the kernel's real time (the simulated ports have no descriptor).
struct MonotonicDeadline {
    let nanoseconds: UInt64

    init(millisecondsFromNow: Int) {
        nanoseconds = Self.nowNanoseconds() + UInt64(max(0, millisecondsFromNow)) * 1_000_000
    }

    /// Whole milliseconds left, rounded up so a deadline 0.3 ms away still gets one last poll
    /// rather than returning early; 0 once passed.
    var remainingMilliseconds: Int {
        let now = Self.nowNanoseconds()
        guard nanoseconds > now else { return 0 }
        return Int((nanoseconds - now + 999_999) / 1_000_000)
    }

    static func nowNanoseconds() -> UInt64 {
        var time = timespec()
        // CLOCK_MONOTONIC cannot fail with a valid pointer; a failure is a broken libc.
        precondition(clock_gettime(CLOCK_MONOTONIC, &time) == 0, "clock_gettime(CLOCK_MONOTONIC) failed")
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// The I/O half of a serial port: an open, non-blocking descriptor and the path it came from.
/// Opening and configuring differ between termios and libserialport; reading and writing don't.
struct SerialDescriptor {
    let fileDescriptor: Int32
    let path: String

    /// Limits one read(2) so a caller's `maxBytes` can never ask for an unbounded buffer.
    static let readBytesMax = 4096

    /// Waits (poll(2), no spinning) for input until the deadline; returns what one read(2) gives.
    func read(maxBytes: Int, timeoutMilliseconds: Int) throws(SerialError) -> [UInt8] {
        precondition(maxBytes > 0, "read(maxBytes:) needs room for at least one byte")
        let deadline = MonotonicDeadline(millisecondsFromNow: timeoutMilliseconds)
        let byteCount = min(maxBytes, Self.readBytesMax)
        while true {
            let events = try poll(for: Int16(POLLIN), deadline: deadline, operation: "read")
            if events == 0 { return [] }
            if events & Int16(POLLNVAL) != 0 {
                throw .io(path: path, operation: "read", detail: "the port is closed")
            }
            if events & Int16(POLLIN) == 0 {
                // POLLHUP or POLLERR with nothing left to read: a pty whose other end closed,
                // or a USB adapter pulled out.
                throw .disconnected(path: path)
            }
            var buffer = [UInt8](repeating: 0, count: byteCount)
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fileDescriptor, $0.baseAddress, byteCount) }
            if count > 0 { return Array(buffer[0..<count]) }
            if count == 0 { throw .disconnected(path: path) }  // end of file: the device hung up
            let error = errno
            switch error {
            case EAGAIN, EINTR: continue  // woken with nothing after all; poll again until the deadline
            case EIO, ENXIO, ENODEV: throw .disconnected(path: path)
            default: throw .io(path: path, operation: "read", detail: String(cString: strerror(error)))
            }
        }
    }

    /// Writes every byte or throws; the deadline bounds a line held up by flow control.
    func write(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialError) {
        let deadline = MonotonicDeadline(millisecondsFromNow: timeoutMilliseconds)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.write(fileDescriptor, $0.baseAddress! + written, bytes.count - written)
            }
            if count > 0 {
                written += count
                continue
            }
            let error = errno
            switch error {
            case EAGAIN, EINTR:
                let events = try poll(for: Int16(POLLOUT), deadline: deadline, operation: "write")
                if events == 0 { throw .timedOut(path: path, operation: "write") }
                if events & Int16(POLLOUT) == 0 { throw .disconnected(path: path) }
            case EIO, ENXIO, ENODEV:
                throw .disconnected(path: path)
            default:
                throw .io(path: path, operation: "write", detail: String(cString: strerror(error)))
            }
        }
    }

    func discardInput() throws(SerialError) {
        guard tcflush(fileDescriptor, TCIFLUSH) == 0 else {
            let error = errno
            if error == EIO || error == ENXIO || error == ENODEV { throw .disconnected(path: path) }
            throw .io(path: path, operation: "discard input", detail: String(cString: strerror(error)))
        }
    }

    /// One poll(2) for `wanted`, retried on EINTR with the time left; returns the revents, 0 on timeout.
    private func poll(for wanted: Int16, deadline: MonotonicDeadline, operation: String) throws(SerialError) -> Int16 {
        while true {
            var request = pollfd(fd: fileDescriptor, events: wanted, revents: 0)
            let ready = Glibc.poll(&request, 1, Int32(clamping: deadline.remainingMilliseconds))
            if ready > 0 { return request.revents }
            if ready == 0 { return 0 }
            let error = errno
            if error == EINTR { continue }
            throw .io(path: path, operation: operation, detail: String(cString: strerror(error)))
        }
    }

    /// Hands RS-485 direction control to the kernel driver (`TIOCSRS485`, linux/serial.h).
    func applyRS485(_ rs485: SerialSettings.RS485?) throws(SerialError) {
        guard let rs485 else { return }
        // struct serial_rs485 is eight 32-bit words: flags, delay before send, delay after send,
        // then padding the kernel requires to be zero. An array keeps that layout exact.
        let enabled: UInt32 = 1 << 0
        let rtsOnSend: UInt32 = 1 << 1
        let rtsAfterSend: UInt32 = 1 << 2
        let receiveDuringSend: UInt32 = 1 << 4
        var flags = enabled
        flags |= rs485.rtsHighWhileSending ? rtsOnSend : rtsAfterSend
        if rs485.receiveDuringSend { flags |= receiveDuringSend }
        var words = [UInt32](repeating: 0, count: 8)
        words[0] = flags
        words[1] = UInt32(rs485.delayBeforeSendMilliseconds)
        words[2] = UInt32(rs485.delayAfterSendMilliseconds)
        // 0x542F on the asm-generic ioctl table that ARM, ARM64, RISC-V and x86 Linux use.
        let setRS485Request: UInt = 0x542F
        let result = words.withUnsafeMutableBytes { ioctl(fileDescriptor, setRS485Request, $0.baseAddress!) }
        guard result == 0 else {
            let error = errno
            if error == ENOTTY || error == EINVAL || error == ENOIOCTLCMD {
                throw .invalidSetting(
                    "\(path) has no kernel RS-485 direction control (TIOCSRS485: \(String(cString: strerror(error)))): "
                        + "remove rs485 from the board file if the transceiver or USB adapter switches direction by itself")
            }
            throw .io(path: path, operation: "enable RS-485 direction control", detail: String(cString: strerror(error)))
        }
    }
}

/// Linux's internal "ioctl not supported" that some serial drivers leak to user space.
private let ENOIOCTLCMD: Int32 = 515

/// Maps open(2)'s errno to what the technician should do about it.
func serialOpenError(path: String, errorNumber: Int32) -> SerialError {
    switch errorNumber {
    case ENOENT, ENXIO, ENODEV: .notFound(path: path)
    case EACCES, EPERM: .permissionDenied(path: path)
    case EBUSY, EWOULDBLOCK: .busy(path: path)
    default: .io(path: path, operation: "open", detail: String(cString: strerror(errorNumber)))
    }
}

/// Takes an advisory exclusive lock so a second gateway (or our own shell) cannot interleave
/// bytes on the same bus. The lock is advisory: programs that flock(2) the device (picocom,
/// another gateway) respect it; a plain `cat` does not.
func lockSerialDescriptor(_ fileDescriptor: Int32, path: String) throws(SerialError) {
    guard flock(fileDescriptor, LOCK_EX | LOCK_NB) == 0 else {
        let error = errno
        if error == EWOULDBLOCK { throw .busy(path: path) }
        throw .io(path: path, operation: "lock", detail: String(cString: strerror(error)))
    }
}
