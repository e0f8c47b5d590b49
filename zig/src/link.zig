//! Follows a TUN interface's link state — up or down, and its MTU — wherever the interface lives. The interface
//! may be moved to another network namespace (the seed's `rdomain`, README) while the daemon, its fd and its UDP
//! socket stay where they are; a netlink socket or an ioctl socket opened in the daemon's namespace no longer sees
//! it then (docs/platform.md). So one thread per interface asks the TUN fd itself which namespace the device is in
//! (TUNGETDEVNETNS), moves itself — only this thread — into that namespace, and there listens for RTM_NEWLINK /
//! RTM_DELLINK and reads the flags and MTU by name (TUNGETIFF gives the name). A move away shows up as RTM_DELLINK in
//! the old namespace, which makes it look again. Every second it looks anyway, in case a notification was lost.
//! It tells JS through a thread-safe callback only when something changed; JS reads the state with `state`.
//! The thread can lag behind a change by as long as the scheduler keeps it waiting (tens of ms on a loaded machine),
//! so the data path, seeing a packet while it believes the link down, asks now with `lookNow` on its own thread.
const std = @import("std");
const linux = std.os.linux;
const c = std.c;
const E = std.posix.E;

pub const Callback = *const fn (event: i32) callconv(.c) void;
/// Callback events: the state changed; the interface was deleted (its fd is detached: EBADFD).
pub const CHANGED: i32 = 1;
pub const GONE: i32 = 2;
/// Bits of `state`.
pub const UP: u32 = 1;
pub const DELETED: u32 = 2;
pub const KNOWN: u32 = 4;

const TUNGETIFF: u32 = 0x800454d2;
const TUNGETDEVNETNS: u32 = 0x54e3;
const SIOCGIFFLAGS: u32 = 0x8913;
const SIOCGIFMTU: u32 = 0x8921;
const IFF_UP: u16 = 0x1;
const IFF_RUNNING: u16 = 0x40;
const RTMGRP_LINK: u32 = 1;
const NETLINK_ROUTE: u32 = 0;
const CLONE_NEWNET: usize = 0x40000000;

const IDLE_MS: i32 = 1000; // look again this often without a notification
const RETRY_MS: i32 = 100; // the interface is between namespaces (or being renamed): look again soon

const IfReq = extern struct {
    name: [16]u8,
    data: extern union { flags: u16, mtu: i32, pad: [24]u8 },
};

