// The kernel's view of the uplink over rtnetlink: an uplink interface going up, getting an IPv4
// address, or a default route appearing is a link signal (the push stops backing off at once).
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What one rtnetlink message says about the uplink. Pure data, parsed from the kernel's bytes.
enum KernelLinkEvent: Sendable, Equatable {
    /// RTM_NEWLINK: `isUp` is IFF_UP with the carrier (IFF_RUNNING or IFF_LOWER_UP).
    case link(index: Int32, name: String?, isUp: Bool)
    case linkRemoved(index: Int32)
    /// RTM_NEWADDR (IPv4).
    case addressAdded(index: Int32, label: String?)
    /// RTM_NEWROUTE in the main table with prefix length 0: a default route, via `outputIndex`.
    case defaultRouteAdded(outputIndex: Int32?)
    case defaultRouteRemoved
    /// The socket's buffer overflowed (ENOBUFS): messages were lost, something changed.
    case overrun
}

/// rtnetlink's wire format (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h), host byte order.
enum RouteNetlink {
    static let groupLink: UInt32 = 0x1          // RTMGRP_LINK
    static let groupIPv4Address: UInt32 = 0x10  // RTMGRP_IPV4_IFADDR
    static let groupIPv4Route: UInt32 = 0x40    // RTMGRP_IPV4_ROUTE
    static let messageHeaderBytes = 16
    static let newLink: UInt16 = 16, deleteLink: UInt16 = 17
    static let newAddress: UInt16 = 20
    static let newRoute: UInt16 = 24, deleteRoute: UInt16 = 25
    static let interfaceNameAttribute: UInt16 = 3   // IFLA_IFNAME
    static let addressLabelAttribute: UInt16 = 3    // IFA_LABEL
    static let routeOutputAttribute: UInt16 = 4     // RTA_OIF
    static let flagUp: UInt32 = 0x1, flagRunning: UInt32 = 0x40, flagLowerUp: UInt32 = 0x1_0000
    static let mainTable: UInt8 = 254

    /// The events in one datagram; malformed or foreign messages are skipped, never trusted.
    static func events(in bytes: [UInt8]) -> [KernelLinkEvent] {
        var events: [KernelLinkEvent] = []
        var offset = 0
        while offset + messageHeaderBytes <= bytes.count {
            let length = Int(u32(bytes, offset))
            guard length >= messageHeaderBytes, offset + length <= bytes.count else { break }
            let type = u16(bytes, offset + 4)
            let body = Array(bytes[(offset + messageHeaderBytes)..<(offset + length)])
            if let event = event(type: type, body: body) { events.append(event) }
            offset += (length + 3) & ~3
        }
        return events
    }

    private static func event(type: UInt16, body: [UInt8]) -> KernelLinkEvent? {
        switch type {
        case newLink, deleteLink:
            // struct ifinfomsg: family u8, pad u8, type u16, index i32, flags u32, change u32.
            guard body.count >= 16 else { return nil }
            let index = Int32(bitPattern: u32(body, 4))
            if type == deleteLink { return .linkRemoved(index: index) }
            let flags = u32(body, 8)
            let isUp = flags & flagUp != 0 && flags & (flagRunning | flagLowerUp) != 0
            return .link(index: index, name: attribute(interfaceNameAttribute, in: body, from: 16).map(cString), isUp: isUp)
        case newAddress:
            // struct ifaddrmsg: family u8, prefixlen u8, flags u8, scope u8, index u32.
            guard body.count >= 8 else { return nil }
            return .addressAdded(index: Int32(bitPattern: u32(body, 4)), label: attribute(addressLabelAttribute, in: body, from: 8).map(cString))
        case newRoute, deleteRoute:
            // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags u32.
            guard body.count >= 12, body[1] == 0, body[4] == mainTable else { return nil }
            if type == deleteRoute { return .defaultRouteRemoved }
            let output = attribute(routeOutputAttribute, in: body, from: 12).flatMap { $0.count >= 4 ? Int32(bitPattern: u32($0, 0)) : nil }
            return .defaultRouteAdded(outputIndex: output)
        default:
            return nil
        }
    }

    /// The payload of the first attribute of `type` (struct rtattr: len u16, type u16, payload).
    private static func attribute(_ type: UInt16, in body: [UInt8], from start: Int) -> [UInt8]? {
        var offset = start
        while offset + 4 <= body.count {
            let length = Int(u16(body, offset))
            guard length >= 4, offset + length <= body.count else { return nil }
            if u16(body, offset + 2) & 0x3FFF == type { return Array(body[(offset + 4)..<(offset + length)]) }
            offset += (length + 3) & ~3
        }
        return nil
    }

    private static func cString(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    private static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}

/// Turns kernel events into link signals: only transitions towards "the uplink may work now".
struct UplinkInterpreter: Sendable {
    /// `[county] uplink_interfaces`; the default route's interface counts too, whatever its name.
    let interfaceNames: Set<String>
    /// Interfaces remembered (index → name, up); bounded: a box has a handful.
    static let interfacesRememberedMax = 256
    private(set) var names: [Int32: String] = [:]
    private(set) var up: [Int32: Bool] = [:]
    private(set) var defaultRouteIndex: Int32?

    init(interfaceNames: [String]) { self.interfaceNames = Set(interfaceNames) }

    private func isUplink(_ index: Int32) -> Bool {
        index == defaultRouteIndex || names[index].map(interfaceNames.contains) == true
    }

