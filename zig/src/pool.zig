//! The data plane's worker threads (issue #14; design and measurements in docs/threads.md). The JavaScript thread
//! keeps every decision — routing, counters, replay windows, timers — and hands this pool batches that are already
//! decided: "seal these packets with these keys and send them to these endpoints", "open these packets",
//! "write these packets to the TUN", "receive from the socket and open what a live session's key opens" (the keys
//! mirrored in sessions.zig; what to accept stays the JS thread's). Workers run the crypto of different batches at
//! the same time; the syscall at the end of a job waits for its turn on a lane (one for the UDP socket, one for the
//! TUN), so datagrams and TUN writes leave in the order the JS thread submitted them (per peer: the order they were
//! read).
//!
//! Everything is caller-owned: the JS thread keeps each batch's buffers alive until it has collected the job's
//! result (result()/wait()), and stop() runs every queued job before it joins the threads, so no thread touches a
//! buffer after the JS thread let it go. The pool itself is allocated once, at start().
const std = @import("std");
const aead = @import("aead.zig");
const udp = @import("udp.zig");
const offload = @import("offload.zig");
const tun = @import("tun.zig");
const Sessions = @import("sessions.zig").Sessions;
const linux = std.os.linux;
const c = std.c;

/// Jobs in flight at most (the JS side keeps fewer batches than this).
pub const SLOTS: u32 = 64;
pub const MAX_WORKERS: u32 = 32;
/// result() of a job that has not finished.
pub const PENDING: i32 = std.math.minInt(i32);
/// wait() on a slot with no job (collected already): a caller's bug, reported instead of waited on forever.
pub const NOT_SUBMITTED: i32 = std.math.minInt(i32) + 1;

const FREE: u32 = 0;
const QUEUED: u32 = 1;
const RUNNING: u32 = 2;
const DONE: u32 = 3;

const Kind = enum(u8) { seal_send, open, tun_write, tun_read, udp_recv_open };
const LANE_UDP = 0;
const LANE_TUN = 1;

/// What a job does, filled in by the JS thread before the job is queued.
const Params = struct {
    kind: Kind = .open,
    n: u32 = 0,
    buf: [*]u8 = undefined,
    buf_len: u32 = 0,
    offs: [*]u32 = undefined,
    lens: [*]u32 = undefined,
    keys: [*]const u8 = undefined,
    nkeys: u32 = 0,
    key_idx: [*]const u16 = undefined,
    ok: [*]u8 = undefined,
    eps: [*]u8 = undefined,
    fd: i32 = -1,
    dual: bool = false,
    gso: bool = false,
    tun_state: ?*offload.Tun = null,
    /// Reads: slot stride, batch limits, the receive state kept between UDP calls (udp.zig RecvState).
    stride: u32 = 0,
    max: u32 = 0,
    /// tun_read, udp_recv_open: a read that brought at least `from` but fewer than `fill` packets waits up to
    /// `gap_ns` for more, at most `gaps` times.
    from: u32 = 0,
    fill: u32 = 0,
    gap_ns: u32 = 0,
    gaps: u32 = 0,
    max_msgs: u32 = 0,
    recv_state: ?*align(1) udp.RecvState = null,
    /// udp_recv_open: where the transport packets it opens go (offs/lens above are the datagrams received), the
    /// keys it copies out of `sessions` (wiped after opening), and per datagram what became of it (`opened`).
    open_offs: [*]u32 = undefined,
    open_lens: [*]u32 = undefined,
    key_out: [*]u8 = undefined,
    key_idx_out: [*]u16 = undefined,
    src: [*]u16 = undefined,
    opened: [*]u8 = undefined,
    /// Tell the JS thread through the event fd when done (it waits in poll() for opened batches).
    notify: bool = false,
};

const Job = struct {
    /// FREE → QUEUED (async) → RUNNING (claimed by exactly one thread) → DONE → FREE (result collected).
    state: std.atomic.Value(u32) = .init(FREE),
    /// A thread sleeps on `state` waiting for DONE (only then does the finishing thread make a wake syscall).
    waited: std.atomic.Value(u32) = .init(0),
    /// Turn on the job's lane (seal_send: UDP, tun_write: TUN).
    ticket: u32 = 0,
    result: i32 = 0,
    p: Params = .{},
};

const Lane = struct {
    /// The ticket whose syscall may run now.
    turn: std.atomic.Value(u32) = .init(0),
    /// Threads sleeping for their turn (a wake syscall only when there are any).
    sleepers: std.atomic.Value(u32) = .init(0),
    /// The next ticket to hand out (JS thread only).
    next: u32 = 0,
};

pub const Pool = struct {
    jobs: [SLOTS]Job = [_]Job{.{}} ** SLOTS,
    /// Sequence numbers: the next job to submit (written by the JS thread only), the next one a thread looks at
    /// (FIFO; advanced by compare-and-swap; jobs the JS thread ran itself are skipped).
    submitted: std.atomic.Value(u32) = .init(0),
    taken: std.atomic.Value(u32) = .init(0),
    /// Workers asleep on `submitted` (the JS thread makes a wake syscall only when there are any).
    sleepers: std.atomic.Value(u32) = .init(0),
    /// Jobs being run by workers now (not by the JS thread): with queued ones, what keeps the workers busy.
    running: std.atomic.Value(u32) = .init(0),
    stopping: std.atomic.Value(bool) = .init(false),
    lanes: [2]Lane = .{ .{}, .{} },
    event_fd: i32 = -1,
    /// The JS thread is about to sleep (or sleeps) in poll() on event_fd: only then is the fd written — a write
    /// per finished read would cost a syscall per batch while it is busy anyway (see sleeping()).
    js_waiting: std.atomic.Value(u32) = .init(0),
    /// Jobs that notify, finished so far; and how many the JS thread had seen when it last went to sleep.
    notified: std.atomic.Value(u32) = .init(0),
    seen: u32 = 0,
    nthreads: u32 = 0,
    threads: [MAX_WORKERS]std.Thread = undefined,
    /// The live sessions' receive keys, mirrored by the JS thread, for udp_recv_open.
    sessions: Sessions = .{},
};

