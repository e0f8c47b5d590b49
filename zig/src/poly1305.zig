//! Poly1305 (RFC 8439 §2.5) for the AEAD, where every block is a full 16-byte block (the AEAD pads AD and
//! ciphertext to 16 bytes, §2.8), so the 2^128 bit is always set.
//! Scalar path: 64-bit limbs (h0, h1, h2) with 64×64→128 multiplies.
//! Vector path: L lanes of 26-bit limbs in u64 lanes (32×32→64 multiplies, vpmuludq); lane j accumulates blocks
//! j, j+L, j+2L… each step multiplying by r^L, and the last step multiplies lane j by r^(L-j) before the lanes are
//! summed — the same polynomial, evaluated L blocks at a time.
const std = @import("std");
const builtin = @import("builtin");
const ifma = @import("poly1305_ifma.zig");

/// Lanes of the vector path: 8 (AVX-512), 4 (AVX2), 0 = scalar only.
pub const lanes: comptime_int = blk: {
    if (builtin.cpu.arch == .x86_64) {
        const has = std.Target.x86.featureSetHas;
        if (has(builtin.cpu.features, .avx512f)) break :blk 8;
        if (has(builtin.cpu.features, .avx2)) break :blk 4;
    }
    break :blk 0;
};

/// Below this many blocks the scalar path is faster than computing r^2..r^L.
const vector_min_blocks = 4 * @max(lanes, 1);

const M26: u64 = (1 << 26) - 1;

