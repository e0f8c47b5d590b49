//! ChaCha20 (RFC 8439 §2.3–2.4), vectorised "vertically": each of the 16 state words is a @Vector(N, u32) whose
//! lane b belongs to block b, so N blocks run in parallel with plain vector adds/xors/rotates and no shuffles
//! inside the rounds. The N×N word/block matrix is transposed once at the end to lay the keystream out in order.
const std = @import("std");
const builtin = @import("builtin");

/// Widest block count per pass this CPU level does well: 16 (AVX-512, 16 × u32 per register), 8 (AVX2), else 4.
pub const max_lanes: comptime_int = blk: {
    if (builtin.cpu.arch == .x86_64) {
        const has = std.Target.x86.featureSetHas;
        if (has(builtin.cpu.features, .avx512f)) break :blk 16;
        if (has(builtin.cpu.features, .avx2)) break :blk 8;
    }
    break :blk 4;
};

/// Key and nonce as little-endian words: the parts of the state that do not change between blocks.
pub const Params = struct {
    key: [8]u32,
    nonce: [3]u32,

    pub fn init(key: *const [32]u8, nonce: [3]u32) Params {
        var p: Params = .{ .key = undefined, .nonce = nonce };
        inline for (0..8) |i| p.key[i] = std.mem.readInt(u32, key[i * 4 ..][0..4], .little);
        return p;
    }

    /// WireGuard's nonce (whitepaper §5.4.6): 32 zero bits then the 64-bit counter, little-endian.
    pub fn wireguard(key: *const [32]u8, counter: u64) Params {
        return init(key, .{ 0, @truncate(counter), @truncate(counter >> 32) });
    }
};

const sigma = [4]u32{ 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 }; // "expand 32-byte k"

inline fn rotl(comptime N: comptime_int, x: @Vector(N, u32), comptime r: u5) @Vector(N, u32) {
    return (x << @splat(r)) | (x >> @splat(@as(u5, @intCast(32 - @as(u6, r)))));
}

inline fn quarter(comptime N: comptime_int, x: *[16]@Vector(N, u32), comptime a: usize, comptime b: usize, comptime c: usize, comptime d: usize) void {
    x[a] +%= x[b];
    x[d] = rotl(N, x[d] ^ x[a], 16);
    x[c] +%= x[d];
    x[b] = rotl(N, x[b] ^ x[c], 12);
    x[a] +%= x[b];
    x[d] = rotl(N, x[d] ^ x[a], 8);
    x[c] +%= x[d];
    x[b] = rotl(N, x[b] ^ x[c], 7);
}

/// Shuffle masks for one butterfly stage of an N×N transpose: swap the off-diagonal s×s sub-blocks.
fn maskLo(comptime N: comptime_int, comptime s: comptime_int) @Vector(N, i32) {
    @setEvalBranchQuota(100000);
    var m: [N]i32 = undefined;
    for (0..N) |j| m[j] = if (j & s == 0) @intCast(j) else ~@as(i32, @intCast(j - s));
    return m;
}
fn maskHi(comptime N: comptime_int, comptime s: comptime_int) @Vector(N, i32) {
    @setEvalBranchQuota(100000);
    var m: [N]i32 = undefined;
    for (0..N) |j| m[j] = if (j & s == 0) @intCast(j + s) else ~@as(i32, @intCast(j));
    return m;
}