/// udp_recv_open's verdict per datagram: not opened (not a transport message, or no session under its receiver
/// index: the JS thread sorts it as before), opened and authentic, opened and forged.
pub const NOT_OPENED: u8 = 0;
pub const AUTHENTIC: u8 = 1;
pub const FORGED: u8 = 2;
/// Transport message type and its smallest size: the header and the tag (§5.4.6).
const TRANSPORT_TYPE: u8 = 4;
const TRANSPORT_MIN = aead.HEADER_LEN + aead.TAG_LEN;

/// How long a worker with nothing to do keeps looking before it sleeps: under load the next batch usually comes
/// sooner than a sleep and a wake-up cost (two syscalls and two context switches).
const SPIN = 200;

/// Starts `workers` threads named bunwg-dp0, bunwg-dp1, … Returns null when a thread or the event fd cannot be had.
pub fn start(workers: u32) ?*Pool {
    if (workers == 0 or workers > MAX_WORKERS) return null;
    const p = std.heap.c_allocator.create(Pool) catch return null;
    p.* = .{};
    const efd = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
    if (linux.E.init(efd) != .SUCCESS) {
        std.heap.c_allocator.destroy(p);
        return null;
    }
    p.event_fd = @intCast(efd);
    var i: u32 = 0;
    while (i < workers) : (i += 1) {
        p.threads[i] = std.Thread.spawn(.{ .stack_size = 256 * 1024 }, worker, .{ p, i }) catch {
            p.nthreads = i;
            stop(p);
            return null;
        };
        p.nthreads = i + 1;
    }
    return p;
}

/// Runs what is queued, then joins the threads and frees the pool.
pub fn stop(p: *Pool) void {
    p.stopping.store(true, .seq_cst);
    // Move the futex word on (an empty sequence number: its slot holds no queued job) so that a worker about to
    // sleep on the old value does not.
    _ = p.submitted.fetchAdd(1, .seq_cst);
    std.Thread.Futex.wake(&p.submitted, std.math.maxInt(u32));
    for (p.threads[0..p.nthreads]) |t| t.join();
    // Queued jobs nobody took (no threads started): run them here so their lanes and callers are not left waiting.
    while (takeNext(p)) |j| run(p, j);
    _ = c.close(p.event_fd);
    p.sessions.deinit();
    std.heap.c_allocator.destroy(p);
}

fn worker(p: *Pool, id: u32) void {
    // Named so that /proc/PID/task/*/comm shows the data plane's threads (bench/tunnel.ts --threads).
    var name = [_:0]u8{0} ** 16;
    _ = std.fmt.bufPrint(&name, "bunwg-dp{d}", .{id}) catch {};
    _ = linux.prctl(@intFromEnum(linux.PR.SET_NAME), @intFromPtr(&name), 0, 0, 0);
    while (true) {
        if (takeNext(p)) |j| {
            _ = p.running.fetchAdd(1, .acq_rel);
            run(p, j);
            _ = p.running.fetchSub(1, .acq_rel);
            continue;
        }
        var spins: u32 = 0;
        while (spins < SPIN and p.taken.load(.acquire) == p.submitted.load(.acquire)) : (spins += 1) std.atomic.spinLoopHint();
        if (p.taken.load(.acquire) != p.submitted.load(.acquire)) continue;
        if (p.stopping.load(.acquire)) return;
        // Sleep until the JS thread submits (it wakes only when it sees a sleeper; the recheck closes the gap).
        const seen = p.submitted.load(.seq_cst);
        _ = p.sleepers.fetchAdd(1, .seq_cst);
        if (p.taken.load(.seq_cst) == seen and !p.stopping.load(.seq_cst)) std.Thread.Futex.wait(&p.submitted, seen);
        _ = p.sleepers.fetchSub(1, .seq_cst);
    }
}

/// The next queued job, claimed (QUEUED → RUNNING) so that no other thread runs it; null when none is queued.
fn takeNext(p: *Pool) ?*Job {
    while (true) {
        const t = p.taken.load(.acquire);
        if (t == p.submitted.load(.acquire)) return null;
        if (p.taken.cmpxchgWeak(t, t +% 1, .acq_rel, .acquire) != null) continue;
        const j = &p.jobs[t % SLOTS];
        if (j.state.cmpxchgStrong(QUEUED, RUNNING, .acq_rel, .acquire) == null) return j;
    }
}

/// Waits for `ticket`'s turn on lane `l`. Never runs other jobs meanwhile: the turn it waits for belongs to a job
/// submitted earlier, already claimed by a thread that is not waiting on this one.
fn laneEnter(p: *Pool, l: usize, ticket: u32) void {
    const lane = &p.lanes[l];
    var spins: u32 = 0;
    while (true) {
        const v = lane.turn.load(.acquire);
        if (v == ticket) return;
        if (spins < SPIN) {
            spins += 1;
            std.atomic.spinLoopHint();
            continue;
        }
        _ = lane.sleepers.fetchAdd(1, .seq_cst);
        if (lane.turn.load(.seq_cst) == v) std.Thread.Futex.wait(&lane.turn, v);
        _ = lane.sleepers.fetchSub(1, .seq_cst);
    }
}

fn laneLeave(p: *Pool, l: usize, ticket: u32) void {
    const lane = &p.lanes[l];
    lane.turn.store(ticket +% 1, .seq_cst);
    if (lane.sleepers.load(.seq_cst) > 0) std.Thread.Futex.wake(&lane.turn, std.math.maxInt(u32));
}

