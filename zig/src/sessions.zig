//! The receive keys of the live sessions by our index (§5.4.2: the receiver field of a transport message), for a
//! worker that opens a batch it has just received without the JavaScript thread in between (pool.zig
//! udp_recv_open, docs/threads.md). The JavaScript thread owns the sessions (src/noise/indextable.ts) and mirrors
//! each one here when it is made and removes it before its keys are erased; a worker copies a key out under the
//! lock, so it never reads a key while it is being erased, and its copy is wiped when the batch is opened.
//!
//! Open addressing with linear probing; indices are random (§5.4.2), so the index is its own hash. Grown on the
//! JavaScript thread when a session is added (a handshake), never on the packet path.
const std = @import("std");

const EMPTY: u32 = 0;
const USED: u32 = 1;

const Entry = struct {
    state: u32 = EMPTY,
    index: u32 = 0,
    key: [32]u8 = [_]u8{0} ** 32,
};

pub const Sessions = struct {
    lock: std.Thread.Mutex = .{},
    entries: []Entry = &.{},
    count: u32 = 0,

    fn slotOf(entries: []Entry, index: u32) usize {
        const mask = entries.len - 1;
        var i: usize = index & mask;
        while (entries[i].state == USED and entries[i].index != index) i = (i + 1) & mask;
        return i;
    }

    /// Adds (or replaces) the key under `index`. False when memory for a larger table cannot be had.
    pub fn add(s: *Sessions, index: u32, key: *const [32]u8) bool {
        s.lock.lock();
        defer s.lock.unlock();
        if ((s.count + 1) * 2 > s.entries.len) {
            const bigger = std.heap.c_allocator.alloc(Entry, @max(16, s.entries.len * 2)) catch return false;
            @memset(bigger, .{});
            for (s.entries) |*e| if (e.state == USED) {
                bigger[slotOf(bigger, e.index)] = e.*;
            };
            s.release();
            s.entries = bigger;
        }
        const e = &s.entries[slotOf(s.entries, index)];
        if (e.state != USED) s.count += 1;
        e.* = .{ .state = USED, .index = index, .key = key.* };
        return true;
    }

    /// Erases the key under `index`, if there is one (backward-shift deletion: no tombstones to skip later).
    pub fn remove(s: *Sessions, index: u32) void {
        s.lock.lock();
        defer s.lock.unlock();
        if (s.entries.len == 0) return;
        const mask = s.entries.len - 1;
        var hole = slotOf(s.entries, index);
        if (s.entries[hole].state != USED) return;
        std.crypto.secureZero(u8, &s.entries[hole].key);
        s.entries[hole].state = EMPTY;
        s.count -= 1;
        var i = (hole + 1) & mask;
        while (s.entries[i].state == USED) : (i = (i + 1) & mask) {
            const home = s.entries[i].index & mask;
            // Move entry i into the hole unless its home lies cyclically in (hole, i].
            const stays = if (hole <= i) (home > hole and home <= i) else (home > hole or home <= i);
            if (!stays) {
                s.entries[hole] = s.entries[i];
                std.crypto.secureZero(u8, &s.entries[i].key);
                s.entries[i].state = EMPTY;
                hole = i;
            }
        }
        if (s.count == 0) s.release(); // a quiet interface keeps no table
    }

    /// Copies the key under `index` to `out`; false when no session has that index. The caller holds the lock.
    pub fn copyLocked(s: *Sessions, index: u32, out: *[32]u8) bool {
        if (s.entries.len == 0) return false;
        const e = &s.entries[slotOf(s.entries, index)];
        if (e.state != USED) return false;
        out.* = e.key;
        return true;
    }

    fn release(s: *Sessions) void {
        if (s.entries.len == 0) return;
        std.crypto.secureZero(u8, std.mem.sliceAsBytes(s.entries));
        std.heap.c_allocator.free(s.entries);
        s.entries = &.{};
    }

    /// Erases every key and frees the table.
    pub fn deinit(s: *Sessions) void {
        s.lock.lock();
        defer s.lock.unlock();
        s.release();
        s.count = 0;
    }
};

test "sessions: add, find, replace, remove with probing chains intact, every key erased at the end" {
    var s: Sessions = .{};
    defer s.deinit();
    var key: [32]u8 = undefined;
    var out: [32]u8 = undefined;
    // Indices that share a home slot (same low bits) make probing chains, which removal must keep whole.
    var i: u32 = 0;
    while (i < 100) : (i += 1) {
        @memset(&key, @intCast(i));
        try std.testing.expect(s.add(i *% 0x10000 +% (i % 3), &key));
    }
    i = 0;
    while (i < 100) : (i += 2) s.remove(i *% 0x10000 +% (i % 3));
    i = 0;
    while (i < 100) : (i += 1) {
        const found = s.copyLocked(i *% 0x10000 +% (i % 3), &out);
        try std.testing.expectEqual(i % 2 == 1, found);
        if (found) try std.testing.expect(std.mem.allEqual(u8, &out, @intCast(i)));
    }
    @memset(&key, 0xee);
    try std.testing.expect(s.add(1 *% 0x10000 +% 1, &key)); // replaces
    try std.testing.expect(s.copyLocked(0x10001, &out));
    try std.testing.expect(std.mem.allEqual(u8, &out, 0xee));
    try std.testing.expectEqual(@as(u32, 50), s.count);
    i = 1;
    while (i < 100) : (i += 2) s.remove(i *% 0x10000 +% (i % 3));
    try std.testing.expectEqual(@as(u32, 0), s.count);
    try std.testing.expectEqual(@as(usize, 0), s.entries.len); // released once empty
    try std.testing.expect(!s.copyLocked(0x10001, &out));
}