pub const State = struct {
    h0: u64 = 0,
    h1: u64 = 0,
    h2: u64 = 0,
    r0: u64,
    r1: u64,
    s1: u64, // r1 + r1/4: folds 2^128 · r1 back below 2^130 (2^130 ≡ 5 mod p; r1 is a multiple of 4 after clamping)
    pad: [2]u64, // s, added at the end

    pub fn init(key: *const [32]u8) State {
        const r0 = std.mem.readInt(u64, key[0..8], .little) & 0x0ffffffc0fffffff;
        const r1 = std.mem.readInt(u64, key[8..16], .little) & 0x0ffffffc0ffffffc;
        return .{
            .r0 = r0,
            .r1 = r1,
            .s1 = r1 + (r1 >> 2),
            .pad = .{ std.mem.readInt(u64, key[16..24], .little), std.mem.readInt(u64, key[24..32], .little) },
        };
    }

    /// h = (h + m + 2^128·hibit) · r, partially reduced (h2 stays small).
    inline fn mulBlock(st: *State, m0: u64, m1: u64, hibit: u64) void {
        var c: u1 = undefined;
        var h0: u64 = undefined;
        var h1: u64 = undefined;
        h0, c = @addWithOverflow(st.h0, m0);
        const t1, const c1 = @addWithOverflow(st.h1, m1);
        h1, const c2 = @addWithOverflow(t1, @as(u64, c));
        const h2 = st.h2 + hibit + c1 + c2;

        const d0 = @as(u128, h0) * st.r0 + @as(u128, h1) * st.s1;
        var d1 = @as(u128, h0) * st.r1 + @as(u128, h1) * st.r0 + @as(u128, h2) * st.s1;
        var d2 = h2 * st.r0; // h2 < 8, r0 < 2^60: no overflow
        d1 += d0 >> 64;
        d2 += @truncate(d1 >> 64);
        // Fold bits at and above 2^130 back: 2^130 ≡ 5.
        const fold = (d2 >> 2) * 5;
        st.h2 = d2 & 3;
        st.h0, c = @addWithOverflow(@as(u64, @truncate(d0)), fold);
        st.h1, const c3 = @addWithOverflow(@as(u64, @truncate(d1)), @as(u64, c));
        st.h2 += c3;
    }

    /// Absorbs whole 16-byte blocks with the scalar path.
    pub fn blocksScalar(st: *State, data: []const u8) void {
        var i: usize = 0;
        while (i + 16 <= data.len) : (i += 16) {
            st.mulBlock(std.mem.readInt(u64, data[i..][0..8], .little), std.mem.readInt(u64, data[i + 8 ..][0..8], .little), 1);
        }
    }

    /// Absorbs `data` zero-padded to a multiple of 16 bytes (the AEAD's pad16), choosing the vector path when long.
    pub fn updatePadded(st: *State, data: []const u8) void {
        var full = data.len & ~@as(usize, 15);
        if (lanes != 0 and full >= vector_min_blocks * 16) {
            const v = full - full % (lanes * 16);
            if (lanes == 8 and ifma.enabled()) ifma.blocks(st, data[0..v]) else st.blocksVector(data[0..v]);
            st.blocksScalar(data[v..full]);
        } else st.blocksScalar(data[0..full]);
        if (full < data.len) {
            var last = [_]u8{0} ** 16;
            @memcpy(last[0 .. data.len - full], data[full..]);
            st.blocksScalar(&last);
            full = data.len;
        }
    }

    /// The AEAD's final block: AD length and ciphertext length as u64 LE (§2.8).
    pub fn lengths(st: *State, ad_len: u64, ct_len: u64) void {
        st.mulBlock(ad_len, ct_len, 1);
    }

    /// h mod p, plus s, modulo 2^128.
    pub fn final(st: *State, tag: *[16]u8) void {
        const h0, const h1, _ = st.reduced();
        const t0, const c = @addWithOverflow(h0, st.pad[0]);
        const t1 = h1 +% st.pad[1] +% c;
        std.mem.writeInt(u64, tag[0..8], t0, .little);
        std.mem.writeInt(u64, tag[8..16], t1, .little);
        std.crypto.secureZero(u64, @as(*[8]u64, @ptrCast(st))[0..8]);
    }

    /// h fully reduced mod p = 2^130 - 5, in constant time.
    fn reduced(st: *const State) struct { u64, u64, u64 } {
        // One more fold makes h < 2^130 + small; then h - p is non-negative iff h + 5 reaches 2^130.
        var h0 = st.h0;
        var h1 = st.h1;
        var h2 = st.h2;
        const fold = (h2 >> 2) * 5;
        h2 &= 3;
        var c: u1 = undefined;
        h0, c = @addWithOverflow(h0, fold);
        h1, c = @addWithOverflow(h1, @as(u64, c));
        h2 += c;
        const g0, const c0 = @addWithOverflow(h0, 5);
        const g1, const c1 = @addWithOverflow(h1, @as(u64, c0));
        const g2 = h2 + c1;
        const mask = @as(u64, 0) -% (g2 >> 2); // all ones when h ≥ p
        return .{ (h0 & ~mask) | (g0 & mask), (h1 & ~mask) | (g1 & mask), (h2 & ~mask) | ((g2 & 3) & mask) };
    }

    // ---- vector path ----
    const V = @Vector(@max(lanes, 1), u64);
    pub const Limbs = [5]V;

    /// 130-bit value → 26-bit limbs (value < 2^130 or slightly above: limb 4 may exceed 26 bits).
    fn toLimbs26(h0: u64, h1: u64, h2: u64) [5]u64 {
        return .{ h0 & M26, (h0 >> 26) & M26, ((h0 >> 52) | (h1 << 12)) & M26, (h1 >> 14) & M26, (h1 >> 40) | (h2 << 24) };
    }

    /// 32×32→64-bit lane multiply of the low halves (operands are known to be below 2^32): one vpmuludq.
    /// Written as inline asm on x86 because LLVM, not seeing that the loop-invariant multipliers fit in 32 bits,
    /// otherwise emits vpmullq (3 µops on Intel cores) or, without AVX-512DQ, a multi-instruction emulation.
    inline fn mul32(a: V, b: V) V {
        if (builtin.cpu.arch == .x86_64 and lanes >= 4) {
            return asm ("vpmuludq %[b], %[a], %[out]"
                : [out] "=v" (-> V),
                : [a] "v" (a),
                  [b] "v" (b),
            );
        }
        const U32 = @Vector(@max(lanes, 1), u32);
        return @as(V, @as(U32, @truncate(a))) * @as(V, @as(U32, @truncate(b)));
    }

    /// Lane-wise a · r where r's limbs are r[0..5] and sr = 5·r[1..5]; result carried back to ~26-bit limbs.
    /// Every operand is below 2^32 (limbs < 2^27, 5·limbs < 2^29), products below 2^56, sums below 2^59.
    inline fn mulLanes(a: Limbs, r: Limbs, sr: Limbs) Limbs {
        var d0 = mul32(a[0], r[0]) + mul32(a[1], sr[4]) + mul32(a[2], sr[3]) + mul32(a[3], sr[2]) + mul32(a[4], sr[1]);
        var d1 = mul32(a[0], r[1]) + mul32(a[1], r[0]) + mul32(a[2], sr[4]) + mul32(a[3], sr[3]) + mul32(a[4], sr[2]);
        var d2 = mul32(a[0], r[2]) + mul32(a[1], r[1]) + mul32(a[2], r[0]) + mul32(a[3], sr[4]) + mul32(a[4], sr[3]);
        var d3 = mul32(a[0], r[3]) + mul32(a[1], r[2]) + mul32(a[2], r[1]) + mul32(a[3], r[0]) + mul32(a[4], sr[4]);
        var d4 = mul32(a[0], r[4]) + mul32(a[1], r[3]) + mul32(a[2], r[2]) + mul32(a[3], r[1]) + mul32(a[4], r[0]);
        const m: V = @splat(M26);
        const s26: V = @splat(26);
        // Two interleaved carry chains (0→1→2→3, 3→4→0→1) halve the dependency depth.
        var c0 = d0 >> s26;
        var c3 = d3 >> s26;
        d0 &= m;
        d3 &= m;
        d1 += c0;
        d4 += c3;
        const c1 = d1 >> s26;
        const c4 = d4 >> s26;
        d1 &= m;
        d4 &= m;
        d2 += c1;
        d0 += c4 + (c4 << @splat(2)); // · 5
        const c2 = d2 >> s26;
        c0 = d0 >> s26;
        d2 &= m;
        d0 &= m;
        d3 += c2;
        d1 += c0;
        c3 = d3 >> s26;
        d3 &= m;
        d4 += c3;
        return .{ d0, d1, d2, d3, d4 };
    }

    inline fn loadBlocks(p: [*]const u8) Limbs {
        const W = @Vector(2 * lanes, u64);
        const raw: W = @as(*align(1) const W, @ptrCast(p)).*;
        comptime var even: [lanes]i32 = undefined;
        comptime var odd: [lanes]i32 = undefined;
        inline for (0..lanes) |j| {
            even[j] = 2 * j;
            odd[j] = 2 * j + 1;
        }
        const lo: V = @shuffle(u64, raw, undefined, even);
        const hi: V = @shuffle(u64, raw, undefined, odd);
        const m: V = @splat(M26);
        return .{
            lo & m,
            (lo >> @splat(26)) & m,
            ((lo >> @splat(52)) | (hi << @splat(12))) & m,
            (hi >> @splat(14)) & m,
            (hi >> @splat(40)) | @as(V, @splat(1 << 24)),
        };
    }

    /// Absorbs data.len/16 blocks, a multiple of `lanes`, at least 2·lanes.
    fn blocksVector(st: *State, data: []const u8) void {
        const P = powers(st.r0, st.r1);
        const rL = P.rL;
        const rlast = P.rlast;
        const sL = times5(rL);
        const slast = times5(rlast);

        // The running h joins lane 0 of the first group.
        const h = toLimbs26(st.h0, st.h1, st.h2);
        var acc: Limbs = undefined;
        inline for (0..5) |i| {
            var arr = [_]u64{0} ** lanes;
            arr[0] = h[i];
            acc[i] = arr;
        }
        const groups = data.len / (16 * lanes);
        var g: usize = 0;
        while (g < groups) : (g += 1) {
            const m = loadBlocks(data.ptr + g * 16 * lanes);
            inline for (0..5) |i| acc[i] += m[i];
            acc = if (g + 1 < groups) mulLanes(acc, rL, sL) else mulLanes(acc, rlast, slast);
        }
        st.foldLanes(acc);
    }

    /// Sums the lanes, carries to 26-bit limbs, and returns to the 64-bit-limb form.
    pub fn foldLanes(st: *State, acc: Limbs) void {
        var s: [5]u64 = undefined;
        inline for (0..5) |i| s[i] = @reduce(.Add, acc[i]);
        var c: u64 = s[0] >> 26;
        s[0] &= M26;
        s[1] += c;
        c = s[1] >> 26;
        s[1] &= M26;
        s[2] += c;
        c = s[2] >> 26;
        s[2] &= M26;
        s[3] += c;
        c = s[3] >> 26;
        s[3] &= M26;
        s[4] += c;
        c = s[4] >> 26;
        s[4] &= M26;
        s[0] += c * 5;
        c = s[0] >> 26;
        s[0] &= M26;
        s[1] += c;
        // s[0..4] must be below 2^26 for the composition below (s[4] may exceed it: h2 takes it).
        c = s[1] >> 26;
        s[1] &= M26;
        s[2] += c;
        c = s[2] >> 26;
        s[2] &= M26;
        s[3] += c;
        c = s[3] >> 26;
        s[3] &= M26;
        s[4] += c;
        st.h0 = s[0] | (s[1] << 26) | (s[2] << 52);
        st.h1 = (s[2] >> 12) | (s[3] << 14) | (s[4] << 40);
        st.h2 = s[4] >> 24;
    }

    inline fn splatLane(x: Limbs, comptime lane: i32) Limbs {
        var out: Limbs = undefined;
        inline for (0..5) |i| out[i] = @shuffle(u64, x[i], undefined, @as(@Vector(lanes, i32), @splat(lane)));
        return out;
    }

    inline fn times5(x: Limbs) Limbs {
        var out: Limbs = undefined;
        inline for (0..5) |i| out[i] = x[i] + (x[i] << @splat(2)); // shifts: no 64-bit vector multiply
        return out;
    }

    /// Lanes j < n from a, the rest from b.
    inline fn blend(a: Limbs, b: Limbs, comptime n: usize) Limbs {
        comptime var mask: [lanes]i32 = undefined;
        inline for (0..lanes) |j| mask[j] = if (j < n) @intCast(j) else ~@as(i32, @intCast(j));
        var out: Limbs = undefined;
        inline for (0..5) |i| out[i] = @shuffle(u64, a[i], b[i], mask);
        return out;
    }

    /// Lanes shifted up by n (lane j gets lane j-n of a; the first n lanes get lanes of b).
    inline fn shiftUp(a: Limbs, b: Limbs, comptime n: usize) Limbs {
        comptime var mask: [lanes]i32 = undefined;
        inline for (0..lanes) |j| mask[j] = if (j >= n) @intCast(j - n) else ~@as(i32, @intCast(j));
        var out: Limbs = undefined;
        inline for (0..5) |i| out[i] = @shuffle(u64, a[i], b[i], mask);
        return out;
    }

    /// rL = r^L in every lane, rlast = r^(L-j) in lane j; by repeated doubling so only log2(L)+1 multiplications
    /// sit on the critical path (values stay congruent mod p; limbs stay just above 26 bits at most).
    inline fn powers(r0: u64, r1: u64) struct { rL: Limbs, rlast: Limbs } {
        const one = toLimbs26(r0, r1, 0);
        var r: Limbs = undefined;
        inline for (0..5) |i| r[i] = @splat(one[i]);
        // cur: lane j = r^(k-j) for j < k (k = filled lanes); rest don't care. Start k = 1: lane 0 = r.
        var cur = r;
        var top = r; // r^k in every lane
        comptime var k = 1;
        inline while (k < lanes) : (k *= 2) {
            // Multiply the filled lanes by r^k and put them in front: lanes become r^(2k-j).
            const up = mulLanes(cur, top, times5(top));
            cur = blend(up, shiftUp(cur, cur, k), k);
            top = splatLane(up, 0);
            // top must be r^(2k): lane 0 of up = r^k · r^k.
        }
        return .{ .rL = top, .rlast = cur };
    }
};