/// Computes N keystream blocks (counters ctr .. ctr+N-1) and XORs them into dst from src, `len` ≤ N*64 bytes.
/// src and dst may be the same memory. With src == null the raw keystream is stored.
pub inline fn xorBlocks(comptime N: comptime_int, p: *const Params, ctr: u32, src: ?[*]const u8, dst: [*]u8, len: usize) void {
    const V = @Vector(N, u32);
    var iota: [N]u32 = undefined;
    inline for (0..N) |i| iota[i] = i;
    var init: [16]V = undefined;
    inline for (0..4) |i| init[i] = @splat(sigma[i]);
    inline for (0..8) |i| init[4 + i] = @splat(p.key[i]);
    init[12] = @as(V, @splat(ctr)) +% @as(V, iota);
    inline for (0..3) |i| init[13 + i] = @splat(p.nonce[i]);

    var x = init;
    var r: usize = 0;
    while (r < 10) : (r += 1) {
        quarter(N, &x, 0, 4, 8, 12);
        quarter(N, &x, 1, 5, 9, 13);
        quarter(N, &x, 2, 6, 10, 14);
        quarter(N, &x, 3, 7, 11, 15);
        quarter(N, &x, 0, 5, 10, 15);
        quarter(N, &x, 1, 6, 11, 12);
        quarter(N, &x, 2, 7, 8, 13);
        quarter(N, &x, 3, 4, 9, 14);
    }
    inline for (0..16) |i| x[i] +%= init[i];

    // Transpose each N×N group of words so row b holds N consecutive words of block b.
    inline for (0..16 / N) |g| {
        comptime var s = 1;
        inline while (s < N) : (s *= 2) {
            inline for (0..N) |i| {
                if (i & s == 0) {
                    const a = x[g * N + i];
                    const b = x[g * N + i + s];
                    x[g * N + i] = @shuffle(u32, a, b, maskLo(N, s));
                    x[g * N + i + s] = @shuffle(u32, a, b, maskHi(N, s));
                }
            }
        }
    }

    const U = @Vector(N, u32);
    inline for (0..N) |b| {
        const off = b * 64;
        if (off + 64 <= len) {
            inline for (0..16 / N) |g| {
                const at = off + g * N * 4;
                const ks: U = x[g * N + b];
                const d: *align(1) U = @ptrCast(dst + at);
                if (src) |sp| {
                    const sv: *align(1) const U = @ptrCast(sp + at);
                    d.* = sv.* ^ ks;
                } else d.* = ks;
            }
        } else if (off < len) {
            var tmp: [64]u8 align(64) = undefined;
            inline for (0..16 / N) |g| {
                const t: *align(1) U = @ptrCast(tmp[g * N * 4 ..]);
                t.* = x[g * N + b];
            }
            const n = len - off;
            for (0..n) |k| dst[off + k] = (if (src) |sp| sp[off + k] else 0) ^ tmp[k];
            std.crypto.secureZero(u8, &tmp);
        }
    }
}

/// Smallest supported pass width (4, 8, 16 up to max_lanes) that covers `blocks`, else max_lanes.
pub fn widthFor(blocks: usize) usize {
    if (blocks <= 4 or max_lanes == 4) return 4;
    if (blocks <= 8 or max_lanes == 8) return 8;
    return 16;
}

/// XORs the keystream starting at block `ctr` into dst from src, any length (the bulk of a packet).
pub fn xorStream(p: *const Params, ctr0: u32, src: [*]const u8, dst: [*]u8, len: usize) void {
    var ctr = ctr0;
    var done: usize = 0;
    while (len - done >= max_lanes * 64) {
        xorBlocks(max_lanes, p, ctr, src + done, dst + done, max_lanes * 64);
        done += max_lanes * 64;
        ctr += max_lanes;
    }
    while (done < len) {
        const rest = len - done;
        const w = widthFor((rest + 63) / 64);
        const n = @min(rest, w * 64);
        switch (w) {
            4 => xorBlocks(4, p, ctr, src + done, dst + done, n),
            8 => if (max_lanes >= 8) xorBlocks(8, p, ctr, src + done, dst + done, n) else unreachable,
            else => if (max_lanes >= 16) xorBlocks(16, p, ctr, src + done, dst + done, n) else unreachable,
        }
        done += n;
        ctr += @intCast(w);
    }
}

/// Stores `w` keystream blocks from block `ctr` into out (w = widthFor(..); out holds w*64 bytes).
pub fn keystream(p: *const Params, ctr: u32, w: usize, out: [*]u8) void {
    switch (w) {
        4 => xorBlocks(4, p, ctr, null, out, 4 * 64),
        8 => if (max_lanes >= 8) xorBlocks(8, p, ctr, null, out, 8 * 64) else unreachable,
        else => if (max_lanes >= 16) xorBlocks(16, p, ctr, null, out, 16 * 64) else unreachable,
    }
}

test "RFC 8439 2.4.2 keystream" {
    const key = [32]u8{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };
    const p = Params.init(&key, .{ 0, 0x4a000000, 0 });
    const pt = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    var ct: [pt.len]u8 = undefined;
    xorStream(&p, 1, pt, &ct, pt.len);
    var expect: [pt.len]u8 = undefined;
    _ = try std.fmt.hexToBytes(&expect, "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d");
    try std.testing.expectEqualSlices(u8, &expect, &ct);
}