    /// The signal's words for `event`, or nil when it says nothing about the uplink coming back.
    mutating func interpret(_ event: KernelLinkEvent, name lookup: (Int32) -> String? = { _ in nil }) -> String? {
        if names.count >= Self.interfacesRememberedMax { names.removeAll(); up.removeAll() }
        switch event {
        case .link(let index, let name, let isUp):
            if let name { names[index] = name }
            let was = up[index] ?? false
            up[index] = isUp
            guard isUp, !was, isUplink(index) else { return nil }
            return "\(names[index] ?? "interface \(index)") is up"
        case .linkRemoved(let index):
            up[index] = nil
            return nil
        case .addressAdded(let index, let label):
            if names[index] == nil, let known = label ?? lookup(index) { names[index] = known }
            guard isUplink(index) else { return nil }
            return "\(names[index] ?? "interface \(index)") got an IPv4 address"
        case .defaultRouteAdded(let output):
            defaultRouteIndex = output
            if let output, names[output] == nil, let known = lookup(output) { names[output] = known }
            return "a default route appeared" + (output.map { " via \(names[$0] ?? "interface \($0)")" } ?? "")
        case .defaultRouteRemoved:
            defaultRouteIndex = nil
            return nil
        case .overrun:
            return "the kernel reported link changes faster than they were read"
        }
    }
}

/// Reads rtnetlink on a thread of its own (a blocking socket must not hold a cooperative
/// thread) and hands each signal to `onSignal`. `stop` ends it within `pollMilliseconds`.
final class RouteNetlinkWatcher: Sendable {
    static let pollMilliseconds: Int32 = 500
    /// One datagram holds at most a page of messages; a dump of many routes comes in several.
    static let receiveBytesMax = 64 * 1024

    private let stopped = Atomic<Bool>(false)
    private let finished = Mutex<Bool>(false)

    /// Opens and binds the socket (in `networkNamespacePath` if given: tests watch a namespace
    /// they made; the daemon its own) and starts the thread. Throws with the reason when it cannot.
    static func start(
        interfaceNames: [String], networkNamespacePath: String? = nil, onSignal: @escaping @Sendable (String) -> Void
    ) throws(PushLinkError) -> RouteNetlinkWatcher {
        let watcher = RouteNetlinkWatcher()
        let opened = Mutex<Result<Int32, PushLinkError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread {
            let socket = Self.openSocket(networkNamespacePath: networkNamespacePath)
            opened.withLock { $0 = socket }
            ready.signal()
            guard case .success(let descriptor) = socket else { return }
            watcher.read(descriptor, interpreter: UplinkInterpreter(interfaceNames: interfaceNames), onSignal: onSignal)
            close(descriptor)
            watcher.finished.withLock { $0 = true }
        }
        thread.name = "rtnetlink"
        thread.start()
        ready.wait()
        if case .failure(let error) = opened.withLock({ $0 }) { throw error }
        return watcher
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    var isFinished: Bool { finished.withLock { $0 } }

    private static func openSocket(networkNamespacePath: String?) -> Result<Int32, PushLinkError> {
        if let networkNamespacePath {
            // setns affects this thread only: the rest of the process stays where it is.
            let namespace = open(networkNamespacePath, O_RDONLY | O_CLOEXEC)
            guard namespace >= 0 else { return .failure(PushLinkError(description: "cannot open \(networkNamespacePath): \(String(cString: strerror(errno)))")) }
            defer { close(namespace) }
            guard enterNetworkNamespace(namespace) == 0 else {
                return .failure(PushLinkError(description: "cannot enter \(networkNamespacePath): \(String(cString: strerror(errno)))"))
            }
        }
        let descriptor = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard descriptor >= 0 else { return .failure(PushLinkError(description: "cannot open an rtnetlink socket: \(String(cString: strerror(errno)))")) }
        // struct sockaddr_nl: family u16, pad u16, pid u32, groups u32.
        var address = [UInt8](repeating: 0, count: 12)
        address[0] = UInt8(AF_NETLINK & 0xFF)
        let groups = RouteNetlink.groupLink | RouteNetlink.groupIPv4Address | RouteNetlink.groupIPv4Route
        for byte in 0..<4 { address[8 + byte] = UInt8((groups >> (8 * UInt32(byte))) & 0xFF) }
        let bound = address.withUnsafeBytes { raw in
            bind(descriptor, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            return .failure(PushLinkError(description: "cannot listen to rtnetlink link/address/route changes: \(reason)"))
        }
        return .success(descriptor)
    }

    /// setns(fd, CLONE_NEWNET): glibc declares it only under _GNU_SOURCE, which Swift's Glibc
    /// module does not define, so it is looked up by name.
    private static func enterNetworkNamespace(_ descriptor: Int32) -> Int32 {
        let cloneNewNetwork: Int32 = 0x4000_0000
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "setns") else {
            errno = ENOSYS
            return -1
        }
        typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32
        return unsafeBitCast(symbol, to: SetNamespace.self)(descriptor, cloneNewNetwork)
    }

    private func read(_ descriptor: Int32, interpreter start: UplinkInterpreter, onSignal: @Sendable (String) -> Void) {
        var interpreter = start
        var buffer = [UInt8](repeating: 0, count: Self.receiveBytesMax)
        let lookup: (Int32) -> String? = { index in
            var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
            guard if_indextoname(UInt32(bitPattern: index), &name) != nil else { return nil }
            return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        while !stopped.load(ordering: .relaxed) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Self.pollMilliseconds)
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            let events: [KernelLinkEvent]
            if count < 0 {
                guard errno == ENOBUFS else { continue }
                events = [.overrun]
            } else {
                events = RouteNetlink.events(in: Array(buffer[0..<count]))
            }
            for event in events {
                if let signal = interpreter.interpret(event, name: lookup) { onSignal(signal) }
            }
        }
    }
}
