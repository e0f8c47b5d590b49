//! Route changes and the sticky source addresses of udp.zig. A source address pinned from where a peer reached
//! us stays right only while the route to that peer leaves through the interface the address was learned on.
//! A netlink socket subscribed to route, address and link notifications tells JS that routing changed; JS then
//! asks, per pinned endpoint, which interface the kernel would send through now (RTM_GETROUTE with the pinned
//! source), and forgets the source where that differs (src/device/route.ts). No allocation: fixed stack buffers.
const std = @import("std");
const linux = std.os.linux;
const c = std.c;
const E = std.posix.E;
const neg = @import("tun.zig").neg;
const EP_SIZE = @import("udp.zig").EP_SIZE;

const NETLINK_ROUTE: u32 = 0;
const SOL_SOCKET: i32 = 1;
const SO_RCVBUFFORCE: u32 = 33;
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const NLM_F_REQUEST: u16 = 1;
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_MARK: u16 = 16;

const NlMsgHdr = extern struct { len: u32, type: u16, flags: u16, seq: u32, pid: u32 };
const RtMsg = extern struct { family: u8, dst_len: u8, src_len: u8, tos: u8, table: u8, protocol: u8, scope: u8, type: u8, flags: u32 };
const RtAttr = extern struct { len: u16, type: u16 };
const SockAddrNl = extern struct { family: u16 = linux.AF.NETLINK, pad: u16 = 0, pid: u32 = 0, groups: u32 };

fn openNetlink(groups: u32) i32 {
    const fd = c.socket(linux.AF.NETLINK, linux.SOCK.RAW | linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return neg(std.posix.errno(fd));
    const sa = SockAddrNl{ .groups = groups };
    if (c.bind(fd, @ptrCast(&sa), @sizeOf(SockAddrNl)) < 0) {
        const e = std.posix.errno(-1);
        _ = c.close(fd);
        return neg(e);
    }
    return fd;
}

/// A socket that becomes readable when a route, an address or a link changes (IPv4 and IPv6). Returns fd or -errno.
pub fn openWatch() i32 {
    const fd = openNetlink(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE);
    // Room for bursts (a full routing table reload) between event-loop turns; an overrun is handled anyway (drain).
    if (fd >= 0) {
        const size: i32 = 1 << 20;
        _ = c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, std.mem.asBytes(&size), @sizeOf(i32));
    }
    return fd;
}

/// A socket for route queries (no notifications). Returns fd or -errno.
pub fn openQuery() i32 {
    return openNetlink(0);
}

/// Reads every waiting notification; returns how many reported a change (a lost one, ENOBUFS, counts as one),
/// 0 when none, or -errno.
pub fn drain(fd: i32) i32 {
    var buf: [8192]u8 align(4) = undefined;
    var changes: i32 = 0;
    while (true) {
        const n = c.recv(fd, &buf, buf.len, 0);
        if (n < 0) {
            const e = std.posix.errno(n);
            switch (e) {
                .AGAIN => return changes,
                .INTR => continue,
                .NOBUFS => changes += 1, // notifications were dropped: assume the worst
                else => return neg(e),
            }
            continue;
        }
        const got: usize = @intCast(n);
        var off: usize = 0;
        while (off + @sizeOf(NlMsgHdr) <= got) {
            const h: *align(1) const NlMsgHdr = @ptrCast(buf[off..].ptr);
            if (h.len < @sizeOf(NlMsgHdr) or off + h.len > got) break;
            switch (h.type) {
                RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE => changes += 1,
                else => {},
            }
            off += (h.len + 3) & ~@as(usize, 3);
        }
    }
}