fn run(p: *Pool, j: *Job) void {
    const q = &j.p;
    switch (q.kind) {
        .seal_send => {
            var rc = aead.sealTransport(q.n, q.buf, q.buf_len, q.offs, q.lens, q.keys, q.nkeys, q.key_idx);
            // Now datagram sizes: header + payload + tag (§5.4.6).
            if (rc == 0) for (0..q.n) |i| {
                q.lens[i] += aead.HEADER_LEN + aead.TAG_LEN;
            };
            laneEnter(p, LANE_UDP, j.ticket);
            if (rc == 0) {
                var dropped: u32 = 0;
                rc = udp.sendBatch(q.fd, q.dual, q.buf, q.offs, q.lens, q.eps, q.n, q.gso, &dropped);
            }
            laneLeave(p, LANE_UDP, j.ticket); // also after a failed seal: later batches must not wait for it
            j.result = rc;
        },
        .open => j.result = aead.openTransport(q.n, q.buf, q.buf_len, q.offs, q.lens, q.keys, q.nkeys, q.key_idx, q.ok),
        .tun_write => {
            laneEnter(p, LANE_TUN, j.ticket);
            j.result = if (q.tun_state) |t| offload.writeBatch(t, q.buf, q.offs, q.lens, q.n) else tun.writeBatch(q.fd, q.buf, q.offs, q.lens, q.n);
            laneLeave(p, LANE_TUN, j.ticket);
        },
        // Reads need no lane: the JS thread has at most one read of each side outstanding.
        .tun_read => j.result = readTun(q),
        .udp_recv_open => {
            j.result = recvUdp(q);
            if (j.result > 0) openReceived(p, q, @intCast(j.result));
        },
    }
    const notify = q.notify;
    j.state.store(DONE, .seq_cst);
    if (j.waited.load(.seq_cst) != 0) std.Thread.Futex.wake(&j.state, 1);
    if (notify) _ = p.notified.fetchAdd(1, .seq_cst);
    if (notify and p.js_waiting.swap(0, .seq_cst) == 1) {
        const one: u64 = 1;
        _ = c.write(p.event_fd, std.mem.asBytes(&one), 8);
    }
}

/// A worker's TUN read: what the TUN holds, and then, while that is at least `from` (a bulk sender's burst, not a
/// paced or interactive flow's packet or two, which are not held up) but fewer than `fill` packets, what comes within
/// `gap_ns` of the last read, at most `gaps` times. Each batch handed back costs the JS thread a wake-up and its
/// per-batch work (docs/threads.md, "Fuller reads"); a bulk stream's next burst is usually that close. Up to max
/// packets; an error after packets were read is left for the next read to report.
fn readTun(q: *const Params) i32 {
    var got: u32 = 0;
    var waits: u32 = 0;
    while (true) {
        const buf = q.buf + @as(usize, got) * q.stride;
        const rc = if (q.tun_state) |t| offload.readBatch(t, buf, q.stride, q.lens + got, q.max - got) else tun.readBatch(q.fd, buf, q.stride, q.lens + got, q.max - got);
        if (rc < 0) return if (got == 0) rc else @intCast(got);
        // Nothing came although the wait said the TUN was readable (the link went down: tun.zig): stop here.
        if (rc == 0 and waits > 0) break;
        got += @intCast(rc);
        if (!burstShort(q, got) or got >= q.max or waits >= q.gaps) break;
        waits += 1;
        if (!readableWithin(q.fd, q.gap_ns)) break; // nothing within the gap: hand back what there is
    }
    return @intCast(got);
}

/// readTun's and recvUdp's rule: a burst (at least `from`, and some) short of `fill` waits for more.
fn burstShort(q: *const Params, got: u32) bool {
    return got > 0 and got >= q.from and got < q.fill;
}

/// Whether fd becomes readable within gap_ns (false also when the wait fails).
fn readableWithin(fd: i32, gap_ns: u32) bool {
    var pfd = [1]std.posix.pollfd{.{ .fd = fd, .events = std.posix.POLL.IN, .revents = 0 }};
    const ts = std.posix.timespec{ .sec = 0, .nsec = gap_ns };
    const pr: isize = @bitCast(linux.ppoll(&pfd, 1, @constCast(&ts), null));
    return pr > 0;
}

/// udp_recv_open's receive, with readTun's rule: a burst of at least `from` but fewer than `fill` packets waits up to
/// `gap_ns` for more datagrams, at most `gaps` times. They are received into the datagram slots after those in use,
/// only as many as the packet room left can hold whole (UDP GRO merges at most udp.MAX_GRO_SEGMENTS segments), so
/// that no datagram is left half-split for the next call, which starts from its own buffer (udp.zig recvBatch).
fn recvUdp(q: *const Params) i32 {
    const st = q.recv_state.?;
    const first = udp.recvBatch(q.fd, q.buf, q.stride, q.max_msgs, q.offs, q.lens, q.eps, q.max, st);
    if (first <= 0 or !burstShort(q, @intCast(first)) or st.next < st.count) return first;
    var got: u32 = @intCast(first);
    var used: u32 = st.count; // datagram slots holding what was reported
    var waits: u32 = 0;
    while (got < q.fill and waits < q.gaps) : (waits += 1) {
        const msgs = @min(q.max_msgs - used, (q.max - got) / udp.MAX_GRO_SEGMENTS);
        if (msgs == 0 or !readableWithin(q.fd, q.gap_ns)) break;
        const base = used * q.stride;
        const rc = udp.recvBatch(q.fd, q.buf + base, q.stride, msgs, q.offs + got, q.lens + got, q.eps + @as(usize, got) * udp.EP_SIZE, q.max - got, st);
        if (rc <= 0) break; // an error is left for the next call to report
        for (q.offs[got .. got + @as(u32, @intCast(rc))]) |*o| o.* += base;
        got += @intCast(rc);
        used += st.count;
        // Cannot happen within udp.MAX_GRO_SEGMENTS per datagram; were it to, the rest of that datagram is dropped
        // rather than misread by the next call from another buffer.
        if (st.next < st.count) {
            st.next = st.count;
            break;
        }
    }
    return @intCast(got);
}

