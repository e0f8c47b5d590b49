//! Poly1305's vector path for AVX-512 CPUs that also have IFMA (vpmadd52luq/vpmadd52huq: Ice Lake, Zen 4 and
//! later): 8 lanes of three 44-bit limbs (2^0, 2^44, 2^88), so a block costs 9 products (each a low and a high
//! 52-bit half) instead of 25 with 26-bit limbs. Same lane scheme as poly1305.zig: lane j takes blocks j, j+8, …,
//! multiplying by r^8 per step and by r^(8-j) at the end. Chosen at run time (CPUID) inside the x86-64-v4 build,
//! since IFMA is not part of x86-64-v4; the instructions are inline asm so the rest of the build does not use them.
const std = @import("std");
const builtin = @import("builtin");
const State = @import("poly1305.zig").State;

const L = 8;
const V = @Vector(L, u64);
pub const Limbs = [3]V;
const M44: u64 = (1 << 44) - 1;
const M42: u64 = (1 << 42) - 1;

// 0 = not yet probed, 1 = off, 2 = on.
var mode = std.atomic.Value(u8).init(0);

fn cpuHasIfma() bool {
    if (builtin.cpu.arch != .x86_64) return false;
    var ebx: u32 = undefined;
    var eax: u32 = 7;
    var ecx: u32 = 0;
    var edx: u32 = undefined;
    asm volatile ("cpuid"
        : [a] "={eax}" (eax),
          [b] "={ebx}" (ebx),
          [c] "={ecx}" (ecx),
          [d] "={edx}" (edx),
        : [a_in] "{eax}" (eax),
          [c_in] "{ecx}" (ecx),
    );
    const avx512f = (ebx >> 16) & 1 == 1;
    const ifma = (ebx >> 21) & 1 == 1;
    return avx512f and ifma;
}

/// Whether the IFMA path is in use (probed once; only ever true in an AVX-512 build on an IFMA CPU).
pub fn enabled() bool {
    if (comptime !available) return false;
    var m = mode.load(.monotonic);
    if (m == 0) {
        m = if (cpuHasIfma()) 2 else 1;
        mode.store(m, .monotonic);
    }
    return m == 2;
}

/// Turns the IFMA path off (false) or back on where the CPU has it (true), for tests and benchmarks.
pub fn setEnabled(on: bool) void {
    if (comptime !available) return;
    mode.store(if (on and cpuHasIfma()) 2 else 1, .monotonic);
}

/// This build can use it at all: x86-64 with AVX-512 (the v4 variant).
pub const available = builtin.cpu.arch == .x86_64 and std.Target.x86.featureSetHas(builtin.cpu.features, .avx512f);

inline fn lo52(acc: V, a: V, b: V) V {
    var r = acc;
    asm ("vpmadd52luq %[b], %[a], %[acc]"
        : [acc] "+v" (r),
        : [a] "v" (a),
          [b] "v" (b),
    );
    return r;
}

inline fn hi52(acc: V, a: V, b: V) V {
    var r = acc;
    asm ("vpmadd52huq %[b], %[a], %[acc]"
        : [acc] "+v" (r),
        : [a] "v" (a),
          [b] "v" (b),
    );
    return r;
}

inline fn splat(x: u64) V {
    return @splat(x);
}

/// 20·r limbs for the products that wrap past 2^130 (2^132 ≡ 4·5).
inline fn times20(x: Limbs) Limbs {
    return .{ x[0], (x[1] << splat(4)) + (x[1] << splat(2)), (x[2] << splat(4)) + (x[2] << splat(2)) };
}

/// Lane-wise a·b mod p (partially reduced): limbs of a < 2^47, of b < 2^46, s = times20(b) < 2^51; products
/// < 2^98, so each limb sums to < 2^58 before the carry.
inline fn mul(a: Limbs, b: Limbs, s: Limbs) Limbs {
    const z: V = @splat(0);
    // Low halves at their limb, high halves (weight 2^52 = 2^44·2^8) one limb up.
    var d0 = lo52(lo52(lo52(z, a[0], b[0]), a[1], s[2]), a[2], s[1]);
    var d1 = lo52(lo52(lo52(z, a[0], b[1]), a[1], b[0]), a[2], s[2]);
    var d2 = lo52(lo52(lo52(z, a[0], b[2]), a[1], b[1]), a[2], b[0]);
    const h0 = hi52(hi52(hi52(z, a[0], b[0]), a[1], s[2]), a[2], s[1]);
    const h1 = hi52(hi52(hi52(z, a[0], b[1]), a[1], b[0]), a[2], s[2]);
    const h2 = hi52(hi52(hi52(z, a[0], b[2]), a[1], b[1]), a[2], b[0]);
    d1 += h0 << splat(8);
    d2 += h1 << splat(8);
    // h2 sits at 2^140 = 2^130·2^10 ≡ 5·2^10.
    d0 += (h2 << splat(12)) + (h2 << splat(10));
    // One parallel carry step (2^130 ≡ 5): limbs end below 2^45, enough for the next product (inputs < 2^52),
    // with a third of the dependency depth of a full sequential carry.
    const c0 = d0 >> splat(44);
    const c1 = d1 >> splat(44);
    const c2 = d2 >> splat(42);
    d0 = (d0 & splat(M44)) + c2 + (c2 << splat(2));
    d1 = (d1 & splat(M44)) + c0;
    d2 = (d2 & splat(M42)) + c1;
    return .{ d0, d1, d2 };
}

