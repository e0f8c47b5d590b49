//! One thread per TUN that sleeps in poll() and tells JS when packets wait, so an idle
//! interface costs ~0 % CPU (docs/platform.md: a JS busy loop burns a core). It fires the callback
//! once, then sleeps until JS has drained the device and calls rearm(). The callback runs on this thread: with
//! bun:ffi's `threadsafe: true` it only queues the call for the JS thread, so stop() can join without deadlock.
const std = @import("std");
const linux = std.os.linux;
const c = std.c;
const tun = @import("tun.zig");

/// event = READABLE, tun.GONE when the device reports an error/hang-up (deleted), or -errno when poll() failed.
pub const Callback = *const fn (event: i32) callconv(.c) void;
pub const READABLE: i32 = 1;

const ARMED: u32 = 0; // the thread polls the fd
const FIRED: u32 = 1; // the callback fired; waiting for rearm()
const STOP: u32 = 2; // stop() was called

pub const Poller = struct {
    fd: i32,
    wake_fd: i32,
    cb: Callback,
    /// Segments split from a super-packet that JS has not read yet (offload.zig); while non-zero the device counts
    /// as readable although the fd may not poll so.
    pending: ?*const std.atomic.Value(u32) = null,
    state: std.atomic.Value(u32) = .init(ARMED),
    thread: std.Thread = undefined,

    fn parkUntilStop(self: *Poller) void {
        while (true) {
            const s = self.state.load(.acquire);
            if (s == STOP) return;
            std.Thread.Futex.wait(&self.state, s);
        }
    }

    fn run(self: *Poller) void {
        while (true) {
            // Sleep while JS still owns the device (between the callback and rearm()).
            while (true) {
                const s = self.state.load(.acquire);
                if (s == STOP) return;
                if (s == ARMED) break;
                std.Thread.Futex.wait(&self.state, s);
            }
            if (self.pending) |pend| if (pend.load(.acquire) > 0) {
                if (self.state.cmpxchgStrong(ARMED, FIRED, .acq_rel, .acquire) != null) return; // STOP
                self.cb(READABLE);
                continue;
            };
            var fds = [2]std.posix.pollfd{
                .{ .fd = self.fd, .events = linux.POLL.IN, .revents = 0 },
                .{ .fd = self.wake_fd, .events = linux.POLL.IN, .revents = 0 },
            };
            const rc = c.poll(&fds, 2, -1);
            if (rc < 0) {
                const e = std.posix.errno(rc);
                if (e == .INTR) continue;
                if (self.state.load(.acquire) == STOP) return;
                self.cb(-@as(i32, @intCast(@intFromEnum(e))));
                self.parkUntilStop();
                return;
            }
            if (self.state.load(.acquire) == STOP) return;
            const re = fds[0].revents;
            if (re & (linux.POLL.ERR | linux.POLL.HUP | linux.POLL.NVAL) != 0) {
                // A deleted TUN interface polls as POLLERR forever: report once, then idle until stop().
                self.state.store(FIRED, .release);
                self.cb(tun.GONE);
                self.parkUntilStop();
                return;
            }
            if (re & linux.POLL.IN != 0) {
                // FIRED before calling so a rearm() that races with the callback is not lost.
                if (self.state.cmpxchgStrong(ARMED, FIRED, .acq_rel, .acquire) != null) return; // STOP
                self.cb(READABLE);
            }
        }
    }
};

/// Starts the poll thread for `fd`. Returns null on failure (no memory, no threads, no eventfd).
pub fn start(fd: i32, cb: Callback) ?*Poller {
    return startWithPending(fd, cb, null);
}

/// As start, also firing while `pending` (offload.Tun.pending) is non-zero.
pub fn startWithPending(fd: i32, cb: Callback, pending: ?*const std.atomic.Value(u32)) ?*Poller {
    const efd: i32 = @intCast(linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK));
    if (efd < 0) return null;
    const p = std.heap.c_allocator.create(Poller) catch {
        _ = c.close(efd);
        return null;
    };
    p.* = .{ .fd = fd, .wake_fd = efd, .cb = cb, .pending = pending };
    p.thread = std.Thread.spawn(.{ .stack_size = 1024 * 1024 }, Poller.run, .{p}) catch {
        _ = c.close(efd);
        std.heap.c_allocator.destroy(p);
        return null;
    };
    return p;
}

/// Lets the thread poll again; JS calls it after draining the device until a read returned 0.
pub fn rearm(p: *Poller) void {
    if (p.state.cmpxchgStrong(FIRED, ARMED, .acq_rel, .acquire) == null) {
        std.Thread.Futex.wake(&p.state, 1);
    }
}

/// Stops and joins the thread and frees the poller. Call before closing the fd.
pub fn stop(p: *Poller) void {
    p.state.store(STOP, .release);
    std.Thread.Futex.wake(&p.state, 1);
    const one: u64 = 1;
    _ = c.write(p.wake_fd, std.mem.asBytes(&one), 8);
    p.thread.join();
    _ = c.close(p.wake_fd);
    std.heap.c_allocator.destroy(p);
}