/// udp_recv_open's second half: opens the transport messages among the n datagrams just received whose receiver
/// index names a live session, with a copy of its key taken under the table's lock (one lock per batch), and wipes
/// the copies. Everything else — the replay window (§5.4.6: only after authentication), roaming, the allowed-IPs
/// check, handshake messages — stays with the JS thread, which reads the verdicts in `opened`.
fn openReceived(p: *Pool, q: *const Params, n: u32) void {
    var m: u32 = 0;
    var nkeys: u32 = 0;
    var last: ?u32 = null;
    p.sessions.lock.lock();
    var i: u32 = 0;
    while (i < n) : (i += 1) {
        q.opened[i] = NOT_OPENED;
        const off = q.offs[i];
        const len = q.lens[i];
        if (len < TRANSPORT_MIN) continue;
        const pkt = q.buf + off;
        if (pkt[0] != TRANSPORT_TYPE or pkt[1] != 0 or pkt[2] != 0 or pkt[3] != 0) continue;
        const index = std.mem.readInt(u32, pkt[4..8], .little);
        if (last == null or last.? != index) {
            if (!p.sessions.copyLocked(index, q.key_out[nkeys * 32 ..][0..32])) continue;
            last = index;
            nkeys += 1;
        }
        q.open_offs[m] = off;
        q.open_lens[m] = len - aead.HEADER_LEN;
        q.key_idx_out[m] = @intCast(nkeys - 1);
        q.src[m] = @intCast(i);
        m += 1;
    }
    p.sessions.lock.unlock();
    const rc = aead.openTransport(m, q.buf, q.buf_len, q.open_offs, q.open_lens, q.key_out, nkeys, q.key_idx_out, q.ok);
    std.crypto.secureZero(u8, q.key_out[0 .. nkeys * 32]);
    var k: u32 = 0;
    while (k < m) : (k += 1) q.opened[q.src[k]] = if (rc == 0 and q.ok[k] == 1) AUTHENTIC else FORGED;
}

/// Fills the next slot and either queues it for a worker (async) or runs it on the calling thread, in its lane's
/// order either way. Returns the job's sequence number (mod 2^30), or -1 when the slot is still taken (the caller
/// collects results before it has SLOTS jobs outstanding).
fn submit(p: *Pool, params: Params, async_: bool) i32 {
    var seq = p.submitted.load(.acquire);
    var passed: u32 = 0;
    const j = while (true) {
        // The slot is reused only once the threads looked past its previous job (else one could claim the new job
        // in the old one's place, out of order): help them get there.
        while (seq -% p.taken.load(.acquire) >= SLOTS) {
            if (takeNext(p)) |other| run(p, other);
        }
        const slot = &p.jobs[seq % SLOTS];
        if (slot.state.load(.acquire) == FREE) break slot;
        // Still held by a job submitted SLOTS numbers ago and not collected yet (a read waiting for packets, a
        // batch between its two jobs): pass this number by — a thread that looks at it finds that job, claims it
        // if it is still queued, which is right, and skips it otherwise.
        passed += 1;
        if (passed == SLOTS) return -1; // every slot holds an outstanding job
        seq +%= 1;
        p.submitted.store(seq, .seq_cst);
    };
    j.p = params;
    j.waited.store(0, .release);
    j.ticket = switch (params.kind) {
        .seal_send => lane: {
            p.lanes[LANE_UDP].next +%= 1;
            break :lane p.lanes[LANE_UDP].next -% 1;
        },
        .tun_write => lane: {
            p.lanes[LANE_TUN].next +%= 1;
            break :lane p.lanes[LANE_TUN].next -% 1;
        },
        .open, .tun_read, .udp_recv_open => 0,
    };
    // Run here: claimed before it is visible, so no worker takes it (takeNext skips it).
    j.state.store(if (async_) QUEUED else RUNNING, .release);
    p.submitted.store(seq +% 1, .seq_cst);
    if (async_) {
        if (p.sleepers.load(.seq_cst) > 0) std.Thread.Futex.wake(&p.submitted, 1);
    } else {
        // Nothing queued before it: step the FIFO past it now, so that it does not count as queued (idle()).
        _ = p.taken.cmpxchgStrong(seq, seq +% 1, .acq_rel, .acquire);
        run(p, j);
    }
    return @intCast(seq & ((1 << 30) - 1));
}

/// Waits until the job is done, running queued jobs meanwhile (the JS thread helps instead of idling).
fn waitDone(p: *Pool, j: *Job) void {
    while (true) {
        const s = j.state.load(.acquire);
        if (s == DONE) return;
        if (takeNext(p)) |other| {
            run(p, other);
            continue;
        }
        j.waited.store(1, .seq_cst);
        if (j.state.load(.seq_cst) == s) std.Thread.Futex.wait(&j.state, s);
    }
}

fn slotOf(p: *Pool, seq: u32) *Job {
    return &p.jobs[seq % SLOTS];
}

/// The job's result once done (and its slot freed), else PENDING.
pub fn result(p: *Pool, seq: u32) i32 {
    const j = slotOf(p, seq);
    if (j.state.load(.acquire) != DONE) return PENDING;
    const r = j.result;
    j.state.store(FREE, .release);
    return r;
}

/// Waits for the job (running queued jobs meanwhile), frees its slot and returns its result.
pub fn wait(p: *Pool, seq: u32) i32 {
    const j = slotOf(p, seq);
    if (j.state.load(.acquire) == FREE) return NOT_SUBMITTED;
    waitDone(p, j);
    const r = j.result;
    j.state.store(FREE, .release);
    return r;
}

/// Workers with nothing to do: neither running a job nor with one queued for them. The JS thread hands a batch over
/// only when one is free; otherwise it does the work itself (docs/threads.md: waiting for a busy worker costs more).
pub fn idle(p: *Pool) u32 {
    const queued = p.submitted.load(.acquire) -% p.taken.load(.acquire);
    const busy = p.running.load(.acquire) +% queued;
    return if (busy >= p.nthreads) 0 else p.nthreads - busy;
}

/// Empties the event fd (the JS thread was woken and is about to collect).
pub fn clearEvent(p: *Pool) void {
    p.js_waiting.store(0, .release);
    var v: u64 = 0;
    _ = c.read(p.event_fd, std.mem.asBytes(&v), 8);
}

/// The JS thread is going to wait in poll() for the event fd: returns 1 when a job that notifies finished since it
/// last slept — it should look before sleeping — else 0, and the next such job writes the fd.
pub fn sleeping(p: *Pool) i32 {
    p.js_waiting.store(1, .seq_cst);
    // A job finishing between the JS thread's last look and the store above did not write the fd: count them.
    const n = p.notified.load(.seq_cst);
    if (n != p.seen) {
        p.seen = n;
        p.js_waiting.store(0, .release);
        return 1;
    }
    return 0;
}