const v4mapped_prefix = [12]u8{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

fn putAttr(buf: []u8, off: *usize, t: u16, data: []const u8) void {
    const a: *align(1) RtAttr = @ptrCast(buf[off.*..].ptr);
    a.* = .{ .len = @intCast(@sizeOf(RtAttr) + data.len), .type = t };
    @memcpy(buf[off.* + @sizeOf(RtAttr) ..][0..data.len], data);
    off.* += (@sizeOf(RtAttr) + data.len + 3) & ~@as(usize, 3);
}

var next_seq = std.atomic.Value(u32).init(1);

/// The interface the kernel would send a datagram through now to the remote address of endpoint record `ep`
/// (udp.zig's layout) from its pinned local address, under fwmark `mark`. Returns the interface index, or -errno
/// (e.g. -EINVAL when the local address is no longer ours, -ENETUNREACH when there is no route).
pub fn outputInterface(fd: i32, ep: [*]const u8, mark: u32) i32 {
    const v4 = std.mem.eql(u8, ep[8..20], &v4mapped_prefix);
    const alen: usize = if (v4) 4 else 16;
    const dst = if (v4) ep[20..24] else ep[8..24];
    const src = if (v4) ep[36..40] else ep[24..40];
    var req: [128]u8 align(4) = std.mem.zeroes([128]u8);
    var off: usize = @sizeOf(NlMsgHdr) + @sizeOf(RtMsg);
    const rt: *align(1) RtMsg = @ptrCast(req[@sizeOf(NlMsgHdr)..].ptr);
    rt.family = if (v4) linux.AF.INET else linux.AF.INET6;
    rt.dst_len = @intCast(alen * 8);
    rt.src_len = @intCast(alen * 8);
    putAttr(&req, &off, RTA_DST, dst[0..alen]);
    putAttr(&req, &off, RTA_SRC, src[0..alen]);
    if (mark != 0) putAttr(&req, &off, RTA_MARK, std.mem.asBytes(&mark));
    const seq = next_seq.fetchAdd(1, .monotonic);
    const h: *align(1) NlMsgHdr = @ptrCast(&req);
    h.* = .{ .len = @intCast(off), .type = RTM_GETROUTE, .flags = NLM_F_REQUEST, .seq = seq, .pid = 0 };
    while (true) {
        if (c.send(fd, &req, off, 0) >= 0) break;
        const e = std.posix.errno(-1);
        if (e != .INTR) return neg(e);
    }
    // The answer comes at once (the kernel answers in the send call); wait briefly all the same.
    var buf: [4096]u8 align(4) = undefined;
    var tries: u32 = 0;
    while (tries < 20) : (tries += 1) {
        const n = c.recv(fd, &buf, buf.len, 0);
        if (n < 0) {
            const e = std.posix.errno(n);
            if (e == .INTR) continue;
            if (e != .AGAIN) return neg(e);
            var pfd = [1]std.posix.pollfd{.{ .fd = fd, .events = std.posix.POLL.IN, .revents = 0 }};
            _ = std.posix.poll(&pfd, 10) catch 0;
            continue;
        }
        const got: usize = @intCast(n);
        var at: usize = 0;
        while (at + @sizeOf(NlMsgHdr) <= got) {
            const m: *align(1) const NlMsgHdr = @ptrCast(buf[at..].ptr);
            if (m.len < @sizeOf(NlMsgHdr) or at + m.len > got) break;
            const body = buf[at + @sizeOf(NlMsgHdr) .. at + m.len];
            at += (m.len + 3) & ~@as(usize, 3);
            if (m.seq != seq) continue;
            if (m.type == NLMSG_ERROR) {
                if (body.len < 4) return neg(.PROTO);
                const err = std.mem.readInt(i32, body[0..4], .little);
                return if (err < 0) err else neg(.PROTO);
            }
            if (m.type != RTM_NEWROUTE or body.len < @sizeOf(RtMsg)) continue;
            var a: usize = @sizeOf(RtMsg);
            while (a + @sizeOf(RtAttr) <= body.len) {
                const ah: *align(1) const RtAttr = @ptrCast(body[a..].ptr);
                if (ah.len < @sizeOf(RtAttr) or a + ah.len > body.len) break;
                if (ah.type == RTA_OIF and ah.len >= @sizeOf(RtAttr) + 4) return std.mem.readInt(i32, body[a + @sizeOf(RtAttr) ..][0..4], .little);
                a += (ah.len + 3) & ~@as(usize, 3);
            }
            return neg(.NETUNREACH);
        }
    }
    return neg(.TIMEDOUT);
}

// ---- C ABI (bun:ffi) ----
export fn bunwg_route_open_watch() callconv(.c) i32 {
    return openWatch();
}
export fn bunwg_route_open_query() callconv(.c) i32 {
    return openQuery();
}
export fn bunwg_route_drain(fd: i32) callconv(.c) i32 {
    return drain(fd);
}
export fn bunwg_route_close(fd: i32) callconv(.c) i32 {
    if (c.close(fd) < 0) return neg(std.posix.errno(-1));
    return 0;
}
export fn bunwg_route_output_interface(fd: i32, ep: [*]const u8, mark: u32) callconv(.c) i32 {
    return outputInterface(fd, ep, mark);
}
