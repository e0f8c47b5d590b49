//! ChaCha20-Poly1305 AEAD (RFC 8439 §2.8) from our vectorised ChaCha20 and Poly1305.
//! Block 0 of the keystream keys Poly1305; the message uses blocks 1…. The first pass computes blocks
//! 0..w-1 into a scratch buffer (w = the narrowest pass covering the message) so short packets cost one pass.
const std = @import("std");
const chacha = @import("chacha20.zig");
const Poly = @import("poly1305.zig").State;

const first_max = chacha.max_lanes * 64;

fn polyTag(poly_key: *const [32]u8, ad: []const u8, ct: []const u8, tag: *[16]u8) void {
    var st = Poly.init(poly_key);
    if (ad.len > 0) st.updatePadded(ad);
    st.updatePadded(ct);
    st.lengths(ad.len, ct.len);
    st.final(tag);
}

/// Computes the first pass of keystream into ks: `head` message bytes covered, `used` bytes of ks written.
inline fn firstPass(p: *const chacha.Params, len: usize, ks: *[first_max]u8) struct { head: usize, used: usize } {
    const w = chacha.widthFor(1 + (len + 63) / 64);
    chacha.keystream(p, 0, w, ks);
    return .{ .head = @min(len, (w - 1) * 64), .used = w * 64 };
}

inline fn xorFrom(ks: []const u8, src: [*]const u8, dst: [*]u8, n: usize) void {
    // Whole 64-byte blocks as vectors, the rest bytewise.
    const B = @Vector(64, u8);
    var i: usize = 0;
    while (i + 64 <= n) : (i += 64) {
        const k: B = ks[i..][0..64].*;
        const s: B = @as(*align(1) const B, @ptrCast(src + i)).*;
        @as(*align(1) B, @ptrCast(dst + i)).* = s ^ k;
    }
    while (i < n) : (i += 1) dst[i] = src[i] ^ ks[i];
}

/// ct (may alias pt) gets pt encrypted, tag the Poly1305 tag over ad and ct.
pub fn sealParams(p: *const chacha.Params, pt: []const u8, ad: []const u8, ct: []u8, tag: *[16]u8) void {
    var ks: [first_max]u8 align(64) = undefined;
    const first = firstPass(p, pt.len, &ks);
    const head = first.head;
    xorFrom(ks[64..], pt.ptr, ct.ptr, head);
    if (head < pt.len) chacha.xorStream(p, @intCast(1 + head / 64), pt.ptr + head, ct.ptr + head, pt.len - head);
    polyTag(ks[0..32], ad, ct, tag);
    std.crypto.secureZero(u8, ks[0..first.used]);
}

/// Verifies tag over ad and ct first; only then writes the plaintext to pt (may alias ct). False = rejected, pt untouched.
pub fn openParams(p: *const chacha.Params, ct: []const u8, tag: *const [16]u8, ad: []const u8, pt: []u8) bool {
    var ks: [first_max]u8 align(64) = undefined;
    const first = firstPass(p, ct.len, &ks);
    const head = first.head;
    var want: [16]u8 = undefined;
    polyTag(ks[0..32], ad, ct, &want);
    if (!std.crypto.timing_safe.eql([16]u8, want, tag.*)) {
        std.crypto.secureZero(u8, ks[0..first.used]);
        return false;
    }
    xorFrom(ks[64..], ct.ptr, pt.ptr, head);
    if (head < ct.len) chacha.xorStream(p, @intCast(1 + head / 64), ct.ptr + head, pt.ptr + head, ct.len - head);
    std.crypto.secureZero(u8, ks[0..first.used]);
    return true;
}

pub fn seal(key: *const [32]u8, counter: u64, pt: []const u8, ad: []const u8, ct: []u8, tag: *[16]u8) void {
    const p = chacha.Params.wireguard(key, counter);
    sealParams(&p, pt, ad, ct, tag);
}

pub fn open(key: *const [32]u8, counter: u64, ct: []const u8, tag: *const [16]u8, ad: []const u8, pt: []u8) bool {
    const p = chacha.Params.wireguard(key, counter);
    return openParams(&p, ct, tag, ad, pt);
}

/// RFC 8439's general 96-bit nonce, for its test vectors.
pub fn nonceParams(key: *const [32]u8, nonce: *const [12]u8) chacha.Params {
    return chacha.Params.init(key, .{
        std.mem.readInt(u32, nonce[0..4], .little),
        std.mem.readInt(u32, nonce[4..8], .little),
        std.mem.readInt(u32, nonce[8..12], .little),
    });
}

test "against std ChaCha20Poly1305" {
    const Std = std.crypto.aead.chacha_poly.ChaCha20Poly1305;
    var prng = std.Random.DefaultPrng.init(7);
    const rnd = prng.random();
    var pt: [3000]u8 = undefined;
    var a: [3000]u8 = undefined;
    var b: [3000]u8 = undefined;
    var ad: [64]u8 = undefined;
    for (0..2000) |_| {
        var key: [32]u8 = undefined;
        rnd.bytes(&key);
        rnd.bytes(&pt);
        rnd.bytes(&ad);
        const n = rnd.uintLessThan(usize, 3000);
        const adn = rnd.uintLessThan(usize, 64);
        const ctr = rnd.int(u64);
        var nonce = [_]u8{0} ** 12;
        std.mem.writeInt(u64, nonce[4..12], ctr, .little);
        var ta: [16]u8 = undefined;
        var tb: [16]u8 = undefined;
        seal(&key, ctr, pt[0..n], ad[0..adn], a[0..n], &ta);
        Std.encrypt(b[0..n], &tb, pt[0..n], ad[0..adn], nonce, key);
        try std.testing.expectEqualSlices(u8, b[0..n], a[0..n]);
        try std.testing.expectEqualSlices(u8, &tb, &ta);
        try std.testing.expect(open(&key, ctr, a[0..n], &ta, ad[0..adn], a[0..n]));
        try std.testing.expectEqualSlices(u8, pt[0..n], a[0..n]);
        ta[rnd.uintLessThan(usize, 16)] ^= 1;
        try std.testing.expect(!open(&key, ctr, b[0..n], &ta, ad[0..adn], b[0..n]));
    }
}