// ---- C ABI (src/native/lib.ts, src/device/workers.ts) ----
export fn bunwg_pool_start(workers: u32) callconv(.c) ?*Pool {
    return start(workers);
}
export fn bunwg_pool_stop(p: *Pool) callconv(.c) void {
    stop(p);
}
export fn bunwg_pool_event_fd(p: *Pool) callconv(.c) i32 {
    return p.event_fd;
}
export fn bunwg_pool_clear_event(p: *Pool) callconv(.c) void {
    clearEvent(p);
}
export fn bunwg_pool_idle(p: *Pool) callconv(.c) u32 {
    return idle(p);
}
export fn bunwg_pool_sleeping(p: *Pool) callconv(.c) i32 {
    return sleeping(p);
}
export fn bunwg_pool_pending_code() callconv(.c) i32 {
    return PENDING;
}
/// Seals n transport packets in place (as bunwg_seal_transport), turns lens into datagram sizes, then sends them
/// (as bunwg_udp_send_batch) in submission order. Result: packets sent, or the seal's -(i+1) for a bad packet.
export fn bunwg_pool_seal_send(p: *Pool, async_: u32, n: u32, buf: [*]u8, buf_len: u32, offs: [*]u32, lens: [*]u32, keys: [*]const u8, nkeys: u32, key_idx: [*]const u16, fd: i32, family: u32, eps: [*]u8, gso: u32) callconv(.c) i32 {
    return submit(p, .{ .kind = .seal_send, .n = n, .buf = buf, .buf_len = buf_len, .offs = offs, .lens = lens, .keys = keys, .nkeys = nkeys, .key_idx = key_idx, .fd = fd, .dual = family == 6, .eps = eps, .gso = gso != 0 }, async_ != 0);
}
/// Opens n transport packets in place (as bunwg_open_transport). Result: 0, or -(i+1) for a packet outside buf.
export fn bunwg_pool_open(p: *Pool, async_: u32, n: u32, buf: [*]u8, buf_len: u32, offs: [*]u32, lens: [*]u32, keys: [*]const u8, nkeys: u32, key_idx: [*]const u16, ok: [*]u8) callconv(.c) i32 {
    return submit(p, .{ .kind = .open, .n = n, .buf = buf, .buf_len = buf_len, .offs = offs, .lens = lens, .keys = keys, .nkeys = nkeys, .key_idx = key_idx, .ok = ok, .notify = async_ != 0 }, async_ != 0);
}
/// Writes n packets to the TUN (offload state when tun_state is not null, else the plain fd), in submission order.
/// Result: as bunwg_tun_offload_write_batch / bunwg_tun_write_batch.
export fn bunwg_pool_tun_write(p: *Pool, async_: u32, tun_state: ?*offload.Tun, fd: i32, buf: [*]u8, offs: [*]u32, lens: [*]u32, n: u32) callconv(.c) i32 {
    return submit(p, .{ .kind = .tun_write, .n = n, .buf = buf, .offs = offs, .lens = lens, .fd = fd, .tun_state = tun_state }, async_ != 0);
}
/// Reads up to max packets from the TUN (as bunwg_tun_offload_read_batch / bunwg_tun_read_batch) on a worker;
/// while it has at least `from` but fewer than `fill`, it waits up to `gap_us` for more, at most `gaps` times
/// (readTun). The event fd tells when it is done.
export fn bunwg_pool_tun_read(p: *Pool, tun_state: ?*offload.Tun, fd: i32, buf: [*]u8, stride: u32, lens: [*]u32, max: u32, from: u32, fill: u32, gap_us: u32, gaps: u32) callconv(.c) i32 {
    return submit(p, .{ .kind = .tun_read, .tun_state = tun_state, .fd = fd, .buf = buf, .stride = stride, .lens = lens, .max = max, .from = from, .fill = fill, .gap_ns = gapNs(gap_us), .gaps = gaps, .notify = true }, true);
}
/// Under a second (one timespec's nanoseconds).
fn gapNs(gap_us: u32) u32 {
    return @as(u32, @min(gap_us, 999_999)) * 1000;
}
/// Receives from the UDP socket (as bunwg_udp_recv_batch, with its receive state) on a worker, then opens the
/// transport messages received whose receiver index names a session added with bunwg_pool_session_add
/// (openReceived); the event fd tells when it is done: opened[i] is NOT_OPENED, AUTHENTIC or FORGED for datagram i; the
/// opened packets' plaintext is in place. open_offs, open_lens, key_out (32 bytes per packet), key_idx_out, src and
/// ok are the job's scratch, max_pkts entries each.
export fn bunwg_pool_udp_recv_open(p: *Pool, fd: i32, buf: [*]u8, buf_len: u32, stride: u32, max_msgs: u32, offs: [*]u32, lens: [*]u32, eps: [*]u8, max_pkts: u32, state: *align(1) udp.RecvState, open_offs: [*]u32, open_lens: [*]u32, key_out: [*]u8, key_idx_out: [*]u16, src: [*]u16, ok: [*]u8, opened: [*]u8, from: u32, fill: u32, gap_us: u32, gaps: u32) callconv(.c) i32 {
    return submit(p, .{ .kind = .udp_recv_open, .fd = fd, .buf = buf, .buf_len = buf_len, .stride = stride, .max_msgs = max_msgs, .offs = offs, .lens = lens, .eps = eps, .max = max_pkts, .recv_state = state, .open_offs = open_offs, .open_lens = open_lens, .key_out = key_out, .key_idx_out = key_idx_out, .src = src, .ok = ok, .opened = opened, .from = from, .fill = fill, .gap_ns = gapNs(gap_us), .gaps = gaps, .notify = true }, true);
}
/// A session's receive key under our index, for udp_recv_open (the JS thread: when the session is made). 0, or -1
/// when the table could not grow.
export fn bunwg_pool_session_add(p: *Pool, index: u32, key: [*]const u8) callconv(.c) i32 {
    return if (p.sessions.add(index, key[0..32])) 0 else -1;
}
/// Erases the session's key here (the JS thread: before it erases its own copy).
export fn bunwg_pool_session_remove(p: *Pool, index: u32) callconv(.c) void {
    p.sessions.remove(index);
}
export fn bunwg_pool_result(p: *Pool, seq: u32) callconv(.c) i32 {
    return result(p, seq);
}
export fn bunwg_pool_wait(p: *Pool, seq: u32) callconv(.c) i32 {
    return wait(p, seq);
}

