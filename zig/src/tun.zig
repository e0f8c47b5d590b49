//! Linux TUN device: open, MTU, batched read/write over caller-owned buffers. No allocation.
const std = @import("std");
const linux = std.os.linux;
const c = std.c;
const E = std.posix.E;

/// Returned (negated errno values are all > -4096) when the interface is gone: it was deleted
/// (`ip link del`) or its fd no longer refers to a live device. A daemon must exit then.
pub const GONE: i32 = -0x10000;
/// Returned when the link is down (`ip link set IFNAME down`): Linux refuses TUN writes with EIO then. The
/// packets are dropped; the interface lives on and takes packets again once it is up.
pub const DOWN: i32 = -0x10001;

const TUNSETIFF: u32 = 0x400454ca;
const SIOCSIFMTU: u32 = 0x8922;
const SIOCGIFMTU: u32 = 0x8921;
pub const IFF_TUN: u16 = 0x0001;
pub const IFF_NO_PI: u16 = 0x1000;
pub const IFF_VNET_HDR: u16 = 0x4000;

/// struct ifreq: 16-byte name, then a 24-byte union (flags u16 / mtu i32 at offset 16).
const IfReq = extern struct {
    name: [16]u8,
    data: extern union { flags: u16, mtu: i32, pad: [24]u8 },
};

fn errnoOf(rc: anytype) E {
    return std.posix.errno(rc);
}

pub fn neg(e: E) i32 {
    return -@as(i32, @intCast(@intFromEnum(e)));
}

/// Only a deleted interface (its fd detached: EBADFD) or a closed fd. EIO is not among them: it means the link
/// is down (DOWN).
pub fn isGone(e: E) bool {
    return switch (e) {
        .BADFD, .NODEV, .NXIO, .BADF => true,
        else => false,
    };
}

fn ifreqFor(name: [*:0]const u8) ?IfReq {
    var req = std.mem.zeroes(IfReq);
    const n = std.mem.len(name);
    if (n == 0 or n > 15) return null;
    @memcpy(req.name[0..n], name[0..n]);
    return req;
}

/// Sets the MTU of interface `name` through an AF_INET datagram socket (SIOCSIFMTU). Returns 0 or -errno.
pub fn setMtu(name: [*:0]const u8, mtu: u32) i32 {
    var req = ifreqFor(name) orelse return neg(.INVAL);
    req.data.mtu = @intCast(mtu);
    const s = c.socket(linux.AF.INET, linux.SOCK.DGRAM | linux.SOCK.CLOEXEC, 0);
    if (s < 0) return neg(errnoOf(s));
    defer _ = c.close(s);
    const rc = c.ioctl(s, SIOCSIFMTU, &req);
    if (rc < 0) return neg(errnoOf(rc));
    return 0;
}

/// Returns the MTU of interface `name`, or -errno.
pub fn getMtu(name: [*:0]const u8) i32 {
    var req = ifreqFor(name) orelse return neg(.INVAL);
    const s = c.socket(linux.AF.INET, linux.SOCK.DGRAM | linux.SOCK.CLOEXEC, 0);
    if (s < 0) return neg(errnoOf(s));
    defer _ = c.close(s);
    const rc = c.ioctl(s, SIOCGIFMTU, &req);
    if (rc < 0) return neg(errnoOf(rc));
    return req.data.mtu;
}

/// Opens /dev/net/tun non-blocking and close-on-exec and attaches interface `name` with `flags`
/// (IFF_TUN|IFF_NO_PI normally; IFF_VNET_HDR later for offloads). The kernel's chosen name
/// (it may expand a `%d` pattern) is written to `name_out` (16 bytes, NUL-terminated).
/// Sets the MTU when `mtu` is non-zero. Returns the fd or -errno.
pub fn open(name: [*:0]const u8, flags: u16, mtu: u32, name_out: [*]u8) i32 {
    var req = ifreqFor(name) orelse return neg(.INVAL);
    req.data.flags = flags;
    const fd = c.open("/dev/net/tun", .{ .ACCMODE = .RDWR, .NONBLOCK = true, .CLOEXEC = true });
    if (fd < 0) return neg(errnoOf(fd));
    const rc = c.ioctl(fd, TUNSETIFF, &req);
    if (rc < 0) {
        const e = errnoOf(rc);
        _ = c.close(fd);
        return neg(e);
    }
    @memcpy(name_out[0..16], &req.name);
    name_out[15] = 0;
    if (mtu != 0) {
        const r = setMtu(@ptrCast(&req.name), mtu);
        if (r < 0) {
            _ = c.close(fd);
            return r;
        }
    }
    return fd;
}

/// Reads up to `max` packets; packet i lands at buf[i*stride] and its length in lens[i].
/// Returns the count (0 when nothing is waiting), GONE when the device is gone, or -errno.
/// Packets already read are returned first; an error is then reported by the next call.
pub fn readBatch(fd: i32, buf: [*]u8, stride: u32, lens: [*]u32, max: u32) i32 {
    var i: u32 = 0;
    while (i < max) {
        const rc = c.read(fd, buf + @as(usize, i) * stride, stride);
        if (rc >= 0) {
            lens[i] = @intCast(rc);
            i += 1;
            continue;
        }
        const e = errnoOf(rc);
        switch (e) {
            .INTR => continue,
            .AGAIN => break,
            .IO => break, // link down: nothing to read
            else => {
                if (i > 0) break;
                return if (isGone(e)) GONE else neg(e);
            },
        }
    }
    return @intCast(i);
}

/// Writes packets buf[offs[i] .. offs[i]+lens[i]] for i < n. A packet the kernel rejects on its own
/// (malformed: EINVAL and the like) is skipped; EAGAIN stops the batch. Returns the number written,
/// GONE when the device is gone, DOWN when the link is down and nothing was written (the rest of the batch is
/// dropped), or -errno when nothing could be written.
pub fn writeBatch(fd: i32, buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: u32) i32 {
    var written: u32 = 0;
    var i: u32 = 0;
    while (i < n) {
        const rc = c.write(fd, buf + offs[i], lens[i]);
        if (rc >= 0) {
            written += 1;
            i += 1;
            continue;
        }
        const e = errnoOf(rc);
        switch (e) {
            .INTR => continue,
            .AGAIN, .NOBUFS => break,
            .IO => return if (written > 0) @intCast(written) else DOWN,
            else => {
                if (isGone(e)) return if (written > 0) @intCast(written) else GONE;
                i += 1; // this packet alone was refused
            },
        }
    }
    return @intCast(written);
}

pub fn close(fd: i32) i32 {
    const rc = c.close(fd);
    if (rc < 0) return neg(errnoOf(rc));
    return 0;
}
