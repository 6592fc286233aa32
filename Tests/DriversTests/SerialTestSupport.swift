// Pseudo-terminal pairs made in-process, so serial tests need no hardware and no socat.
import Glibc
@testable import Drivers

/// The master end of a pty; `slavePath` is what the code under test opens as its "serial port".
final class PseudoTerminalPair {
    let slavePath: String
    private(set) var master: SerialDescriptor?

    init() throws {
        // What posix_openpt/grantpt/unlockpt/ptsname do inside glibc; Swift's Glibc module does
        // not export them, so the two ioctls (asm-generic numbers) are spelled out.
        let fileDescriptor = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fileDescriptor >= 0 else { throw TestSetupError("open /dev/ptmx: \(String(cString: strerror(errno)))") }
        let unlockRequest: UInt = 0x4004_5431  // TIOCSPTLCK
        let numberRequest: UInt = 0x8004_5430  // TIOCGPTN
        var locked: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(fileDescriptor, unlockRequest, &locked) == 0, ioctl(fileDescriptor, numberRequest, &number) == 0 else {
            Glibc.close(fileDescriptor)
            throw TestSetupError("pty setup: \(String(cString: strerror(errno)))")
        }
        slavePath = "/dev/pts/\(number)"
        master = SerialDescriptor(fileDescriptor: fileDescriptor, path: "pty master")
    }

    deinit { closeMaster() }

    /// Hangs up the line, as an unplugged adapter or a dying socat would.
    func closeMaster() {
        guard let master else { return }
        Glibc.close(master.fileDescriptor)
        self.master = nil
    }

    func send(_ bytes: [UInt8]) throws {
        try master!.write(bytes, timeoutMilliseconds: 1000)
    }

    /// Reads exactly `count` bytes or fails after the hang guard.
    func receive(count: Int, hangGuardMilliseconds: Int = 2000) throws -> [UInt8] {
        var received: [UInt8] = []
        let deadline = MonotonicDeadline(millisecondsFromNow: hangGuardMilliseconds)
        while received.count < count {
            let chunk = try master!.read(maxBytes: count - received.count, timeoutMilliseconds: deadline.remainingMilliseconds)
            if chunk.isEmpty { throw TestSetupError("pty master received \(received.count) of \(count) bytes") }
            received += chunk
        }
        return received
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