test "TUN-lane writes leave in submission order whichever worker runs them; sync jobs wait their turn" {
    const fds = try std.posix.pipe2(.{ .NONBLOCK = false });
    defer std.posix.close(fds[0]);
    defer std.posix.close(fds[1]);
    const p = start(3) orelse return error.NoPool;
    const N = 40;
    var bufs: [N][4]u8 = undefined;
    var offs: [N]u32 = undefined;
    var lens: [N]u32 = undefined;
    var ids: [N]u32 = undefined;
    var i: u32 = 0;
    while (i < N) : (i += 1) {
        std.mem.writeInt(u32, &bufs[i], i, .little);
        offs[i] = 0;
        lens[i] = 4;
        // Every fifth job runs on this thread: it must still come after the queued ones before it.
        const id = bunwg_pool_tun_write(p, @intFromBool(i % 5 != 0), null, fds[1], &bufs[i], offs[i..].ptr, lens[i..].ptr, 1);
        try std.testing.expect(id >= 0);
        ids[i] = @intCast(id);
        // Collect the oldest results now and then, as the JS side does, so slots stay free.
        if (i >= 16) try std.testing.expectEqual(@as(i32, 1), wait(p, ids[i - 16]));
    }
    i = N - 16;
    while (i < N) : (i += 1) try std.testing.expectEqual(@as(i32, 1), wait(p, ids[i]));
    stop(p);
    var got: [N * 4]u8 = undefined;
    var have: usize = 0;
    while (have < got.len) have += try std.posix.read(fds[0], got[have..]);
    i = 0;
    while (i < N) : (i += 1) try std.testing.expectEqual(i, std.mem.readInt(u32, got[i * 4 ..][0..4], .little));
}

test "open jobs on workers agree with opening here; stop() runs what is still queued" {
    const p = start(2) orelse return error.NoPool;
    const key = [_]u8{7} ** 32;
    const M = 8;
    var buf: [M * 128]u8 = [_]u8{0} ** (M * 128);
    var offs: [M]u32 = undefined;
    var lens: [M]u32 = undefined;
    var ok: [M]u8 = undefined;
    const idx = [_]u16{0} ** M;
    var i: u32 = 0;
    while (i < M) : (i += 1) {
        offs[i] = i * 128;
        const pkt = buf[offs[i]..];
        std.mem.writeInt(u64, pkt[8..16], i, .little); // the counter
        @memset(pkt[16..80], @intCast(i));
        lens[i] = 64;
    }
    try std.testing.expectEqual(@as(i32, 0), aead.sealTransport(M, &buf, buf.len, &offs, &lens, &key, 1, &idx));
    for (&lens) |*l| l.* += aead.TAG_LEN;
    buf[3 * 128 + 20] ^= 1; // packet 3 is forged
    const id = bunwg_pool_open(p, 1, M, &buf, buf.len, &offs, &lens, &key, 1, &idx, &ok);
    try std.testing.expect(id >= 0);
    stop(p); // the job ran (on a worker or here) before stop() returned
    i = 0;
    while (i < M) : (i += 1) {
        try std.testing.expectEqual(@intFromBool(i != 3), ok[i]);
        if (i != 3) try std.testing.expect(std.mem.allEqual(u8, buf[offs[i] + 16 ..][0..64], @intCast(i)));
    }
}

test "a job left uncollected does not block later submissions (its number is passed by, it stays collectable)" {
    const p = start(1) orelse return error.NoPool;
    defer stop(p);
    const key = [_]u8{1} ** 32;
    var buf = [_]u8{0} ** 64;
    var offs = [_]u32{0};
    var lens = [_]u32{16};
    var ok = [_]u8{9};
    const idx = [_]u16{0};
    // A job that stays outstanding (as a read waiting for packets does) while many short ones come and go.
    const old = bunwg_pool_open(p, 1, 1, &buf, buf.len, &offs, &lens, &key, 1, &idx, &ok);
    try std.testing.expect(old >= 0);
    var i: u32 = 0;
    while (i < 3 * SLOTS) : (i += 1) {
        var b2 = [_]u8{0} ** 64;
        var l2 = [_]u32{16};
        var ok2 = [_]u8{9};
        const id = bunwg_pool_open(p, 0, 1, &b2, b2.len, &offs, &l2, &key, 1, &idx, &ok2);
        try std.testing.expect(id >= 0); // before: -1 once the numbers came round to the old job's slot
        try std.testing.expectEqual(@as(i32, 0), wait(p, @intCast(id)));
    }
    try std.testing.expectEqual(@as(i32, 0), wait(p, @intCast(old)));
    try std.testing.expectEqual(@as(u8, 0), ok[0]); // a zero "packet" under key 1 does not authenticate
}

