//! Waiting for packets on the event-loop thread itself. While traffic flows, the TypeScript pump calls this with a
//! short timeout between event-loop turns: a packet then wakes the JS thread directly, as a goroutine blocked in
//! the netpoller is woken, instead of waking a poll thread that must in turn wake the event loop (measured here:
//! ~30-55 µs per such hand-off). When the device goes idle the pump hands back to the poll threads (poller.zig).
const std = @import("std");
const linux = std.os.linux;
const c = std.c;

pub const READY_A: i32 = 1;
pub const READY_B: i32 = 2;
pub const ERROR_A: i32 = 4; // fd a reported POLLERR/POLLHUP/POLLNVAL (a deleted TUN)
pub const READY_C: i32 = 8;

/// Polls fds a, b and c for input for at most timeout_ms; a negative fd is not waited on. c is the data plane's
/// worker pool's event fd (pool.zig: reads done, opened batches waiting to be collected). Returns a bitmask of
/// READY_A, READY_B, READY_C, ERROR_A (0 = timed out), or -errno.
pub fn wait3(a: i32, b: i32, cfd: i32, timeout_ms: i32) i32 {
    // A negative fd is ignored by poll(): unused slots cost nothing.
    var fds = [3]std.posix.pollfd{
        .{ .fd = a, .events = linux.POLL.IN, .revents = 0 },
        .{ .fd = b, .events = linux.POLL.IN, .revents = 0 },
        .{ .fd = cfd, .events = linux.POLL.IN, .revents = 0 },
    };
    const n: c_uint = if (cfd >= 0) 3 else if (b < 0) 1 else 2;
    while (true) {
        const rc = c.poll(&fds, n, timeout_ms);
        if (rc < 0) {
            const e = std.posix.errno(rc);
            if (e == .INTR) continue;
            return -@as(i32, @intCast(@intFromEnum(e)));
        }
        break;
    }
    var r: i32 = 0;
    if (fds[0].revents & linux.POLL.IN != 0) r |= READY_A;
    if (fds[0].revents & (linux.POLL.ERR | linux.POLL.HUP | linux.POLL.NVAL) != 0) r |= ERROR_A;
    if (n >= 2 and fds[1].revents & linux.POLL.IN != 0) r |= READY_B;
    if (n == 3 and fds[2].revents & linux.POLL.IN != 0) r |= READY_C;
    return r;
}

export fn bunwg_wait3(a: i32, b: i32, cfd: i32, timeout_ms: i32) callconv(.c) i32 {
    return wait3(a, b, cfd, timeout_ms);
}