pub const Link = struct {
    tun_fd: i32,
    wake_fd: i32,
    cb: Callback,
    stopping: std.atomic.Value(bool) = .init(false),
    /// Published state: UP | DELETED | KNOWN bits, and the MTU (0 until known).
    flags: std.atomic.Value(u32) = .init(0),
    mtu: std.atomic.Value(i32) = .init(0),
    /// Set once the first look is published, so start() can return with a known state.
    ready: std.atomic.Value(u32) = .init(0),
    thread: std.Thread = undefined,
    /// Held while `io` and `ns_ino` change and while a look reads the kernel's state and publishes it, so that
    /// `lookNow` on another thread uses a live socket, and two looks publish in the order they read.
    lock: std.Thread.Mutex = .{},
    ns_ino: u64 = 0, // written by the thread under `lock`
    io: i32 = -1, // datagram socket in the interface's namespace, for SIOCGIF* by name; replaced under `lock`
    nl: i32 = -1, // netlink socket there; the thread's own

    const Look = enum { ok, unknown, gone };

    /// ioctl through the raw syscall (the request codes do not fit libc's int): the result, or -errno.
    fn ioctl(fd: i32, req: u32, arg: usize) isize {
        const rc = linux.ioctl(fd, req, arg);
        const e = linux.E.init(rc);
        return if (e == .SUCCESS) @bitCast(rc) else -@as(isize, @intFromEnum(e));
    }

    fn isDeleted(rc: isize) bool {
        return rc == -@as(isize, @intFromEnum(E.BADFD)) or rc == -@as(isize, @intFromEnum(E.BADF)) or
            rc == -@as(isize, @intFromEnum(E.NODEV));
    }

    fn closeSockets(self: *Link) void {
        self.lock.lock();
        defer self.lock.unlock();
        if (self.nl >= 0) _ = c.close(self.nl);
        if (self.io >= 0) _ = c.close(self.io);
        self.nl = -1;
        self.io = -1;
    }

    /// Sockets in this thread's current namespace (`ns_ino`, 0 when not followed).
    fn openSockets(self: *Link, ns_ino: u64) void {
        self.closeSockets();
        self.lock.lock();
        defer self.lock.unlock();
        self.ns_ino = ns_ino;
        const nl = c.socket(linux.AF.NETLINK, linux.SOCK.RAW | linux.SOCK.CLOEXEC | linux.SOCK.NONBLOCK, NETLINK_ROUTE);
        if (nl >= 0) {
            var sa = std.mem.zeroes(linux.sockaddr.nl);
            sa.family = linux.AF.NETLINK;
            sa.groups = RTMGRP_LINK;
            if (c.bind(nl, @ptrCast(&sa), @sizeOf(linux.sockaddr.nl)) == 0) self.nl = nl else _ = c.close(nl);
        }
        const io = c.socket(linux.AF.INET, linux.SOCK.DGRAM | linux.SOCK.CLOEXEC, 0);
        if (io >= 0) self.io = io;
    }

    /// Follows the device into its namespace (only this thread moves). Without TUNGETDEVNETNS (Linux < 5.2) or the
    /// right to setns, the interface is looked for where the daemon runs.
    fn followNamespace(self: *Link) Look {
        const rc = ioctl(self.tun_fd, TUNGETDEVNETNS, 0);
        if (rc < 0) {
            if (isDeleted(rc)) return .gone;
            if (self.io < 0) self.openSockets(0);
            return .ok;
        }
        const nsfd: i32 = @intCast(rc);
        defer _ = c.close(nsfd);
        const ino = inode(nsfd) orelse return .unknown;
        if (ino == self.ns_ino and self.io >= 0) return .ok;
        if (enter(nsfd)) {
            self.openSockets(ino);
        } else if (self.io < 0) self.openSockets(0);
        return .ok;
    }

    /// Moves the calling thread (only it) into network namespace `nsfd`.
    fn enter(nsfd: i32) bool {
        return linux.E.init(linux.syscall2(.setns, @as(usize, @bitCast(@as(isize, nsfd))), CLONE_NEWNET)) == .SUCCESS;
    }

    fn inode(fd: i32) ?u64 {
        var st: linux.Stat = undefined;
        return if (linux.E.init(linux.fstat(fd, &st)) == .SUCCESS) st.ino else null;
    }

    /// Reads the flags and MTU of interface `name` through socket `fd` and publishes them. Caller holds `lock`. True
    /// when the published state changed; null when the kernel would not say.
    fn publish(self: *Link, fd: i32, name: [16]u8) ?bool {
        if (fd < 0) return null;
        var req = std.mem.zeroes(IfReq);
        req.name = name;
        if (ioctl(fd, SIOCGIFFLAGS, @intFromPtr(&req)) < 0) return null;
        const up = req.data.flags & (IFF_UP | IFF_RUNNING) == (IFF_UP | IFF_RUNNING);
        req.data = .{ .pad = [_]u8{0} ** 24 };
        if (ioctl(fd, SIOCGIFMTU, @intFromPtr(&req)) < 0) return null;
        const mtu = req.data.mtu;
        const f: u32 = KNOWN | @as(u32, if (up) UP else 0);
        const changed = self.flags.load(.acquire) != f or self.mtu.load(.acquire) != mtu;
        self.mtu.store(mtu, .release);
        self.flags.store(f, .release);
        return changed;
    }

    fn look(self: *Link) Look {
        var req = std.mem.zeroes(IfReq);
        const rc = ioctl(self.tun_fd, TUNGETIFF, @intFromPtr(&req));
        if (rc < 0) return if (isDeleted(rc)) .gone else .unknown;
        switch (self.followNamespace()) {
            .ok => {},
            else => |l| return l,
        }
        self.lock.lock();
        const changed = self.publish(self.io, req.name);
        self.lock.unlock();
        const ch = changed orelse return .unknown;
        if (ch and self.ready.load(.acquire) != 0) self.cb(CHANGED);
        return .ok;
    }

    /// A look on the caller's thread. An ioctl on a socket acts in the socket's namespace whichever thread makes it,
    /// so the thread's socket serves when the thread has followed the interface to where it is now. When it has not
    /// yet (it lags behind a move as well), a socket is opened there for this look by a short-lived thread: setns
    /// moves only the thread that calls it, and the caller's must stay where it is. No callback: the caller has the
    /// answer.
    fn lookNow(self: *Link) void {
        var req = std.mem.zeroes(IfReq);
        if (ioctl(self.tun_fd, TUNGETIFF, @intFromPtr(&req)) < 0) return kick(self);
        const rc = ioctl(self.tun_fd, TUNGETDEVNETNS, 0);
        if (rc < 0 and isDeleted(rc)) return kick(self);
        const nsfd: i32 = if (rc < 0) -1 else @intCast(rc); // -1: Linux < 5.2, the interface is looked for here
        defer if (nsfd >= 0) {
            _ = c.close(nsfd);
        };
        const ino = if (nsfd < 0) 0 else inode(nsfd) orelse return kick(self);
        self.lock.lock();
        defer self.lock.unlock();
        if (self.io >= 0 and ino == self.ns_ino) {
            if (self.publish(self.io, req.name) == null) kick(self);
            return;
        }
        kick(self);
        // ns_ino 0 with a socket open: the thread could not setns either (no CAP_SYS_ADMIN); do not try per packet.
        if (nsfd < 0 or (self.io >= 0 and self.ns_ino == 0)) return;
        var fd: i32 = -1;
        const t = std.Thread.spawn(.{ .stack_size = 64 * 1024 }, socketIn, .{ nsfd, &fd }) catch return;
        t.join();
        if (fd < 0) return;
        defer _ = c.close(fd);
        _ = self.publish(fd, req.name);
    }

    fn socketIn(nsfd: i32, out: *i32) void {
        if (!enter(nsfd)) return;
        const fd = c.socket(linux.AF.INET, linux.SOCK.DGRAM | linux.SOCK.CLOEXEC, 0);
        if (fd >= 0) out.* = fd;
    }

    fn markReady(self: *Link) void {
        self.ready.store(1, .release);
        std.Thread.Futex.wake(&self.ready, 1);
    }

    fn run(self: *Link) void {
        // Named so that /proc/PID/task/*/comm tells it apart (test/robust/link.test.ts starves it on purpose).
        _ = linux.prctl(@intFromEnum(linux.PR.SET_NAME), @intFromPtr("bunwg-link"), 0, 0, 0);
        var buf: [8192]u8 align(4) = undefined;
        defer self.closeSockets();
        while (!self.stopping.load(.acquire)) {
            const l = self.look();
            if (l == .gone) {
                self.flags.store(self.flags.load(.acquire) | DELETED, .release);
                if (self.ready.load(.acquire) != 0) self.cb(GONE) else self.markReady();
                break;
            }
            if (self.ready.load(.acquire) == 0) self.markReady();
            var fds = [2]std.posix.pollfd{
                .{ .fd = self.wake_fd, .events = linux.POLL.IN, .revents = 0 },
                .{ .fd = self.nl, .events = linux.POLL.IN, .revents = 0 },
            };
            const n: c.nfds_t = if (self.nl >= 0) 2 else 1;
            _ = c.poll(&fds, n, if (l == .unknown) RETRY_MS else IDLE_MS);
            if (fds[0].revents != 0) {
                var v: u64 = 0;
                _ = c.read(self.wake_fd, std.mem.asBytes(&v), 8);
            }
            // What changed does not matter: any link message (or ENOBUFS after an overflow) means look again.
            if (n == 2 and fds[1].revents != 0) {
                while (c.recv(self.nl, &buf, buf.len, linux.MSG.DONTWAIT) > 0) {}
            }
        }
        // Deleted: idle until stop().
        while (!self.stopping.load(.acquire)) {
            var fds = [1]std.posix.pollfd{.{ .fd = self.wake_fd, .events = linux.POLL.IN, .revents = 0 }};
            _ = c.poll(&fds, 1, -1);
            var v: u64 = 0;
            _ = c.read(self.wake_fd, std.mem.asBytes(&v), 8);
        }
    }
};