fn macRfc(key: *const [32]u8, msg: []const u8, tag: *[16]u8) void {
    // General Poly1305 (last block may be short: its 0x01 byte lands inside the block) — for the RFC test only.
    var st = State.init(key);
    const full = msg.len & ~@as(usize, 15);
    st.blocksScalar(msg[0..full]);
    if (full < msg.len) {
        var last = [_]u8{0} ** 16;
        @memcpy(last[0 .. msg.len - full], msg[full..]);
        last[msg.len - full] = 1;
        st.mulBlock(std.mem.readInt(u64, last[0..8], .little), std.mem.readInt(u64, last[8..16], .little), 0);
    }
    st.final(tag);
}

test "RFC 8439 2.5.2" {
    var key: [32]u8 = undefined;
    _ = try std.fmt.hexToBytes(&key, "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
    var tag: [16]u8 = undefined;
    macRfc(&key, "Cryptographic Forum Research Group", &tag);
    var expect: [16]u8 = undefined;
    _ = try std.fmt.hexToBytes(&expect, "a8061dc1305136c6c22b8baf0c0127a9");
    try std.testing.expectEqualSlices(u8, &expect, &tag);
}

test "vector path equals scalar path" {
    for ([_]bool{ false, true }) |use_ifma| {
        ifma.setEnabled(use_ifma);
        try vectorEqualsScalar();
    }
}

fn vectorEqualsScalar() !void {
    var prng = std.Random.DefaultPrng.init(42);
    const rnd = prng.random();
    var buf: [4096]u8 = undefined;
    for (0..500) |_| {
        var key: [32]u8 = undefined;
        rnd.bytes(&key);
        rnd.bytes(&buf);
        if (rnd.boolean()) @memset(buf[0..rnd.uintLessThan(usize, 4096)], 0xff);
        const n = rnd.uintLessThan(usize, 4096);
        var a = State.init(&key);
        var b = State.init(&key);
        a.blocksScalar(buf[0 .. n & ~@as(usize, 15)]);
        const pre = rnd.uintLessThan(usize, 4) * 16;
        b.blocksScalar(buf[0..@min(pre, n & ~@as(usize, 15))]);
        b.updatePadded(buf[@min(pre, n & ~@as(usize, 15)) .. n & ~@as(usize, 15)]);
        var ta: [16]u8 = undefined;
        var tb: [16]u8 = undefined;
        a.final(&ta);
        b.final(&tb);
        try std.testing.expectEqualSlices(u8, &ta, &tb);
    }
}

test "against std Poly1305 at the edge (all 0xff)" {
    var key = [_]u8{0xff} ** 32;
    var msg = [_]u8{0xff} ** 1024;
    var st = State.init(&key);
    st.updatePadded(&msg);
    var ours: [16]u8 = undefined;
    st.final(&ours);
    var theirs: [16]u8 = undefined;
    std.crypto.onetimeauth.Poly1305.create(&theirs, &msg, &key);
    try std.testing.expectEqualSlices(u8, &theirs, &ours);
    _ = &key;
    _ = &msg;
}

test "fold keeps exact value when a late carry ripples (26-bit limbs)" {
    if (lanes == 0) return;
    const p: u256 = (1 << 130) - 5;
    const M = (1 << 26);
    const cases = [_][5]u64{
        .{ M - 3, M - 1, 0, 0, M + 1 },
        .{ M - 3, M - 1, M - 1, M - 1, M + 1 },
        .{ 1 << 40, 1 << 40, 1 << 40, 1 << 40, 1 << 40 },
    };
    for (cases) |cs| {
        var st = State.init(&([_]u8{0} ** 32));
        var acc: State.Limbs = undefined;
        inline for (0..5) |i| {
            var arr = [_]u64{0} ** lanes;
            arr[0] = cs[i];
            acc[i] = arr;
        }
        st.foldLanes(acc);
        var want: u256 = 0;
        for (0..5) |i| want += @as(u256, cs[i]) << @intCast(26 * i);
        want %= p;
        const got = (@as(u256, st.h0) + (@as(u256, st.h1) << 64) + (@as(u256, st.h2) << 128)) % p;
        try std.testing.expectEqual(want, got);
    }
}