test "udp_recv_open opens what a session's key authenticates, leaves the rest to the JS thread, wipes its key copies" {
    const p = start(1) orelse return error.NoPool;
    defer stop(p);
    var port: u16 = 0;
    var fam: u8 = 0;
    const rx = udp.open(0, true, &port, &fam);
    try std.testing.expect(rx >= 0);
    defer _ = c.close(rx);
    const tx = try std.posix.socket(linux.AF.INET, linux.SOCK.DGRAM, 0);
    defer std.posix.close(tx);
    const to = std.net.Address.initIp4(.{ 127, 0, 0, 1 }, port);

    const key = [_]u8{0x5a} ** 32;
    const live: u32 = 0x11223344;
    try std.testing.expect(p.sessions.add(live, &key));
    // A transport message to `index` with `counter` carrying 48 bytes of `fill`, sealed under key.
    const Msg = struct {
        fn make(out: *[80]u8, index: u32, counter: u64, fill: u8, k: *const [32]u8) void {
            out.* = [_]u8{0} ** 80;
            out[0] = TRANSPORT_TYPE;
            std.mem.writeInt(u32, out[4..8], index, .little);
            std.mem.writeInt(u64, out[8..16], counter, .little);
            @memset(out[16..64], fill);
            aead.seal(k, counter, out[16..64], &.{}, out[16..]);
        }
    };
    var good: [80]u8 = undefined;
    Msg.make(&good, live, 0, 0xab, &key);
    var forged: [80]u8 = undefined;
    Msg.make(&forged, live, 1, 0xcd, &key);
    forged[30] ^= 1;
    var unknown: [80]u8 = undefined;
    Msg.make(&unknown, 0x99, 2, 0xef, &key);
    var initiation = [_]u8{0} ** 148;
    initiation[0] = 1;
    const short = [_]u8{ 4, 0, 0, 0 } ++ [_]u8{0} ** 20;
    for ([_][]const u8{ &good, &forged, &unknown, &initiation, &short }) |d| _ = try std.posix.sendto(tx, d, 0, &to.any, to.getOsSockLen());

    const MAXP = 8;
    const buf = try std.testing.allocator.alloc(u8, MAXP * 2048);
    defer std.testing.allocator.free(buf);
    var offs: [MAXP]u32 = undefined;
    var lens: [MAXP]u32 = undefined;
    var eps: [MAXP * udp.EP_SIZE]u8 = undefined;
    var state: udp.RecvState = std.mem.zeroes(udp.RecvState);
    var open_offs: [MAXP]u32 = undefined;
    var open_lens: [MAXP]u32 = undefined;
    var keys = [_]u8{0} ** (MAXP * 32);
    var key_idx: [MAXP]u16 = undefined;
    var src: [MAXP]u16 = undefined;
    var ok: [MAXP]u8 = undefined;
    var opened: [MAXP]u8 = undefined;
    const id = bunwg_pool_udp_recv_open(p, rx, buf.ptr, @intCast(buf.len), 2048, MAXP, &offs, &lens, &eps, MAXP, &state, &open_offs, &open_lens, &keys, &key_idx, &src, &ok, &opened, 0, 0, 0, 0);
    try std.testing.expect(id >= 0);
    try std.testing.expectEqual(@as(i32, 5), wait(p, @intCast(id)));
    try std.testing.expectEqualSlices(u8, &.{ AUTHENTIC, FORGED, NOT_OPENED, NOT_OPENED, NOT_OPENED }, opened[0..5]);
    try std.testing.expect(std.mem.allEqual(u8, buf[offs[0] + 16 ..][0..48], 0xab)); // plaintext in place
    try std.testing.expect(std.mem.allEqual(u8, &keys, 0)); // the key copies are gone

    // Once the session is removed its packets are the JS thread's again (it finds no session and drops them).
    p.sessions.remove(live);
    _ = try std.posix.sendto(tx, &good, 0, &to.any, to.getOsSockLen());
    const id2 = bunwg_pool_udp_recv_open(p, rx, buf.ptr, @intCast(buf.len), 2048, MAXP, &offs, &lens, &eps, MAXP, &state, &open_offs, &open_lens, &keys, &key_idx, &src, &ok, &opened, 0, 0, 0, 0);
    try std.testing.expectEqual(@as(i32, 1), wait(p, @intCast(id2)));
    try std.testing.expectEqual(NOT_OPENED, opened[0]);
}

test "a worker's TUN read of a burst below `fill` waits for more within the gap; a full one, a lone packet and a quiet TUN return at once" {
    // A datagram socket pair stands in for the TUN (one packet per read, as tun.readBatch expects).
    var sv: [2]i32 = undefined;
    try std.testing.expectEqual(@as(usize, 0), linux.socketpair(linux.AF.UNIX, linux.SOCK.DGRAM | linux.SOCK.NONBLOCK, 0, &sv));
    defer std.posix.close(sv[0]);
    defer std.posix.close(sv[1]);
    const p = start(1) orelse return error.NoPool;
    defer stop(p);
    const STRIDE = 64;
    const MAX = 16;
    var buf: [MAX * STRIDE]u8 = undefined;
    var lens: [MAX]u32 = undefined;
    const put = struct {
        fn f(fd: i32, n: u8) !void {
            var i: u8 = 0;
            while (i < n) : (i += 1) _ = try std.posix.write(fd, &[_]u8{ i, i, i });
        }
    }.f;
    const queued = struct {
        // Whether the reading end still holds a datagram (peeked, not taken).
        fn f(fd: i32) bool {
            var b: [4]u8 = undefined;
            const rc = c.recv(fd, &b, b.len, linux.MSG.PEEK | linux.MSG.DONTWAIT);
            return rc >= 0;
        }
    }.f;

    // 3 packets, then 2 more once the worker has read the first 3: one batch of 5 (the gap is long enough for any
    // scheduling delay here; the read waits only while it has fewer than `fill`; the two may come one wait apart).
    try put(sv[1], 3);
    const id = bunwg_pool_tun_read(p, null, sv[0], &buf, STRIDE, &lens, MAX, 2, 8, 999_999, 4);
    try std.testing.expect(id >= 0);
    var spins: u32 = 0;
    while (queued(sv[0])) : (spins += 1) {
        if (spins > 5_000) return error.WorkerNeverRead; // 5 s
        std.time.sleep(std.time.ns_per_ms);
    }
    try put(sv[1], 2);
    try std.testing.expectEqual(@as(i32, 5), wait(p, @intCast(id)));
    try std.testing.expectEqual(@as(u32, 3), lens[4]);

    // `fill` packets already there: back without waiting out the (long) gap.
    try put(sv[1], 8);
    var t0 = std.time.milliTimestamp();
    try std.testing.expectEqual(@as(i32, 8), wait(p, @intCast(bunwg_pool_tun_read(p, null, sv[0], &buf, STRIDE, &lens, MAX, 2, 8, 999_999, 4))));
    try std.testing.expect(std.time.milliTimestamp() - t0 < 900);

    // Nothing more comes: back after `gaps` short waits with what there was.
    try put(sv[1], 2);
    t0 = std.time.milliTimestamp();
    try std.testing.expectEqual(@as(i32, 2), wait(p, @intCast(bunwg_pool_tun_read(p, null, sv[0], &buf, STRIDE, &lens, MAX, 2, 8, 1000, 4))));
    try std.testing.expect(std.time.milliTimestamp() - t0 < 900);

    // Fewer than `from` (a ping, a paced flow): back at once, not held up by the (long) gap.
    try put(sv[1], 1);
    t0 = std.time.milliTimestamp();
    try std.testing.expectEqual(@as(i32, 1), wait(p, @intCast(bunwg_pool_tun_read(p, null, sv[0], &buf, STRIDE, &lens, MAX, 2, 8, 999_999, 4))));
    try std.testing.expect(std.time.milliTimestamp() - t0 < 900);
}