/// Starts following the interface of `tun_fd`; returns once its state is known (or after 2 s). Null on failure.
pub fn start(tun_fd: i32, cb: Callback) ?*Link {
    const efd: i32 = @intCast(linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK));
    if (efd < 0) return null;
    const l = std.heap.c_allocator.create(Link) catch {
        _ = c.close(efd);
        return null;
    };
    l.* = .{ .tun_fd = tun_fd, .wake_fd = efd, .cb = cb };
    l.thread = std.Thread.spawn(.{ .stack_size = 256 * 1024 }, Link.run, .{l}) catch {
        _ = c.close(efd);
        std.heap.c_allocator.destroy(l);
        return null;
    };
    const deadline = std.time.nanoTimestamp() + 2 * std.time.ns_per_s;
    while (l.ready.load(.acquire) == 0) {
        const left = deadline - std.time.nanoTimestamp();
        if (left <= 0) break;
        std.Thread.Futex.timedWait(&l.ready, 0, @intCast(left)) catch {};
    }
    return l;
}

/// UP | DELETED | KNOWN bits; the MTU in *mtu_out (0 while unknown).
pub fn state(l: *Link, mtu_out: *i32) u32 {
    mtu_out.* = l.mtu.load(.acquire);
    return l.flags.load(.acquire);
}

/// Looks now on the caller's thread (Link.lookNow) and returns the state as `state` does.
pub fn lookNow(l: *Link, mtu_out: *i32) u32 {
    l.lookNow();
    return state(l, mtu_out);
}

/// Look again now (the data path saw a sign of change: a write refused with EIO, a packet above the MTU).
pub fn kick(l: *Link) void {
    const one: u64 = 1;
    _ = c.write(l.wake_fd, std.mem.asBytes(&one), 8);
}

/// Stops and joins the thread and frees the state. Call before closing the TUN fd.
pub fn stop(l: *Link) void {
    l.stopping.store(true, .release);
    kick(l);
    l.thread.join();
    _ = c.close(l.wake_fd);
    std.heap.c_allocator.destroy(l);
}

export fn bunwg_link_start(tun_fd: i32, cb: Callback) callconv(.c) ?*Link {
    return start(tun_fd, cb);
}
export fn bunwg_link_state(l: *Link, mtu_out: *i32) callconv(.c) u32 {
    return state(l, mtu_out);
}
export fn bunwg_link_look_now(l: *Link, mtu_out: *i32) callconv(.c) u32 {
    return lookNow(l, mtu_out);
}
export fn bunwg_link_kick(l: *Link) callconv(.c) void {
    kick(l);
}
export fn bunwg_link_stop(l: *Link) callconv(.c) void {
    stop(l);
}
