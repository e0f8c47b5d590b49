//! TUN offloads, as wireguard-go does them since 2023 (docs/protocol.md: "How the fastest userspace implementation
//! gets its speed"). The device is opened with IFF_VNET_HDR: every read and write carries a 10-byte virtio_net_hdr.
//! With TUNSETOFFLOAD the kernel may hand us TCP (and, with USO, UDP) super-packets of up to 64 KiB with a partial
//! checksum; we split them here into MTU-sized packets, so JS still sees one plain IP packet per slot. On the way
//! in, consecutive TCP segments of one flow are coalesced back into one super-packet per write (GRO in
//! userspace): the kernel then runs its TCP stack once per 64 KiB instead of once per segment.
//! All state is allocated once per TUN (`Tun`); nothing allocates on the packet path.
const std = @import("std");
const builtin = @import("builtin");
const c = std.c;
const E = std.posix.E;
const tun = @import("tun.zig");

pub const VNET_HDR_LEN: usize = 10;
const TUNSETOFFLOAD: u32 = 0x400454d0;
const TUNSETVNETHDRSZ: u32 = 0x400454d8;
pub const TUN_F_CSUM: u32 = 0x01;
pub const TUN_F_TSO4: u32 = 0x02;
pub const TUN_F_TSO6: u32 = 0x04;
pub const TUN_F_USO4: u32 = 0x20;
pub const TUN_F_USO6: u32 = 0x40;

