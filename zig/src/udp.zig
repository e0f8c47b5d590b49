//! The outer UDP socket: one dual-stack socket, batched receive (recvmmsg, optionally UDP_GRO) and batched send
//! (sendmmsg, optionally UDP_SEGMENT/GSO), with the local address of every received datagram reported and reused
//! as the source of replies ("sticky sockets": a peer that reached us at one of several addresses hears back
//! from that same address). No allocation: the caller owns every buffer.
//!
//! Endpoint record, EP_SIZE bytes, the same layout for receive (filled here) and send (read here):
//!   [0]      family: 4 or 6
//!   [2..4]   remote port, little-endian
//!   [4..8]   local interface index (from the packet info; 0 = unknown)
//!   [8..24]  remote address, IPv6; IPv4 as ::ffff:a.b.c.d
//!   [24..40] local address the datagram was sent to, same form; all zero = let the kernel choose
//!   [40]     set by sendBatch: 1 when it dropped an unusable local address (the caller should forget it), 2 when
//!            the packet was not sent because the endpoint is IPv6 and the socket IPv4-only
const std = @import("std");
const linux = std.os.linux;
const c = std.c;
const E = std.posix.E;
const neg = @import("tun.zig").neg;

pub const EP_SIZE: u32 = 48;

const SOL_IP: i32 = 0;
const SOL_IPV6: i32 = 41;
const SOL_UDP: i32 = 17;
/// Byte 40 of an endpoint record after sendBatch (src/device/endpoint.ts reads the same values).
const SOURCE_DROPPED: u8 = 1;
const FAMILY_REFUSED: u8 = 2;
const SOL_SOCKET: i32 = 1;
const IP_PKTINFO: i32 = 8;
const IPV6_V6ONLY: i32 = 26;
const IPV6_RECVPKTINFO: i32 = 49;
const IPV6_PKTINFO: i32 = 50;
const UDP_SEGMENT: i32 = 103;
const UDP_GRO: i32 = 104;
const SO_RCVBUFFORCE: i32 = 33;
const SO_SNDBUFFORCE: i32 = 32;
const SO_MARK: i32 = 36;
const MSG_DONTWAIT: u32 = 0x40;

/// Largest number of messages one call handles; the caller's arrays must be at least this long or `max`.
pub const MAX_BATCH: u32 = 128;
/// Kernel limit on segments in one UDP GSO send.
const MAX_GSO_SEGMENTS: u32 = 64;
/// Kernel limit on segments UDP GRO merges into one received datagram (UDP_GRO_CNT_MAX).
pub const MAX_GRO_SEGMENTS: u32 = 64;

const IoVec = extern struct { base: [*]u8, len: usize };
const MsgHdr = extern struct {
    name: ?*anyopaque,
    namelen: u32,
    iov: [*]IoVec,
    iovlen: usize,
    control: ?*anyopaque,
    controllen: usize,
    flags: i32,
};
const MMsgHdr = extern struct { hdr: MsgHdr, len: u32 };
const SockAddrIn6 = extern struct { family: u16, port: u16, flowinfo: u32, addr: [16]u8, scope_id: u32 };
const SockAddrIn = extern struct { family: u16, port: u16, addr: [4]u8, zero: [8]u8 };
const CmsgHdr = extern struct { len: usize, level: i32, type: i32 };
const In6PktInfo = extern struct { addr: [16]u8, ifindex: u32 };
const InPktInfo = extern struct { ifindex: i32, spec_dst: [4]u8, addr: [4]u8 };

extern "c" fn recvmmsg(fd: c_int, msgs: [*]MMsgHdr, vlen: c_uint, flags: c_uint, timeout: ?*anyopaque) c_int;
extern "c" fn sendmmsg(fd: c_int, msgs: [*]MMsgHdr, vlen: c_uint, flags: c_uint) c_int;
extern "c" fn sendmsg(fd: c_int, msg: *const MsgHdr, flags: c_uint) isize;

/// Room for IPV6_PKTINFO or IP_PKTINFO plus a UDP_GRO/UDP_SEGMENT value, 8-byte aligned.
const CMSG_ROOM = 64;

fn cmsgAlign(n: usize) usize {
    return (n + 7) & ~@as(usize, 7);
}

fn setInt(fd: i32, level: i32, opt: i32, v: i32) bool {
    return c.setsockopt(fd, level, @intCast(opt), std.mem.asBytes(&v), @sizeOf(i32)) == 0;
}

