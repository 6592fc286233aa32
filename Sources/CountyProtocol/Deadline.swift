// One deadline over a whole exchange. HTTP clients time out per read or until the answer's head;
// a peer that sends a byte a second satisfies both and holds the caller for as long as it likes.

/// Thrown by `withDeadline` when the time ran out.
package struct DeadlineExceeded: Error {
    package init() {}
}

/// `body`'s result, or `DeadlineExceeded` once `milliseconds` have passed (`body` is then
/// cancelled, which the HTTP client answers by closing the connection).
package func withDeadline<T: Sendable>(milliseconds: Int64, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            // Wall time by design: an exchange's deadline is the network's, at any scenario speed.
            try await Task.sleep(for: .milliseconds(milliseconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
        return value
    }
}
