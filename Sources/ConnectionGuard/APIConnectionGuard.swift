// Limits on an HTTP server's connections: how many may be open, and how long one may take to send
// its head, its body, or its next request. The box's county API (idle or slow connections from a
// public mobile network must never take the descriptors the box needs for its own state) and the
// county's dashboard (`village-county serve`) both run behind them.
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// A server's connection limits. The box's: a county pulls over one connection at a time; 32 leaves
/// room for its tools and a technician's curl.
package struct APIConnectionLimits: Sendable, Equatable {
    /// Connections open at once. One more makes room by closing the connection idle the longest;
    /// when every open connection is in the middle of a request, the newcomer is closed instead.
    package var connectionsMax = 32
    /// From the connection's opening to the end of its request head.
    package var headerTimeoutMilliseconds: Int64 = 10_000
    /// From the request head to the end of its body (at most 16 KiB).
    package var bodyTimeoutMilliseconds: Int64 = 10_000
    /// From the end of an answer to the next request's head (keep-alive).
    package var idleTimeoutMilliseconds: Int64 = 15_000
    /// Pending connections the kernel queues before the server accepts them.
    package var backlog = 64

    package static let standard = APIConnectionLimits()

    /// Descriptors the county API must leave to the box (journal, snapshots, outbox, sockets,
    /// serial ports, shell sessions): its connection limit is lowered to keep them free.
    package static let descriptorsReservedForBox = 128
    /// The API never runs with fewer connections than this, whatever the descriptor limit.
    package static let connectionsMin = 4

    /// `connectionsMax` lowered, when needed, so that the descriptors open now, the API's
    /// connections and the box's reserve all fit under the process's limit (`ulimit -n`).
    package func fitted(descriptorLimit: Int, descriptorsOpen: Int) -> APIConnectionLimits {
        var fitted = self
        let room = descriptorLimit - descriptorsOpen - Self.descriptorsReservedForBox
        fitted.connectionsMax = max(Self.connectionsMin, min(connectionsMax, room))
        return fitted
    }
}

/// The process's descriptor limit and use, read from the kernel.
package enum ProcessDescriptors {
    /// The soft RLIMIT_NOFILE (what `ulimit -n` and systemd's LimitNOFILE= set).
    package static func limit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        // RLIM_INFINITY is all ones; clamping reads it as "more than enough".
        return Int(clamping: min(limit.rlim_cur, UInt(Int.max / 2)))
    }

    /// Descriptors open now (entries of /proc/self/fd, less the one reading it).
    package static func open() -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        return max(entries.count - 1, 0)
    }
}

/// The open API connections, shared by every connection's guard.
package final class APIConnectionRegistry: Sendable {
    struct Entry {
        let channel: any Channel
        /// Between requests or still waiting for a head: may be closed to make room.
        var evictable: Bool
        /// When it last became evictable (an ever-increasing counter): the smallest goes first.
        var order: UInt64
    }

    struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var counter: UInt64 = 0
        var evicted = 0
        var refused = 0
        var timedOut = 0
    }

    package let limits: APIConnectionLimits
    private let state = Mutex(State())

    package init(limits: APIConnectionLimits) {
        self.limits = limits
    }

    package var openConnections: Int { state.withLock { $0.entries.count } }
    /// Connections closed to make room, refused for want of room, and cut by a timeout.
    package var counters: (evicted: Int, refused: Int, timedOut: Int) { state.withLock { ($0.evicted, $0.refused, $0.timedOut) } }

    /// Registers a new connection; returns the connection to close to keep within the limit
    /// (the one idle the longest, or the newcomer itself when none is idle).
    func opened(_ id: ObjectIdentifier, channel: any Channel) -> (any Channel)? {
        state.withLock { state -> (any Channel)? in
            state.counter += 1
            state.entries[id] = Entry(channel: channel, evictable: true, order: state.counter)
            guard state.entries.count > limits.connectionsMax else { return nil }
            let victim = state.entries.filter { $0.key != id && $0.value.evictable }.min { $0.value.order < $1.value.order }
            if let victim {
                state.entries.removeValue(forKey: victim.key)
                state.evicted += 1
                return victim.value.channel
            }
            state.entries.removeValue(forKey: id)
            state.refused += 1
            return channel
        }
    }

    func setEvictable(_ id: ObjectIdentifier, _ evictable: Bool) {
        state.withLock { state in
            guard state.entries[id] != nil else { return }
            state.counter += 1
            state.entries[id]?.evictable = evictable
            state.entries[id]?.order = state.counter
        }
    }

    func closed(_ id: ObjectIdentifier, timedOut: Bool = false) {
        state.withLock { state in
            state.entries.removeValue(forKey: id)
            if timedOut { state.timedOut += 1 }
        }
    }
}

/// One connection's guard: sits after the HTTP decoder, so it sees request heads, bodies and
/// ends, and the answers going out. Closes the connection when a phase takes too long.
package final class APIConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart
    package typealias OutboundIn = HTTPResponsePart
    package typealias OutboundOut = HTTPResponsePart

    private let registry: APIConnectionRegistry
    private var deadline: Scheduled<Void>?
    private var registered = false

    package init(registry: APIConnectionRegistry) {
        self.registry = registry
    }

    private var id: ObjectIdentifier { ObjectIdentifier(self) }

    package func handlerAdded(context: ChannelHandlerContext) {
        registered = true
        if let victim = registry.opened(id, channel: context.channel) {
            victim.close(promise: nil)
        }
        arm(context, milliseconds: registry.limits.headerTimeoutMilliseconds)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        if registered { registry.closed(id) }
        registered = false
    }

    package func channelInactive(context: ChannelHandlerContext) {
        disarm()
        if registered { registry.closed(id) }
        registered = false
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            registry.setEvictable(id, false)
            arm(context, milliseconds: registry.limits.bodyTimeoutMilliseconds)
        case .body:
            break
        case .end:
            // The request is complete: the time the answer takes is the box's, not the client's.
            disarm()
        }
        context.fireChannelRead(data)
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            registry.setEvictable(id, true)
            arm(context, milliseconds: registry.limits.idleTimeoutMilliseconds)
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, milliseconds: Int64) {
        disarm()
        let registry = self.registry
        let id = self.id
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
            registry.closed(id, timedOut: true)
            channel.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