test "a worker's UDP receive of a burst below `fill` takes what follows within the gap into the next slots" {
    const p = start(1) orelse return error.NoPool;
    defer stop(p);
    var port: u16 = 0;
    var fam: u8 = 0;
    const rx = udp.open(0, false, &port, &fam); // no GRO: one packet per datagram
    try std.testing.expect(rx >= 0);
    defer _ = c.close(rx);
    const tx = try std.posix.socket(linux.AF.INET, linux.SOCK.DGRAM, 0);
    defer std.posix.close(tx);
    const to = std.net.Address.initIp4(.{ 127, 0, 0, 1 }, port);
    const send = struct {
        fn f(fd: std.posix.socket_t, addr: std.net.Address, from: u8, n: u8) !void {
            var i: u8 = from;
            while (i < from + n) : (i += 1) _ = try std.posix.sendto(fd, &[_]u8{ 9, i, i, i, i }, 0, &addr.any, addr.getOsSockLen());
        }
    }.f;

    const MSGS = 8;
    const STRIDE = 256;
    const MAXP = MSGS * udp.MAX_GRO_SEGMENTS;
    const buf = try std.testing.allocator.alloc(u8, MSGS * STRIDE);
    defer std.testing.allocator.free(buf);
    const arrays = try std.testing.allocator.alloc(u32, 4 * MAXP);
    defer std.testing.allocator.free(arrays);
    const offs = arrays[0..MAXP];
    const lens = arrays[MAXP .. 2 * MAXP];
    const open_offs = arrays[2 * MAXP .. 3 * MAXP];
    const open_lens = arrays[3 * MAXP ..];
    const eps = try std.testing.allocator.alloc(u8, MAXP * udp.EP_SIZE);
    defer std.testing.allocator.free(eps);
    const small = try std.testing.allocator.alloc(u8, MAXP * (32 + 2 + 2 + 1 + 1));
    defer std.testing.allocator.free(small);
    const keys = small[0 .. MAXP * 32];
    const key_idx: [*]u16 = @ptrCast(@alignCast(small[MAXP * 32 ..].ptr));
    const src: [*]u16 = @ptrCast(@alignCast(small[MAXP * 34 ..].ptr));
    const ok = small[MAXP * 36 .. MAXP * 37];
    const opened = small[MAXP * 37 ..];
    var state: udp.RecvState = std.mem.zeroes(udp.RecvState);
    const recv = struct {
        fn f(pp: *Pool, fd: i32, b: []u8, o: []u32, l: []u32, e: []u8, st: *udp.RecvState, oo: []u32, ol: []u32, k: []u8, ki: [*]u16, s: [*]u16, okk: []u8, op: []u8, from: u32, fill: u32, gap_us: u32) i32 {
            return bunwg_pool_udp_recv_open(pp, fd, b.ptr, @intCast(b.len), STRIDE, MSGS, o.ptr, l.ptr, e.ptr, MAXP, st, oo.ptr, ol.ptr, k.ptr, ki, s, okk.ptr, op.ptr, from, fill, gap_us, 4);
        }
    }.f;
    const holds = struct {
        fn f(fd: i32) bool {
            var b: [8]u8 = undefined;
            return c.recv(fd, &b, b.len, linux.MSG.PEEK | linux.MSG.DONTWAIT) >= 0;
        }
    }.f;

    // 3 datagrams, then 2 more once the worker has taken the first 3: one batch of 5, the last two in slots 3 and 4.
    try send(tx, to, 0, 3);
    std.time.sleep(20 * std.time.ns_per_ms); // all three queued before the worker's first receive
    const id = recv(p, rx, buf, offs, lens, eps, &state, open_offs, open_lens, keys, key_idx, src, ok, opened, 2, 8, 999_999);
    try std.testing.expect(id >= 0);
    var spins: u32 = 0;
    while (holds(rx)) : (spins += 1) {
        if (spins > 5_000) return error.WorkerNeverReceived;
        std.time.sleep(std.time.ns_per_ms);
    }
    try send(tx, to, 3, 2);
    try std.testing.expectEqual(@as(i32, 5), wait(p, @intCast(id)));
    for (0..5) |k| {
        try std.testing.expectEqual(@as(u32, 5), lens[k]);
        try std.testing.expectEqual(@as(u32, @intCast(k * STRIDE)), offs[k]);
        try std.testing.expectEqual(@as(u8, @intCast(k)), buf[offs[k] + 1]);
        try std.testing.expectEqual(NOT_OPENED, opened[k]); // type 9: not a transport message
    }
    try std.testing.expectEqualSlices(u8, eps[0..udp.EP_SIZE], eps[4 * udp.EP_SIZE ..][0..udp.EP_SIZE]); // same sender

    // The next receive starts afresh from its own slots (nothing half-split is carried over), and a lone datagram is
    // handed back at once.
    try send(tx, to, 7, 1);
    std.time.sleep(20 * std.time.ns_per_ms);
    const t0 = std.time.milliTimestamp();
    try std.testing.expectEqual(@as(i32, 1), wait(p, @intCast(recv(p, rx, buf, offs, lens, eps, &state, open_offs, open_lens, keys, key_idx, src, ok, opened, 2, 8, 999_999))));
    try std.testing.expect(std.time.milliTimestamp() - t0 < 900);
    try std.testing.expectEqual(@as(u32, 0), offs[0]);
    try std.testing.expectEqual(@as(u8, 7), buf[1]);
}
