// Small helpers of the county program: errors on stderr, the wall clock (TimeSeam's).
import Foundation
import TimeSeam

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Real Unix time in milliseconds: signs requests (the box checks it against its own clock)
/// and stamps stored rows.
func wallClockMilliseconds() -> Int64 { SystemClock().nowMilliseconds() }