// virtio_net_hdr: flags u8, gso_type u8, hdr_len, gso_size, csum_start, csum_offset (u16, native order on a TUN
// without TUNSETVNETLE).
const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_UDP_L4: u8 = 5;
const GSO_ECN: u8 = 0x80;

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Largest IP packet, and so largest super-packet (no BIG TCP: the TUN's GSO limit stays at 64 KiB).
pub const MAX_PKT: usize = 65535;
/// Packets planned at once on the write path; longer batches are handled in chunks of this size.
pub const CHUNK: usize = 1024;
/// Segments per coalesced write (also bounds the iovec count).
const MAX_SEGS: usize = 64;
/// Flows coalesced at the same time within one chunk; more close the oldest group.
const MAX_OPEN: usize = 8;

const native = builtin.cpu.arch.endian();

fn get16(p: [*]const u8, off: usize) u16 {
    return std.mem.readInt(u16, p[off..][0..2], .big);
}
fn put16(p: [*]u8, off: usize, v: u16) void {
    std.mem.writeInt(u16, p[off..][0..2], v, .big);
}
fn get32(p: [*]const u8, off: usize) u32 {
    return std.mem.readInt(u32, p[off..][0..4], .big);
}
fn put32(p: [*]u8, off: usize, v: u32) void {
    std.mem.writeInt(u32, p[off..][0..4], v, .big);
}
fn hdr16(h: [*]const u8, off: usize) u16 {
    return std.mem.readInt(u16, h[off..][0..2], native);
}
fn setHdr16(h: [*]u8, off: usize, v: u16) void {
    std.mem.writeInt(u16, h[off..][0..2], v, native);
}

// ---- Internet checksum (RFC 1071) ----
// Summed over native-order words: the one's-complement sum is byte-order independent up to a final swap, and
// storing the folded result in native order puts its bytes where a big-endian computation would.

/// Unfolded sum of `data`; 32 bytes per step in 8 u64 lanes (never overflows for ≤ 64 KiB).
fn sum(data: []const u8, init: u64) u64 {
    var acc = init;
    var i: usize = 0;
    if (data.len >= 32) {
        var lanes: @Vector(8, u64) = @splat(0);
        while (i + 32 <= data.len) : (i += 32) {
            const w: @Vector(8, u32) = @bitCast(data[i..][0..32].*);
            lanes += @as(@Vector(8, u64), @intCast(w));
        }
        acc += @reduce(.Add, lanes);
    }
    while (i + 4 <= data.len) : (i += 4) acc += std.mem.readInt(u32, data[i..][0..4], native);
    if (i + 2 <= data.len) {
        acc += std.mem.readInt(u16, data[i..][0..2], native);
        i += 2;
    }
    if (i < data.len) acc += if (native == .little) @as(u64, data[i]) else @as(u64, data[i]) << 8;
    return acc;
}

fn fold(acc: u64) u16 {
    var s = (acc & 0xffffffff) + (acc >> 32);
    s = (s & 0xffffffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return @intCast(s);
}

/// A big-endian 16-bit header value as it adds into the native-order sum.
fn be(v: u16) u64 {
    return std.mem.nativeToBig(u16, v);
}

/// Sum of the TCP/UDP pseudo-header (addresses, protocol, transport length).
fn pseudo(p: [*]const u8, v6: bool, proto: u8, l4len: u16) u64 {
    const addrs = if (v6) p[8..40] else p[12..20];
    return sum(addrs, be(proto) + be(l4len));
}

fn storeSum(p: [*]u8, off: usize, v: u16) void {
    std.mem.writeInt(u16, p[off..][0..2], v, native);
}

fn ipv4HeaderChecksum(p: [*]u8) void {
    const ihl: usize = @as(usize, p[0] & 15) * 4;
    p[10] = 0;
    p[11] = 0;
    storeSum(p, 10, ~fold(sum(p[0..ihl], 0)));
}

/// Full TCP/UDP checksum of pkt[l4..len] (field zeroed first). UDP sends 0 as 0xffff (0 means "none").
fn l4Checksum(p: [*]u8, len: usize, v6: bool, l4: usize, udp: bool) void {
    const field = l4 + @as(usize, if (udp) 6 else 16);
    p[field] = 0;
    p[field + 1] = 0;
    var v = ~fold(sum(p[l4..len], pseudo(p, v6, if (udp) PROTO_UDP else PROTO_TCP, @intCast(len - l4))));
    if (udp and v == 0) v = 0xffff;
    storeSum(p, field, v);
}

/// Finishes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the field holds the pseudo-header sum, the rest is
/// summed from csum_start to the end. False when the offsets do not fit the packet.
pub fn completeChecksum(h: [*]const u8, p: [*]u8, len: usize) bool {
    const start: usize = hdr16(h, 6);
    const off: usize = hdr16(h, 8);
    if (start + off + 2 > len) return false;
    var v = ~fold(sum(p[start..len], 0));
    if (off == 6 and v == 0) v = 0xffff; // UDP
    storeSum(p, start + off, v);
    return true;
}

// ---- Splitting (read path) ----

/// How a super-packet splits: its headers are repeated in front of every `size` bytes of payload.
pub const Gso = struct {
    v6: bool = false,
    udp: bool = false,
    l4: u16 = 0, // transport header offset (csum_start)
    hdr_len: u16 = 0, // IP + transport headers
    size: u16 = 0, // gso_size: payload bytes per segment
    len: u32 = 0, // whole super-packet
    nsegs: u32 = 0,

    fn segLen(g: *const Gso, k: u32) usize {
        const off = @as(usize, g.hdr_len) + @as(usize, k) * g.size;
        return g.hdr_len + @min(@as(usize, g.size), g.len - off);
    }
};

/// Checks a super-packet's header against the packet; null when malformed (the packet is then dropped).
/// The kernel's hdr_len is not trusted (it may be an estimate): the headers are measured here.
pub fn parseGso(h: [*]const u8, p: [*]const u8, len: usize) ?Gso {
    const gt = h[1] & ~GSO_ECN;
    const udp = gt == GSO_UDP_L4;
    if (!udp and gt != GSO_TCPV4 and gt != GSO_TCPV6) return null;
    if (h[0] & F_NEEDS_CSUM == 0 or len < 20 or len > MAX_PKT) return null;
    const ver = p[0] >> 4;
    const v6 = ver == 6;
    if (!v6 and ver != 4) return null;
    if ((gt == GSO_TCPV4 and v6) or (gt == GSO_TCPV6 and !v6)) return null;
    const l4: usize = hdr16(h, 6);
    if (v6) {
        if (l4 < 40) return null;
    } else if (l4 < 20 or l4 != @as(usize, p[0] & 15) * 4) return null;
    if (hdr16(h, 8) != @as(u16, if (udp) 6 else 16)) return null;
    var hl: usize = l4 + 8;
    if (!udp) {
        if (l4 + 20 > len) return null;
        const doff: usize = p[l4 + 12] >> 4;
        if (doff < 5) return null;
        hl = l4 + doff * 4;
    }
    if (hl > len) return null;
    const size = hdr16(h, 4);
    if (size == 0) return null;
    const payload = len - hl;
    const nsegs = if (payload == 0) 1 else (payload + size - 1) / size;
    return .{ .v6 = v6, .udp = udp, .l4 = @intCast(l4), .hdr_len = @intCast(hl), .size = size, .len = @intCast(len), .nsegs = @intCast(nsegs) };
}

/// Writes segment k of super-packet p to out; returns its length. As the kernel's own segmentation does: IP
/// length per segment, IPv4 id + k, TCP sequence advanced, FIN/PSH only on the last and CWR only on the first
/// segment, full checksums.
pub fn segment(g: *const Gso, p: [*]const u8, k: u32, out: [*]u8) usize {
    const hl: usize = g.hdr_len;
    const l4: usize = g.l4;
    const off = hl + @as(usize, k) * g.size;
    const seglen = g.segLen(k);
    @memcpy(out[0..hl], p[0..hl]);
    @memcpy(out[hl..seglen], p[off..][0 .. seglen - hl]);
    if (g.v6) {
        put16(out, 4, @intCast(seglen - 40));
    } else {
        put16(out, 2, @intCast(seglen));
        put16(out, 4, get16(p, 4) +% @as(u16, @truncate(k)));
        ipv4HeaderChecksum(out);
    }
    if (g.udp) {
        put16(out, l4 + 4, @intCast(seglen - l4));
    } else {
        put32(out, l4 + 4, get32(p, l4 + 4) +% k *% g.size);
        var flags = p[l4 + 13];
        if (k + 1 != g.nsegs) flags &= ~(TCP_FIN | TCP_PSH);
        if (k != 0) flags &= ~TCP_CWR;
        out[l4 + 13] = flags;
    }
    l4Checksum(out, seglen, g.v6, l4, g.udp);
    return seglen;
}

// ---- Coalescing (write path) ----

/// A parsed TCP packet on the write path.
const Tcp = struct {
    v6: bool,
    l4: u16,
    hl: u16, // IP + TCP headers
    total: u32, // IP length (lens may be longer; the rest is ignored)
    can_merge: bool, // plain IPv4 (no options, no fragment) or IPv6 without extension headers, ACK or ACK|PSH
};

/// Parses an IPv4/IPv6 TCP packet; null for anything else (including fragments: their ports are not visible).
fn parseTcp(p: [*]const u8, len: usize) ?Tcp {
    if (len < 40) return null;
    const ver = p[0] >> 4;
    var t: Tcp = undefined;
    if (ver == 4) {
        const ihl: usize = @as(usize, p[0] & 15) * 4;
        const total: usize = get16(p, 2);
        if (p[9] != PROTO_TCP or ihl < 20 or total > len or ihl + 20 > total) return null;
        if (get16(p, 6) & 0x3fff != 0) return null; // MF or a fragment offset
        t = .{ .v6 = false, .l4 = @intCast(ihl), .hl = 0, .total = @intCast(total), .can_merge = ihl == 20 };
    } else if (ver == 6) {
        const total: usize = 40 + @as(usize, get16(p, 4));
        if (p[6] != PROTO_TCP or total > len or total < 60) return null;
        t = .{ .v6 = true, .l4 = 40, .hl = 0, .total = @intCast(total), .can_merge = true };
    } else return null;
    const doff: usize = p[t.l4 + 12] >> 4;
    const hl = @as(usize, t.l4) + doff * 4;
    if (doff < 5 or hl > t.total) return null;
    t.hl = @intCast(hl);
    const flags = p[t.l4 + 13];
    if (flags != TCP_ACK and flags != TCP_ACK | TCP_PSH) t.can_merge = false;
    return t;
}

fn sameFlow(a: [*]const u8, ta: *const Tcp, b: [*]const u8, tb: *const Tcp) bool {
    if (ta.v6 != tb.v6) return false;
    const addrs_equal = if (ta.v6) std.mem.eql(u8, a[8..40], b[8..40]) else std.mem.eql(u8, a[12..20], b[12..20]);
    return addrs_equal and std.mem.eql(u8, a[ta.l4..][0..4], b[tb.l4..][0..4]);
}

/// True when the packet's checksums verify. A coalesced packet goes up with a partial checksum, which the kernel
/// trusts: a corrupt segment would otherwise be accepted, so each one is checked before it is merged.
fn checksumsValid(p: [*]const u8, t: *const Tcp) bool {
    if (!t.v6 and fold(sum(p[0..t.l4], 0)) != 0xffff) return false;
    const l4len: u16 = @intCast(t.total - t.l4);
    return fold(sum(p[t.l4..t.total], pseudo(p, t.v6, PROTO_TCP, l4len))) == 0xffff;
}

const PASS: u8 = 0;
const HEAD: u8 = 1;
const MEMBER: u8 = 2;

/// Planning state for one chunk of a write batch: which packets merge into which group, in order.
pub const Coalescer = struct {
    role: [CHUNK]u8 = undefined,
    next: [CHUNK]u16 = undefined, // next member of the group
    tcp: [CHUNK]Tcp = undefined,
    // per group, indexed by its head:
    tail: [CHUNK]u16 = undefined,
    count: [CHUNK]u16 = undefined,
    payload: [CHUNK]u32 = undefined, // payload bytes in the group
    next_seq: [CHUNK]u32 = undefined,
    seg: [CHUNK]u16 = undefined, // gso_size: the head's payload length
    open: [MAX_OPEN]u16 = undefined,
    nopen: usize = 0,
    hdr: [VNET_HDR_LEN + 40 + 60]u8 = undefined, // the header of the super-packet being written
    zero: [VNET_HDR_LEN]u8 = [_]u8{0} ** VNET_HDR_LEN, // "no offload" header for every other packet
    iov: [MAX_SEGS + 1]std.posix.iovec_const = undefined,

    fn closeOpen(self: *Coalescer, gi: usize) void {
        self.nopen -= 1;
        var k = gi;
        while (k < self.nopen) : (k += 1) self.open[k] = self.open[k + 1];
    }

    /// Whether packet j (pj) continues group h in sequence with identical headers apart from length, id, seq.
    fn canAppend(self: *Coalescer, buf: [*]const u8, offs: [*]const u32, h: usize, j: usize) bool {
        const th = &self.tcp[h];
        const tj = &self.tcp[j];
        if (!tj.can_merge or tj.hl != th.hl or self.count[h] >= MAX_SEGS) return false;
        const ph = buf + offs[h];
        const pj = buf + offs[j];
        const l4: usize = th.l4;
        const pay = tj.total - tj.hl;
        if (pay == 0 or pay > self.seg[h] or th.hl + self.payload[h] + pay > MAX_PKT) return false;
        if (get32(pj, l4 + 4) != self.next_seq[h]) return false;
        if (th.v6) {
            if (!std.mem.eql(u8, ph[0..4], pj[0..4]) or ph[7] != pj[7]) return false; // traffic class, flow, hop limit
        } else {
            if (ph[1] != pj[1] or ph[8] != pj[8] or (ph[6] ^ pj[6]) & 0x40 != 0) return false; // TOS, TTL, DF
        }
        // ack, window, options equal (offset 8..12, 14..16, 20..hl of the TCP header)
        if (!std.mem.eql(u8, ph[l4 + 8 ..][0..4], pj[l4 + 8 ..][0..4]) or !std.mem.eql(u8, ph[l4 + 14 ..][0..2], pj[l4 + 14 ..][0..2])) return false;
        if (!std.mem.eql(u8, ph[l4 + 20 .. th.hl], pj[l4 + 20 .. th.hl])) return false;
        if (self.count[h] == 1 and !checksumsValid(ph, th)) return false;
        return checksumsValid(pj, tj);
    }

    /// Assigns every packet of the chunk a role: passed through, head of a group, or member of one.
    pub fn plan(self: *Coalescer, buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: usize) void {
        self.nopen = 0;
        for (0..n) |j| {
            self.role[j] = PASS;
            const pj = buf + offs[j];
            self.tcp[j] = parseTcp(pj, lens[j]) orelse continue;
            const tj = &self.tcp[j];
            // An open group of the same flow: append to it, or close it so the flow's order is kept.
            var gi: usize = 0;
            while (gi < self.nopen) : (gi += 1) {
                const h = self.open[gi];
                if (sameFlow(buf + offs[h], &self.tcp[h], pj, tj)) break;
            }
            if (gi < self.nopen) {
                const h = self.open[gi];
                if (self.canAppend(buf, offs, h, j)) {
                    const pay = tj.total - tj.hl;
                    self.role[j] = MEMBER;
                    self.next[self.tail[h]] = @intCast(j);
                    self.tail[h] = @intCast(j);
                    self.count[h] += 1;
                    self.payload[h] += pay;
                    self.next_seq[h] +%= pay;
                    // A short segment or PSH ends a super-packet (the kernel's GRO does the same).
                    if (pay < self.seg[h] or pj[tj.l4 + 13] & TCP_PSH != 0) self.closeOpen(gi);
                    continue;
                }
                self.closeOpen(gi);
            }
            const pay = tj.total - tj.hl;
            if (!tj.can_merge or pay == 0 or pj[tj.l4 + 13] & TCP_PSH != 0) continue;
            if (self.nopen == MAX_OPEN) self.closeOpen(0);
            self.role[j] = HEAD;
            self.tail[j] = @intCast(j);
            self.count[j] = 1;
            self.payload[j] = pay;
            self.seg[j] = @intCast(pay);
            self.next_seq[j] = get32(pj, tj.l4 + 4) +% pay;
            self.open[self.nopen] = @intCast(j);
            self.nopen += 1;
        }
    }

    /// Builds the header and iovecs of group h; returns the iovec count.
    fn gather(self: *Coalescer, buf: [*]const u8, offs: [*]const u32, h: usize) usize {
        const t = &self.tcp[h];
        const ph = buf + offs[h];
        const hl: usize = t.hl;
        const l4: usize = t.l4;
        const total = hl + self.payload[h];
        const v = VNET_HDR_LEN;
        const ip: [*]u8 = self.hdr[v..].ptr;
        @memcpy(ip[0..hl], ph[0..hl]);
        if (t.v6) {
            put16(ip, 4, @intCast(total - 40));
        } else {
            put16(ip, 2, @intCast(total));
            ipv4HeaderChecksum(ip);
        }
        const pt = buf + offs[self.tail[h]];
        ip[l4 + 13] |= pt[self.tcp[self.tail[h]].l4 + 13] & TCP_PSH;
        // NEEDS_CSUM: the field holds the pseudo-header sum (not complemented); the kernel finishes it.
        ip[l4 + 16] = 0;
        ip[l4 + 17] = 0;
        storeSum(ip, l4 + 16, fold(pseudo(ip, t.v6, PROTO_TCP, @intCast(total - l4))));
        const vh: [*]u8 = &self.hdr;
        vh[0] = F_NEEDS_CSUM;
        vh[1] = if (t.v6) GSO_TCPV6 else GSO_TCPV4;
        setHdr16(vh, 2, @intCast(hl));
        setHdr16(vh, 4, self.seg[h]);
        setHdr16(vh, 6, @intCast(l4));
        setHdr16(vh, 8, 16);
        self.iov[0] = .{ .base = vh, .len = v + hl };
        var k: usize = 1;
        var j = h;
        while (true) {
            const tj = &self.tcp[j];
            self.iov[k] = .{ .base = buf + offs[j] + tj.hl, .len = tj.total - tj.hl };
            k += 1;
            if (j == self.tail[h]) break;
            j = self.next[j];
        }
        return k;
    }

    /// Writes a planned chunk through `sink` in order, each group at its head's place. Returns the number of input
    /// packets taken; stops early when sink.put reports an error that ends the batch (sink.stop is then set).
    pub fn emit(self: *Coalescer, buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: usize, sink: anytype) u32 {
        var taken: u32 = 0;
        var j: usize = 0;
        while (j < n and sink.stop == 0) : (j += 1) {
            const role = self.role[j];
            if (role == MEMBER) continue;
            if (role == HEAD and self.count[j] > 1) {
                const k = self.gather(buf, offs, j);
                if (sink.put(self.iov[0..k])) {
                    taken += self.count[j];
                    continue;
                }
                if (sink.stop != 0) break;
                // Refused as a super-packet: fall back to its segments one by one.
                var m = j;
                while (sink.stop == 0) {
                    if (self.one(buf, offs[m], lens[m], sink)) taken += 1;
                    if (m == self.tail[j]) break;
                    m = self.next[m];
                }
                continue;
            }
            if (self.one(buf, offs[j], lens[j], sink)) taken += 1;
        }
        return taken;
    }

    /// One packet behind a zero header ("no offload"); false when it was not taken.
    fn one(self: *Coalescer, buf: [*]const u8, off: u32, len: u32, sink: anytype) bool {
        self.iov[0] = .{ .base = &self.zero, .len = VNET_HDR_LEN };
        self.iov[1] = .{ .base = buf + off, .len = len };
        return sink.put(self.iov[0..2]);
    }
};

/// Writes to the TUN fd. A gone device or a full queue (EAGAIN/ENOBUFS) ends the batch (stop = GONE or -errno);
/// any other error refuses just that packet, which is skipped, as in tun.writeBatch.
const FdSink = struct {
    fd: i32,
    stop: i32 = 0,
    fn put(self: *FdSink, iov: []const std.posix.iovec_const) bool {
        while (true) {
            const rc = c.writev(self.fd, iov.ptr, @intCast(iov.len));
            if (rc >= 0) return true;
            const e = std.posix.errno(rc);
            switch (e) {
                .INTR => continue,
                .AGAIN, .NOBUFS => self.stop = tun.neg(e),
                .IO => self.stop = tun.DOWN, // link down: the rest of the batch would be refused too
                else => if (tun.isGone(e)) {
                    self.stop = tun.GONE;
                },
            }
            return false;
        }
    }
};

/// Concatenates each write into caller memory (tests see exactly the bytes a TUN would get).
const MemSink = struct {
    out: [*]u8,
    cap: usize,
    used: usize = 0,
    offs: [*]u32,
    lens: [*]u32,
    max: usize,
    count: usize = 0,
    stop: i32 = 0,
    fn put(self: *MemSink, iov: []const std.posix.iovec_const) bool {
        var len: usize = 0;
        for (iov) |v| len += v.len;
        if (self.count == self.max or self.used + len > self.cap) {
            self.stop = tun.neg(.NOSPC);
            return false;
        }
        self.offs[self.count] = @intCast(self.used);
        self.lens[self.count] = @intCast(len);
        for (iov) |v| {
            @memcpy(self.out[self.used..][0..v.len], v.base[0..v.len]);
            self.used += v.len;
        }
        self.count += 1;
        return true;
    }
};

// ---- Per-TUN state ----

pub const Tun = struct {
    fd: i32,
    offloads: u32,
    /// Segments of `pend` not yet handed out; read by the poll thread so it does not sleep while they wait.
    pending: std.atomic.Value(u32) = .init(0),
    gso: Gso = .{},
    next_seg: u32 = 0,
    vhdr: [VNET_HDR_LEN]u8 = undefined,
    pend: [MAX_PKT]u8 = undefined,
    co: Coalescer = .{},
};

/// Sets the 10-byte header size and asks for as many of `want` (TUN_F_*) as the kernel accepts: all, then
/// without USO (kernels before 6.2), then checksum only. Returns the flags enabled (0: none, the header still
/// works for writes), or -errno when the header size itself was refused (the fd is then unusable with a header).
pub fn enable(fd: i32, want: u32) i32 {
    var sz: c_int = VNET_HDR_LEN;
    const rc = c.ioctl(fd, TUNSETVNETHDRSZ, &sz);
    if (rc < 0) return tun.neg(std.posix.errno(rc));
    const tries = [_]u32{ want, want & ~(TUN_F_USO4 | TUN_F_USO6), want & TUN_F_CSUM };
    for (tries) |f| {
        if (f == 0) continue;
        if (c.ioctl(fd, TUNSETOFFLOAD, @as(usize, f)) == 0) return @intCast(f);
    }
    _ = c.ioctl(fd, TUNSETOFFLOAD, @as(usize, 0));
    return 0;
}

pub fn create(fd: i32, offloads: u32) ?*Tun {
    const t = std.heap.c_allocator.create(Tun) catch return null;
    t.* = .{ .fd = fd, .offloads = offloads };
    return t;
}

pub fn destroy(t: *Tun) void {
    std.heap.c_allocator.destroy(t);
}

/// As tun.readBatch: plain IP packets, one per slot. Super-packets are split here; segments that do not fit this
/// call wait in `t` and come first next time. A slot of ≥ 64 KiB is read into directly (no copy for packets
/// that need no split); smaller slots (sized by the MTU) are filled from the one 64 KiB scratch `pend`. A packet
/// larger than the slot comes back cut short — lens[i] > stride, or an IP length beyond lens[i] — so the caller
/// can grow its slots; nothing is written past `stride`.
pub fn readBatch(t: *Tun, buf: [*]u8, stride: u32, lens: [*]u32, max: u32) i32 {
    var i: u32 = 0;
    defer t.pending.store(if (t.next_seg < t.gso.nsegs) t.gso.nsegs - t.next_seg else 0, .release);
    while (i < max) {
        const slot = buf + @as(usize, i) * stride;
        if (t.next_seg < t.gso.nsegs) {
            const seglen = t.gso.segLen(t.next_seg);
            if (seglen > stride) {
                // Slots this small cannot hold it (the MTU grew since the caller sized them): hand out the headers
                // with the segment's IP length, so the caller sees it was cut short and how large slots must be;
                // the rest of the super-packet is dropped.
                const hl: usize = t.gso.hdr_len;
                @memcpy(slot[0..hl], t.pend[0..hl]);
                if (t.gso.v6) put16(slot, 4, @intCast(seglen - 40)) else put16(slot, 2, @intCast(seglen));
                lens[i] = @intCast(hl);
                i += 1;
                t.next_seg = t.gso.nsegs;
                continue;
            }
            lens[i] = @intCast(segment(&t.gso, &t.pend, t.next_seg, slot));
            t.next_seg += 1;
            i += 1;
            continue;
        }
        const direct = stride >= MAX_PKT;
        const iov = [2]std.posix.iovec{
            .{ .base = &t.vhdr, .len = VNET_HDR_LEN },
            if (direct) .{ .base = slot, .len = stride } else .{ .base = &t.pend, .len = MAX_PKT },
        };
        const rc = c.readv(t.fd, &iov, 2);
        if (rc < 0) {
            const e = std.posix.errno(rc);
            switch (e) {
                .INTR => continue,
                .AGAIN, .IO => break, // EIO: link down, nothing to read
                else => {
                    if (i > 0) break;
                    return if (tun.isGone(e)) tun.GONE else tun.neg(e);
                },
            }
        }
        switch (takeRead(t, slot, stride, direct, iov[1].len, @intCast(rc))) {
            .plain => |len| {
                lens[i] = len;
                i += 1;
            },
            .split, .dropped => {},
        }
    }
    return @intCast(i);
}

const Taken = union(enum) { plain: u32, split: u32, dropped };

/// What one read of rc bytes (header + packet; the packet part into a buffer of `cap` bytes: the slot when direct,
/// else t.pend) gives: a plain packet left in the slot, a super-packet parsed into t.gso for splitting, or nothing.
fn takeRead(t: *Tun, slot: [*]u8, stride: u32, direct: bool, cap: usize, rc: usize) Taken {
    if (rc < VNET_HDR_LEN) return .dropped;
    const len: usize = rc - VNET_HDR_LEN;
    // The length is the kernel's word: check it against the buffer read into before copying or parsing anything.
    if (len > cap) return .dropped;
    const p: [*]u8 = if (direct) slot else &t.pend;
    if (t.vhdr[1] == GSO_NONE) {
        if (t.vhdr[0] & F_NEEDS_CSUM != 0 and !completeChecksum(&t.vhdr, p, len)) return .dropped;
        if (!direct) {
            // Too big for the slot: its first `stride` bytes, with the read length, tell the caller (as a plain
            // TUN read does) that the packet was cut short and how large slots must be.
            @memcpy(slot[0..@min(len, stride)], t.pend[0..@min(len, stride)]);
        }
        return .{ .plain = @intCast(len) };
    }
    if (len > t.pend.len) return .dropped; // longer than any super-packet we split (MAX_PKT)
    if (direct) @memcpy(t.pend[0..len], slot[0..len]);
    t.gso = parseGso(&t.vhdr, &t.pend, len) orelse {
        t.gso = .{};
        return .dropped;
    };
    t.next_seg = 0;
    return .{ .split = t.gso.nsegs };
}

/// For tests: takeRead on a read that reported rc bytes, with header vhdr and the packet at slot (read directly
/// when stride >= MAX_PKT, else from t.pend). Returns the plain packet's length, or 0x10000 + the segment count of
/// a super-packet, or -1 when the read was dropped.
pub fn takeReadForTest(t: *Tun, vhdr: [*]const u8, slot: [*]u8, stride: u32, rc: u32) i32 {
    @memcpy(&t.vhdr, vhdr[0..VNET_HDR_LEN]);
    const direct = stride >= MAX_PKT;
    if (!direct) @memcpy(t.pend[0..@min(rc -| VNET_HDR_LEN, MAX_PKT)], slot[0..@min(rc -| VNET_HDR_LEN, MAX_PKT)]);
    return switch (takeRead(t, slot, stride, direct, if (direct) stride else MAX_PKT, rc)) {
        .plain => |len| @intCast(len),
        .split => |n| @intCast(0x10000 + n),
        .dropped => -1,
    };
}

/// As tun.writeBatch (returns packets taken), each packet with a virtio_net_hdr; TCP runs coalesced.
pub fn writeBatch(t: *Tun, buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: u32) i32 {
    var sink = FdSink{ .fd = t.fd };
    var done: u32 = 0;
    var taken: u32 = 0;
    while (done < n and sink.stop == 0) {
        const m: u32 = @min(n - done, CHUNK);
        t.co.plan(buf, offs + done, lens + done, m);
        taken += t.co.emit(buf, offs + done, lens + done, m, &sink);
        done += m;
    }
    if (taken == 0 and sink.stop != 0 and sink.stop != tun.neg(.AGAIN) and sink.stop != tun.neg(.NOBUFS)) return sink.stop;
    return @intCast(taken);
}

// ---- Pure entry points for tests ----

/// Splits one TUN read (virtio_net_hdr + packet) into packets at out[i*stride]. Returns the count, -EINVAL when
/// malformed, -E2BIG when more than `max` packets would result.
pub fn splitOne(pkt: [*]u8, len: usize, out: [*]u8, stride: u32, lens: [*]u32, max: u32) i32 {
    if (len < VNET_HDR_LEN) return tun.neg(.INVAL);
    const h = pkt;
    const p = pkt + VNET_HDR_LEN;
    const plen = len - VNET_HDR_LEN;
    if (h[1] == GSO_NONE) {
        if (max < 1 or plen > stride) return tun.neg(.@"2BIG");
        @memcpy(out[0..plen], p[0..plen]);
        if (h[0] & F_NEEDS_CSUM != 0 and !completeChecksum(h, out, plen)) return tun.neg(.INVAL);
        lens[0] = @intCast(plen);
        return 1;
    }
    const g = parseGso(h, p, plen) orelse return tun.neg(.INVAL);
    if (g.nsegs > max or g.segLen(0) > stride) return tun.neg(.@"2BIG");
    var k: u32 = 0;
    while (k < g.nsegs) : (k += 1) lens[k] = @intCast(segment(&g, p, k, out + @as(usize, k) * stride));
    return @intCast(g.nsegs);
}

/// Coalesces like writeBatch, but into memory: output packet i (virtio_net_hdr + packet) at out[out_offs[i]],
/// out_lens[i] bytes. Returns the output count or -ENOSPC. Allocates its planning state (tests only).
pub fn coalesceToMemory(buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: u32, out: [*]u8, cap: u32, out_offs: [*]u32, out_lens: [*]u32, max_out: u32) i32 {
    if (n > CHUNK) return tun.neg(.@"2BIG");
    const co = std.heap.c_allocator.create(Coalescer) catch return tun.neg(.NOMEM);
    defer std.heap.c_allocator.destroy(co);
    co.* = .{};
    co.plan(buf, offs, lens, n);
    var sink = MemSink{ .out = out, .cap = cap, .offs = out_offs, .lens = out_lens, .max = max_out };
    const r = co.emit(buf, offs, lens, n, &sink);
    if (sink.stop != 0) return sink.stop;
    if (r != n) return tun.neg(.INVAL);
    return @intCast(sink.count);
}

test "vector checksum sum equals a plain big-endian word sum at every length and alignment" {
    var data: [300]u8 = undefined;
    for (&data, 0..) |*b, i| b.* = @truncate(i *% 131 +% 17);
    for (0..4) |start| {
        for (0..260) |len| {
            const d = data[start..][0..len];
            var plain: u64 = 0;
            var i: usize = 0;
            while (i + 1 < len) : (i += 2) plain += @as(u64, d[i]) << 8 | d[i + 1];
            if (i < len) plain += @as(u64, d[i]) << 8;
            try std.testing.expectEqual(fold(plain), std.mem.bigToNative(u16, fold(sum(d, 0))));
        }
    }
}