/// Opens a non-blocking UDP socket on `port` (0 = any free port), dual-stack where IPv6 exists (unless v4only).
/// Writes the bound port to port_out and the address family (6 = dual-stack, 4 = IPv4 only) to family_out.
/// Returns fd or -errno.
pub fn open(port: u16, v4only: bool, port_out: *u16, family_out: *u8) i32 {
    var fd: i32 = if (v4only) -1 else c.socket(linux.AF.INET6, linux.SOCK.DGRAM | linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC, 0);
    var dual = true;
    if (fd < 0) {
        dual = false;
        fd = c.socket(linux.AF.INET, linux.SOCK.DGRAM | linux.SOCK.NONBLOCK | linux.SOCK.CLOEXEC, 0);
        if (fd < 0) return neg(std.posix.errno(fd));
    }
    var rc: c_int = undefined;
    if (dual) {
        _ = setInt(fd, SOL_IPV6, IPV6_V6ONLY, 0);
        _ = setInt(fd, SOL_IPV6, IPV6_RECVPKTINFO, 1);
        var sa = std.mem.zeroes(SockAddrIn6);
        sa.family = linux.AF.INET6;
        sa.port = std.mem.nativeToBig(u16, port);
        rc = c.bind(fd, @ptrCast(&sa), @sizeOf(SockAddrIn6));
    } else {
        var sa = std.mem.zeroes(SockAddrIn);
        sa.family = linux.AF.INET;
        sa.port = std.mem.nativeToBig(u16, port);
        rc = c.bind(fd, @ptrCast(&sa), @sizeOf(SockAddrIn));
    }
    if (rc < 0) {
        const e = std.posix.errno(rc);
        _ = c.close(fd);
        return neg(e);
    }
    _ = setInt(fd, SOL_IP, IP_PKTINFO, 1);
    // Bursts arrive between event-loop turns: big buffers (root may exceed rmem_max).
    _ = setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);
    _ = setInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20);
    var bound = std.mem.zeroes(SockAddrIn6);
    var len: c.socklen_t = @sizeOf(SockAddrIn6);
    if (c.getsockname(fd, @ptrCast(&bound), &len) < 0) {
        const e = std.posix.errno(-1);
        _ = c.close(fd);
        return neg(e);
    }
    port_out.* = std.mem.bigToNative(u16, bound.port);
    family_out.* = if (dual) 6 else 4;
    return fd;
}

/// Turns UDP_GRO on or off; returns 0 or -errno (older kernels lack it).
pub fn setGro(fd: i32, on: bool) i32 {
    if (!setInt(fd, SOL_UDP, UDP_GRO, @intFromBool(on))) return neg(std.posix.errno(-1));
    return 0;
}

pub fn setMark(fd: i32, mark: u32) i32 {
    if (!setInt(fd, SOL_SOCKET, SO_MARK, @bitCast(mark))) return neg(std.posix.errno(-1));
    return 0;
}