inline fn loadBlocks(p: [*]const u8) Limbs {
    const W = @Vector(2 * L, u64);
    const raw: W = @as(*align(1) const W, @ptrCast(p)).*;
    const lo: V = @shuffle(u64, raw, undefined, [L]i32{ 0, 2, 4, 6, 8, 10, 12, 14 });
    const hi: V = @shuffle(u64, raw, undefined, [L]i32{ 1, 3, 5, 7, 9, 11, 13, 15 });
    return .{
        lo & splat(M44),
        ((lo >> splat(44)) | (hi << splat(20))) & splat(M44),
        (hi >> splat(24)) | splat(1 << 40), // the 2^128 bit of a full block
    };
}

fn toLimbs44(h0: u64, h1: u64, h2: u64) [3]u64 {
    return .{ h0 & M44, ((h0 >> 44) | (h1 << 20)) & M44, (h1 >> 24) | (h2 << 40) };
}

inline fn lanesFrom(a: Limbs, b: Limbs, comptime mask: [L]i32) Limbs {
    return .{ @shuffle(u64, a[0], b[0], mask), @shuffle(u64, a[1], b[1], mask), @shuffle(u64, a[2], b[2], mask) };
}

/// Absorbs data.len/16 blocks (a multiple of 8, at least 16) into st.
pub fn blocks(st: *State, data: []const u8) void {
    // r^8 in every lane and r^(8-j) in lane j, by doubling: [r] → [r²,r] → [r⁴,r³,r²,r] → [r⁸…r].
    const r1 = toLimbs44(st.r0, st.r1, 0);
    const r: Limbs = .{ splat(r1[0]), splat(r1[1]), splat(r1[2]) };
    const r2 = mul(r, r, times20(r));
    const p2 = lanesFrom(r2, r, .{ 0, ~@as(i32, 1), 0, 0, 0, 0, 0, 0 }); // [r², r, …]
    const r4x = mul(p2, r2, times20(r2)); // [r⁴, r³, …]
    const p4 = lanesFrom(r4x, p2, .{ 0, 1, ~@as(i32, 0), ~@as(i32, 1), 0, 0, 0, 0 }); // [r⁴, r³, r², r, …]
    const r4 = lanesFrom(r4x, r4x, .{ 0, 0, 0, 0, 0, 0, 0, 0 });
    const r8x = mul(p4, r4, times20(r4)); // [r⁸, r⁷, r⁶, r⁵, …]
    const rlast = lanesFrom(r8x, p4, .{ 0, 1, 2, 3, ~@as(i32, 0), ~@as(i32, 1), ~@as(i32, 2), ~@as(i32, 3) });
    const r8 = lanesFrom(r8x, r8x, .{ 0, 0, 0, 0, 0, 0, 0, 0 });
    const s8 = times20(r8);
    const slast = times20(rlast);

    const h = toLimbs44(st.h0, st.h1, st.h2);
    var acc: Limbs = .{
        V{ h[0], 0, 0, 0, 0, 0, 0, 0 },
        V{ h[1], 0, 0, 0, 0, 0, 0, 0 },
        V{ h[2], 0, 0, 0, 0, 0, 0, 0 },
    };
    const groups = data.len / (16 * L);
    var g: usize = 0;
    while (g + 1 < groups) : (g += 1) {
        const m = loadBlocks(data.ptr + g * 16 * L);
        acc = mul(.{ acc[0] + m[0], acc[1] + m[1], acc[2] + m[2] }, r8, s8);
    }
    const m = loadBlocks(data.ptr + g * 16 * L);
    acc = mul(.{ acc[0] + m[0], acc[1] + m[1], acc[2] + m[2] }, rlast, slast);

    fold(st, acc);
}

/// Sums the lanes, carries, and returns to the 64-bit-limb form of State.
pub fn fold(st: *State, acc: Limbs) void {
    var l0 = @reduce(.Add, acc[0]);
    var l1 = @reduce(.Add, acc[1]);
    var l2 = @reduce(.Add, acc[2]);
    var c = l0 >> 44;
    l0 &= M44;
    l1 += c;
    c = l1 >> 44;
    l1 &= M44;
    l2 += c;
    c = l2 >> 42;
    l2 &= M42;
    l0 += c * 5;
    c = l0 >> 44;
    l0 &= M44;
    l1 += c;
    // l0 and l1 must be below 2^44 for the composition below (l2 may exceed 42 bits: h2 takes it).
    c = l1 >> 44;
    l1 &= M44;
    l2 += c;
    st.h0 = l0 | (l1 << 44);
    st.h1 = (l1 >> 20) | (l2 << 24);
    st.h2 = l2 >> 40;
}

test "fold keeps exact value when a late carry ripples (IFMA limbs)" {
    const p: u256 = (1 << 130) - 5;
    const cases = [_][3]u64{
        .{ (1 << 44) - 3, (1 << 44) - 1, (1 << 42) + 1 },
        .{ (1 << 44) - 1, (1 << 44) - 1, (1 << 42) - 1 },
        .{ 1 << 46, (1 << 46) - 7, 1 << 45 },
    };
    for (cases) |cs| {
        var st = State.init(&([_]u8{0} ** 32));
        const acc: Limbs = .{ V{ cs[0], 0, 0, 0, 0, 0, 0, 0 }, V{ cs[1], 0, 0, 0, 0, 0, 0, 0 }, V{ cs[2], 0, 0, 0, 0, 0, 0, 0 } };
        fold(&st, acc);
        const want = (@as(u256, cs[0]) + (@as(u256, cs[1]) << 44) + (@as(u256, cs[2]) << 88)) % p;
        const got = (@as(u256, st.h0) + (@as(u256, st.h1) << 64) + (@as(u256, st.h2) << 128)) % p;
        try std.testing.expectEqual(want, got);
    }
}
