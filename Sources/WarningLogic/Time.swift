// Time as the engine sees it: plain values handed in with every event; the engine has no clock.

/// An instant, in milliseconds since 1970-01-01T00:00:00Z. Integer milliseconds keep replay exact:
/// a tip at τ is in a window of length W at t exactly while t − W < τ ≤ t, with no rounding.
public struct Timestamp: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var millisecondsSinceUnixEpoch: Int64

    public init(millisecondsSinceUnixEpoch: Int64) {
        self.millisecondsSinceUnixEpoch = millisecondsSinceUnixEpoch
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool {
        a.millisecondsSinceUnixEpoch < b.millisecondsSinceUnixEpoch
    }

    public func adding(milliseconds: Int64) -> Timestamp {
        Timestamp(millisecondsSinceUnixEpoch: millisecondsSinceUnixEpoch + milliseconds)
    }

    public func milliseconds(since earlier: Timestamp) -> Int64 {
        millisecondsSinceUnixEpoch - earlier.millisecondsSinceUnixEpoch
    }

    public var description: String { "\(millisecondsSinceUnixEpoch)ms" }
}

/// Named durations, so configuration defaults read as what they are.
public enum Milliseconds {
    public static let second: Int64 = 1_000
    public static let minute: Int64 = 60_000
    public static let hour: Int64 = 3_600_000
    public static let day: Int64 = 86_400_000
}