const v4mapped_prefix = [12]u8{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

fn fillEndpoint(ep: []u8, name: *const SockAddrIn6, namelen: u32, control: []const u8) void {
    @memset(ep[0..EP_SIZE], 0);
    if (namelen >= @sizeOf(SockAddrIn6) and name.family == linux.AF.INET6) {
        @memcpy(ep[8..24], &name.addr);
        ep[0] = if (std.mem.eql(u8, name.addr[0..12], &v4mapped_prefix)) 4 else 6;
        std.mem.writeInt(u16, ep[2..4], std.mem.bigToNative(u16, name.port), .little);
    } else {
        const sin: *const SockAddrIn = @ptrCast(@alignCast(name));
        @memcpy(ep[8..20], &v4mapped_prefix);
        @memcpy(ep[20..24], &sin.addr);
        ep[0] = 4;
        std.mem.writeInt(u16, ep[2..4], std.mem.bigToNative(u16, sin.port), .little);
    }
    // Local address from the packet info: where the peer reached us.
    var it = Cmsgs{ .control = control };
    while (it.next()) |m| {
        if (m.level == SOL_IPV6 and m.type == IPV6_PKTINFO and m.data.len >= @sizeOf(In6PktInfo)) {
            @memcpy(ep[24..40], m.data[0..16]);
            std.mem.writeInt(u32, ep[4..8], std.mem.readInt(u32, m.data[16..20], .little), .little);
        } else if (m.level == SOL_IP and m.type == IP_PKTINFO and m.data.len >= @sizeOf(InPktInfo)) {
            @memcpy(ep[24..36], &v4mapped_prefix);
            @memcpy(ep[36..40], m.data[8..12]); // ipi_addr: the header destination address
            std.mem.writeInt(u32, ep[4..8], std.mem.readInt(u32, m.data[0..4], .little), .little);
        }
    }
}

fn groSize(control: []const u8) u32 {
    var it = Cmsgs{ .control = control };
    while (it.next()) |m| {
        // The kernel writes an int; only its low 16 bits carry the segment size.
        if (m.level == SOL_UDP and m.type == UDP_GRO and m.data.len >= 2) return std.mem.readInt(u16, m.data[0..2], .little);
    }
    return 0;
}

/// Walks the control messages of a received datagram, stopping at the first malformed one.
const Cmsgs = struct {
    control: []const u8,
    off: usize = 0,

    const Msg = struct { level: i32, type: i32, data: []const u8 };

    fn next(self: *Cmsgs) ?Msg {
        if (self.off + @sizeOf(CmsgHdr) > self.control.len) return null;
        const h: *align(1) const CmsgHdr = @ptrCast(self.control[self.off..].ptr);
        if (h.len < @sizeOf(CmsgHdr) or self.off + h.len > self.control.len) return null;
        const m = Msg{ .level = h.level, .type = h.type, .data = self.control[self.off + @sizeOf(CmsgHdr) .. self.off + h.len] };
        self.off += cmsgAlign(h.len);
        return m;
    }
};

/// What one receive call took from the kernel and has not reported yet, in caller-owned memory (RECV_STATE_SIZE
/// bytes, kept with the receive buffer between calls): datagrams taken are never discarded, however many segments
/// GRO coalesced into them — a call that runs out of packet room mid-datagram resumes there on the next call.
pub const RecvState = extern struct {
    count: u32, // datagrams in buf from the last recvmmsg
    next: u32, // the datagram being split
    at: u32, // offset of its next segment
    /// 1 when the last recvmmsg brought fewer datagrams than asked: the socket was empty then. Once those are all
    /// reported the caller can wait for readiness instead of calling again (src/device/receive.ts drain).
    short: u32,
    dg: [MAX_BATCH]Datagram,

    const Datagram = extern struct { total: u32, seg: u32, ep: [EP_SIZE]u8 };
};
pub const RECV_STATE_SIZE: u32 = @sizeOf(RecvState);

/// Reports up to `max_pkts` packets: packet k at buf[offs[k]] of lens[k] bytes from the endpoint at eps[k*EP_SIZE].
/// Datagrams left from an earlier call (state) come first; only when none are left does it receive up to
/// `max_msgs` more (datagram i at i*stride, stride >= 65536 when GRO is on). A GRO-coalesced datagram is split into
/// its segments here. Until a call returns 0 the caller must keep buf and state and change no bytes of buf outside
/// the packets reported. Returns the packet count (0 = would block) or -errno.
pub fn recvBatch(fd: i32, buf: [*]u8, stride: u32, max_msgs: u32, offs: [*]u32, lens: [*]u32, eps: [*]u8, max_pkts: u32, st: *align(1) RecvState) i32 {
    if (max_pkts == 0) return 0;
    if (st.next >= st.count or st.count > MAX_BATCH) {
        st.count = 0;
        st.next = 0;
        st.at = 0;
        st.short = 0;
        var msgs: [MAX_BATCH]MMsgHdr = undefined;
        var iovs: [MAX_BATCH]IoVec = undefined;
        var names: [MAX_BATCH]SockAddrIn6 = undefined;
        var controls: [MAX_BATCH][CMSG_ROOM]u8 align(8) = undefined;
        const vlen = @min(max_msgs, MAX_BATCH);
        if (vlen == 0) return 0;
        for (0..vlen) |i| {
            iovs[i] = .{ .base = buf + i * stride, .len = stride };
            msgs[i] = .{ .hdr = .{
                .name = &names[i],
                .namelen = @sizeOf(SockAddrIn6),
                .iov = @ptrCast(&iovs[i]),
                .iovlen = 1,
                .control = &controls[i],
                .controllen = CMSG_ROOM,
                .flags = 0,
            }, .len = 0 };
        }
        const got = recvmmsg(fd, &msgs, vlen, MSG_DONTWAIT, null);
        if (got < 0) {
            const e = std.posix.errno(got);
            if (e == .AGAIN) {
                st.short = 1;
                return 0;
            }
            return neg(e);
        }
        st.short = @intFromBool(@as(u32, @intCast(got)) < vlen);
        // The segments of one datagram share its endpoint: parse it once.
        for (0..@intCast(got)) |i| {
            const m = &msgs[i];
            const control = controls[i][0..m.hdr.controllen];
            const d = &st.dg[i];
            d.total = m.len;
            const seg = groSize(control);
            d.seg = if (seg == 0 or seg >= m.len) m.len else seg;
            fillEndpoint(&d.ep, &names[i], m.hdr.namelen, control);
        }
        st.count = @intCast(got);
    }
    var k: u32 = 0;
    while (st.next < st.count and k < max_pkts) : (k += 1) {
        const d = &st.dg[st.next];
        const n = @min(d.seg, d.total - st.at); // an empty datagram is one empty packet
        offs[k] = st.next * stride + st.at;
        lens[k] = n;
        @memcpy(eps[k * EP_SIZE .. (k + 1) * EP_SIZE], &d.ep);
        st.at += n;
        if (st.at >= d.total) {
            st.next += 1;
            st.at = 0;
        }
    }
    return @intCast(k);
}

fn isAnyAddr(a: []const u8) bool {
    for (a) |b| if (b != 0) return false;
    return true;
}

const SendSlot = struct {
    name: SockAddrIn6 = undefined,
    control: [CMSG_ROOM]u8 align(8) = undefined,
};

/// Writes the destination and (when known) the sticky source of endpoint `ep` into `m`.
fn prepare(m: *MsgHdr, slot: *SendSlot, ep: []const u8, dual: bool, with_source: bool, gso: u16) void {
    if (dual) {
        slot.name = std.mem.zeroes(SockAddrIn6);
        slot.name.family = linux.AF.INET6;
        slot.name.port = std.mem.nativeToBig(u16, std.mem.readInt(u16, ep[2..4], .little));
        @memcpy(&slot.name.addr, ep[8..24]);
        m.namelen = @sizeOf(SockAddrIn6);
    } else {
        const sin: *SockAddrIn = @ptrCast(&slot.name);
        sin.* = std.mem.zeroes(SockAddrIn);
        sin.family = linux.AF.INET;
        sin.port = std.mem.nativeToBig(u16, std.mem.readInt(u16, ep[2..4], .little));
        @memcpy(&sin.addr, ep[20..24]);
        m.namelen = @sizeOf(SockAddrIn);
    }
    m.name = &slot.name;
    var clen: usize = 0;
    if (with_source and !isAnyAddr(ep[24..40])) {
        const h: *align(1) CmsgHdr = @ptrCast(&slot.control);
        if (dual) {
            // On a dual-stack socket IPV6_PKTINFO also sets an IPv4 source, given as ::ffff:a.b.c.d.
            h.* = .{ .len = @sizeOf(CmsgHdr) + @sizeOf(In6PktInfo), .level = SOL_IPV6, .type = IPV6_PKTINFO };
            const info: *align(1) In6PktInfo = @ptrCast(slot.control[@sizeOf(CmsgHdr)..].ptr);
            @memcpy(&info.addr, ep[24..40]);
            // An interface index is only needed to disambiguate link-local sources.
            info.ifindex = if (ep[24] == 0xfe and (ep[25] & 0xc0) == 0x80) std.mem.readInt(u32, ep[4..8], .little) else 0;
        } else {
            h.* = .{ .len = @sizeOf(CmsgHdr) + @sizeOf(InPktInfo), .level = SOL_IP, .type = IP_PKTINFO };
            const info: *align(1) InPktInfo = @ptrCast(slot.control[@sizeOf(CmsgHdr)..].ptr);
            info.ifindex = 0;
            @memcpy(&info.spec_dst, ep[36..40]);
            info.addr = .{ 0, 0, 0, 0 };
        }
        clen = cmsgAlign(h.len);
    }
    if (gso != 0) {
        const h: *align(1) CmsgHdr = @ptrCast(slot.control[clen..].ptr);
        h.* = .{ .len = @sizeOf(CmsgHdr) + 2, .level = SOL_UDP, .type = UDP_SEGMENT };
        std.mem.writeInt(u16, slot.control[clen + @sizeOf(CmsgHdr) ..][0..2], gso, .little);
        clen += cmsgAlign(h.len);
    }
    m.control = if (clen > 0) &slot.control else null;
    m.controllen = clen;
    m.flags = 0;
}

fn sameEndpoint(a: []const u8, b: []const u8) bool {
    return std.mem.eql(u8, a[0..40], b[0..40]);
}

/// Longest a send call waits, in total, for room in a full socket buffer before it drops the rest.
const SEND_WAIT_MS: i64 = 100;

/// Waits until fd is writable, charging the time to wait_left; false once the budget is spent.
fn waitWritable(fd: i32, wait_left: *i64) bool {
    if (wait_left.* <= 0) return false;
    const t0 = std.time.milliTimestamp();
    var pfd = [1]std.posix.pollfd{.{ .fd = fd, .events = std.posix.POLL.OUT, .revents = 0 }};
    const ready = std.posix.poll(&pfd, @intCast(wait_left.*)) catch 0;
    wait_left.* -= @max(1, std.time.milliTimestamp() - t0);
    return ready > 0 or wait_left.* > 0;
}

/// Sends n packets: packet i is buf[offs[i]..offs[i]+lens[i]] to the endpoint at eps[i*EP_SIZE]. With gso on,
/// runs of consecutive packets to one endpoint with equal lengths (the last may be shorter) leave as one
/// UDP_SEGMENT send. A send that fails because the sticky source address is gone is retried without it, and
/// that endpoint's local address is zeroed in eps so the caller can forget it. Returns packets handed to the
/// kernel. A full socket buffer is waited on (SEND_WAIT_MS at most per call); other failures, and a buffer still
/// full after the wait, drop the packet (UDP is lossy) and are counted in dropped_out.
pub fn sendBatch(fd: i32, dual: bool, buf: [*]u8, offs: [*]const u32, lens: [*]const u32, eps: [*]u8, n: u32, gso: bool, dropped_out: *u32) i32 {
    var msgs: [MAX_BATCH]MMsgHdr = undefined;
    var iovs: [MAX_BATCH]IoVec = undefined;
    var slots: [MAX_BATCH]SendSlot = undefined;
    var first: [MAX_BATCH]u32 = undefined; // first packet of message j
    var count: [MAX_BATCH]u32 = undefined; // packets in message j
    var sent: u32 = 0;
    var dropped: u32 = 0;
    var wait_left: i64 = SEND_WAIT_MS;
    var i: u32 = 0;
    while (i < n) {
        // Build up to MAX_BATCH messages.
        var nm: u32 = 0;
        var ni: u32 = 0;
        while (i < n and nm < MAX_BATCH and ni < MAX_BATCH) {
            const ep = eps[i * EP_SIZE .. (i + 1) * EP_SIZE];
            if (!dual and !std.mem.eql(u8, ep[8..20], &v4mapped_prefix)) {
                // An IPv6 endpoint cannot be reached from an IPv4-only socket: never send to some other address.
                ep[40] = FAMILY_REFUSED;
                dropped += 1;
                i += 1;
                continue;
            }
            const size = lens[i];
            var run: u32 = 1;
            if (gso) {
                var total: u32 = size;
                while (i + run < n and ni + run < MAX_BATCH and run < MAX_GSO_SEGMENTS) {
                    const nxt = i + run;
                    if (lens[nxt] > size or lens[nxt] == 0) break;
                    if (!sameEndpoint(ep, eps[nxt * EP_SIZE .. (nxt + 1) * EP_SIZE])) break;
                    if (total + lens[nxt] > 65000) break;
                    total += lens[nxt];
                    run += 1;
                    if (lens[nxt] < size) break; // a shorter segment ends the run
                }
            }
            for (0..run) |r| iovs[ni + r] = .{ .base = buf + offs[i + @as(u32, @intCast(r))], .len = lens[i + @as(u32, @intCast(r))] };
            msgs[nm].hdr.iov = @ptrCast(&iovs[ni]);
            msgs[nm].hdr.iovlen = run;
            prepare(&msgs[nm].hdr, &slots[nm], ep, dual, true, if (run > 1) @intCast(size) else 0);
            first[nm] = i;
            count[nm] = run;
            nm += 1;
            ni += run;
            i += run;
        }
        var j: u32 = 0;
        while (j < nm) {
            const rc = sendmmsg(fd, msgs[j..].ptr, nm - j, MSG_DONTWAIT);
            if (rc > 0) {
                for (j..j + @as(u32, @intCast(rc))) |q| sent += count[q];
                j += @intCast(rc);
                continue;
            }
            const e = std.posix.errno(rc);
            if (e == .INTR) continue;
            // A full send buffer: wait for room rather than drop (back-pressure — the TUN is not read meanwhile),
            // but at most SEND_WAIT_MS per call, so that timers and the configuration socket still run.
            if (e == .AGAIN and waitWritable(fd, &wait_left)) continue;
            // Message j failed. A vanished source address: forget it and retry once without.
            const ep = eps[first[j] * EP_SIZE .. (first[j] + 1) * EP_SIZE];
            if ((e == .INVAL or e == .ADDRNOTAVAIL or e == .NETUNREACH) and !isAnyAddr(ep[24..40])) {
                for (first[j]..first[j] + count[j]) |q| {
                    @memset(eps[q * EP_SIZE + 24 .. q * EP_SIZE + 40], 0);
                    eps[q * EP_SIZE + 40] = SOURCE_DROPPED; // tells the caller this endpoint's source was dropped
                }
                prepare(&msgs[j].hdr, &slots[j], ep, dual, false, if (count[j] > 1) @intCast(lens[first[j]]) else 0);
                if (sendmsg(fd, &msgs[j].hdr, MSG_DONTWAIT) >= 0) {
                    sent += count[j];
                    j += 1;
                    continue;
                }
            }
            if (e == .IO and count[j] > 1) {
                // EIO: the device cannot take GSO (no checksum offload); send this run one by one.
                for (first[j]..first[j] + count[j]) |q| {
                    var one = msgs[j].hdr;
                    var iov = IoVec{ .base = buf + offs[q], .len = lens[q] };
                    one.iov = @ptrCast(&iov);
                    one.iovlen = 1;
                    prepare(&one, &slots[j], eps[q * EP_SIZE .. (q + 1) * EP_SIZE], dual, true, 0);
                    if (sendmsg(fd, &one, MSG_DONTWAIT) >= 0) sent += 1 else dropped += 1;
                }
                j += 1;
                continue;
            }
            dropped += count[j];
            j += 1;
        }
    }
    dropped_out.* = dropped;
    return @intCast(sent);
}

pub fn close(fd: i32) i32 {
    if (c.close(fd) < 0) return neg(std.posix.errno(-1));
    return 0;
}

// ---- C ABI (bun:ffi) ----
/// Opens the UDP socket (see open); family 4 asks for an IPv4-only socket (as on a host without IPv6).
export fn bunwg_udp_open_family(port: u32, family: u32, port_out: *u16, family_out: *u8) callconv(.c) i32 {
    if (port > 65535) return neg(.INVAL);
    return open(@intCast(port), family == 4, port_out, family_out);
}
export fn bunwg_udp_set_gro(fd: i32, on: u32) callconv(.c) i32 {
    return setGro(fd, on != 0);
}
export fn bunwg_udp_set_mark(fd: i32, mark: u32) callconv(.c) i32 {
    return setMark(fd, mark);
}
export fn bunwg_udp_recv_batch(fd: i32, buf: [*]u8, stride: u32, max_msgs: u32, offs: [*]u32, lens: [*]u32, eps: [*]u8, max_pkts: u32, state: *align(1) RecvState) callconv(.c) i32 {
    return recvBatch(fd, buf, stride, max_msgs, offs, lens, eps, max_pkts, state);
}
export fn bunwg_udp_recv_state_size() callconv(.c) u32 {
    return RECV_STATE_SIZE;
}
export fn bunwg_udp_send_batch(fd: i32, family: u32, buf: [*]u8, offs: [*]const u32, lens: [*]const u32, eps: [*]u8, n: u32, gso: u32, dropped_out: *u32) callconv(.c) i32 {
    return sendBatch(fd, family == 6, buf, offs, lens, eps, n, gso != 0, dropped_out);
}
export fn bunwg_udp_close(fd: i32) callconv(.c) i32 {
    return close(fd);
}
