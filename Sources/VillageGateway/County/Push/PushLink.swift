// Link awareness for the push: the modem's registration, a bounded TCP connect, and a TCP byte
// session with bounded, timed reads (the SL 651 transport's wire).
import Foundation
import NIOCore
import NIOPosix

/// "Is there a network?" from the modem. nil: unknown (no modem, not read yet, or the read is
/// stale); the push then relies on its own connect attempt.
protocol NetworkRegistrationProbe: Sendable {
    func dataNetworkAvailable() -> Bool?
}

extension HardwareOutputs: NetworkRegistrationProbe {
    /// A read older than this is not trusted (the SMS worker may be busy with a 60 s send).
    static let registrationReadAgeMillisecondsMax: Int64 = 3 * SMSWorker.registrationCheckEveryMilliseconds

    func dataNetworkAvailable() -> Bool? {
        modemNetwork(ageMillisecondsMax: Self.registrationReadAgeMillisecondsMax)?.status?.hasDataNetwork
    }
}

/// Why a TCP link to the county failed, in words a technician can act on.
struct PushLinkError: Error, Sendable, Equatable, CustomStringConvertible {
    var description: String
}

/// Where a transport connects: host and port, from a URL or `centre = "host:port"`.
struct PushEndpoint: Sendable, Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The host and port of an http(s) URL (port 80/443 when not given).
    init(url text: String) throws(PushLinkError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw PushLinkError(description: "push url \(text.debugDescription) is not an http:// or https:// URL with a host, e.g. \"https://county.example.cn/v1/push\"")
        }
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

enum TCPReachability {
    /// Whether a TCP connection to `endpoint` can be opened within `timeoutMilliseconds`; the
    /// connection is closed at once. nil means reachable; otherwise why not.
    static func check(_ endpoint: PushEndpoint, timeoutMilliseconds: Int64) async -> PushLinkError? {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(timeoutMilliseconds))
                .connect(host: endpoint.host, port: endpoint.port).get()
            try? await channel.close()
            return nil
        } catch {
            return PushLinkError(description: "cannot reach \(endpoint) within \(timeoutMilliseconds) ms: \(error)")
        }
    }
}

/// The two directions of a byte link, as the SL 651 session uses them. Implemented over TCP by
/// `TCPByteLink.withConnection`, and by nothing else in production.
protocol ByteLink: Sendable {
    func send(_ bytes: [UInt8]) async throws(PushLinkError)
    /// Bytes that arrived, waiting at most `timeoutMilliseconds`; empty when none came in time.
    /// Throws when the peer closed the connection or it failed.
    func receive(timeoutMilliseconds: Int64) async throws(PushLinkError) -> [UInt8]
}

/// Received bytes waiting to be read, in a bounded buffer, with one reader that may wait.
actor ByteMailbox {
    /// A centre answers in frames of tens of bytes; a peer that sends more than this unread is
    /// not a centre, and the oldest bytes go (counted), the reassembler resynchronises.
    static let bufferedBytesMax = 16 * 1024

    private var buffered: [UInt8] = []
    private var closedReason: String?
    private var waiter: (token: UInt64, continuation: CheckedContinuation<Void, Never>)?
    private var nextToken: UInt64 = 0
    private(set) var droppedBytes = 0

    func deliver(_ bytes: [UInt8]) {
        buffered += bytes
        if buffered.count > Self.bufferedBytesMax {
            droppedBytes += buffered.count - Self.bufferedBytesMax
            buffered.removeFirst(buffered.count - Self.bufferedBytesMax)
        }
        wakeReader()
    }

    func close(reason: String) {
        if closedReason == nil { closedReason = reason }
        wakeReader()
    }

    func receive(timeoutMilliseconds: Int64) async throws(PushLinkError) -> [UInt8] {
        if buffered.isEmpty && closedReason == nil && timeoutMilliseconds > 0 {
            nextToken += 1
            let token = nextToken
            let timer = Task { [weak self] in
                // Wall time by design: a network timeout is the peer's and the kernel's, at any scenario speed.
                try? await Task.sleep(nanoseconds: UInt64(timeoutMilliseconds) * 1_000_000)
                await self?.expire(token)
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in waiter = (token, continuation) }
            } onCancel: {
                Task { await self.expire(token) }
            }
            timer.cancel()
        }
        if !buffered.isEmpty {
            defer { buffered.removeAll(keepingCapacity: true) }
            return buffered
        }
        if let closedReason { throw PushLinkError(description: closedReason) }
        return []
    }

    private func expire(_ token: UInt64) {
        guard let waiter, waiter.token == token else { return }
        self.waiter = nil
        waiter.continuation.resume()
    }

    private func wakeReader() {
        guard let waiter else { return }
        self.waiter = nil
        waiter.continuation.resume()
    }
}

/// A TCP connection whose bytes are read by a child task into a `ByteMailbox`.
struct TCPByteLink: ByteLink {
    static let writeTimeoutMilliseconds: Int64 = 30_000

    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let mailbox: ByteMailbox

    /// A peer that stops reading fills TCP's buffers and a write waits; this bounds the wait.
    func send(_ bytes: [UInt8]) async throws(PushLinkError) {
        let outbound = outbound
        let written: Bool
        do {
            written = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await outbound.write(ByteBuffer(bytes: bytes))
                    return true
                }
                group.addTask {
                    // Wall time by design: a TCP write's timeout is the network's, at any scenario speed.
                    try await Task.sleep(nanoseconds: UInt64(Self.writeTimeoutMilliseconds) * 1_000_000)
                    return false
                }
                let first = try await group.next() ?? false
                group.cancelAll()
                return first
            }
        } catch {
            throw PushLinkError(description: "sending \(bytes.count) bytes failed: \(error)")
        }
        guard written else {
            throw PushLinkError(description: "sending \(bytes.count) bytes did not finish within \(Self.writeTimeoutMilliseconds) ms (the peer is not reading)")
        }
    }

    func receive(timeoutMilliseconds: Int64) async throws(PushLinkError) -> [UInt8] {
        try await mailbox.receive(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Connects within `connectTimeoutMilliseconds`, runs `body` with the link, and closes it
    /// when `body` returns. Throws only when the connection could not be opened.
    static func withConnection<Result: Sendable>(
        to endpoint: PushEndpoint, connectTimeoutMilliseconds: Int64,
        _ body: @Sendable (TCPByteLink) async -> Result
    ) async throws(PushLinkError) -> Result {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(connectTimeoutMilliseconds))
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw PushLinkError(description: "cannot connect to \(endpoint) within \(connectTimeoutMilliseconds) ms: \(error)")
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                let mailbox = ByteMailbox()
                return await withTaskGroup(of: Result?.self) { group in
                    group.addTask {
                        do {
                            for try await buffer in inbound { await mailbox.deliver(Array(buffer.readableBytesView)) }
                            await mailbox.close(reason: "the peer \(endpoint) closed the connection")
                        } catch {
                            await mailbox.close(reason: "the connection to \(endpoint) failed: \(error)")
                        }
                        return nil
                    }
                    let result = await body(TCPByteLink(outbound: outbound, mailbox: mailbox))
                    group.cancelAll()
                    return result
                }
            }
        } catch {
            throw PushLinkError(description: "the connection to \(endpoint) failed: \(error)")
        }
    }
}
