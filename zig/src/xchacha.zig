//! XChaCha20-Poly1305 (whitepaper §5.4 XAEAD: the cookie reply of §5.4.7 seals its cookie with it). HChaCha20
//! derives a subkey from the key and the first 16 nonce bytes; the last 8 nonce bytes, after 4 zero bytes, are
//! the 96-bit nonce of the vectorised ChaCha20-Poly1305 in chachapoly.zig (draft-irtf-cfrg-xchacha §2.2–2.3).
//! Single messages over caller-owned buffers: a cookie reply is 64 bytes and answers one handshake message.
const std = @import("std");
const chacha = @import("chacha20.zig");
const chachapoly = @import("chachapoly.zig");

pub const KEY_LEN = 32;
pub const NONCE_LEN = 24;
pub const TAG_LEN = 16;

inline fn quarter(x: *[16]u32, comptime a: usize, comptime b: usize, comptime c: usize, comptime d: usize) void {
    x[a] +%= x[b];
    x[d] = std.math.rotl(u32, x[d] ^ x[a], 16);
    x[c] +%= x[d];
    x[b] = std.math.rotl(u32, x[b] ^ x[c], 12);
    x[a] +%= x[b];
    x[d] = std.math.rotl(u32, x[d] ^ x[a], 8);
    x[c] +%= x[d];
    x[b] = std.math.rotl(u32, x[b] ^ x[c], 7);
}

/// HChaCha20: the ChaCha20 state of key and 16-byte nonce after 20 rounds, without the final addition; the
/// subkey is words 0..3 and 12..15.
pub fn hchacha20(key: *const [32]u8, nonce: *const [16]u8, out: *[32]u8) void {
    var x: [16]u32 = undefined;
    x[0] = 0x61707865;
    x[1] = 0x3320646e;
    x[2] = 0x79622d32;
    x[3] = 0x6b206574;
    inline for (0..8) |i| x[4 + i] = std.mem.readInt(u32, key[i * 4 ..][0..4], .little);
    inline for (0..4) |i| x[12 + i] = std.mem.readInt(u32, nonce[i * 4 ..][0..4], .little);
    var r: usize = 0;
    while (r < 10) : (r += 1) {
        quarter(&x, 0, 4, 8, 12);
        quarter(&x, 1, 5, 9, 13);
        quarter(&x, 2, 6, 10, 14);
        quarter(&x, 3, 7, 11, 15);
        quarter(&x, 0, 5, 10, 15);
        quarter(&x, 1, 6, 11, 12);
        quarter(&x, 2, 7, 8, 13);
        quarter(&x, 3, 4, 9, 14);
    }
    inline for (0..4) |i| std.mem.writeInt(u32, out[i * 4 ..][0..4], x[i], .little);
    inline for (0..4) |i| std.mem.writeInt(u32, out[16 + i * 4 ..][0..4], x[12 + i], .little);
    std.crypto.secureZero(u32, &x);
}

/// The ChaCha20 parameters of one message: subkey and 4 zero bytes ‖ nonce[16..24].
fn params(key: *const [32]u8, nonce: *const [24]u8) chacha.Params {
    var sub: [32]u8 = undefined;
    hchacha20(key, nonce[0..16], &sub);
    var n12 = [_]u8{0} ** 12;
    @memcpy(n12[4..12], nonce[16..24]);
    const p = chachapoly.nonceParams(&sub, &n12);
    std.crypto.secureZero(u8, &sub);
    return p;
}

/// out gets pt.len + 16 bytes: ciphertext ‖ tag. out may be pt's memory.
pub fn seal(key: *const [32]u8, nonce: *const [24]u8, pt: []const u8, ad: []const u8, out: [*]u8) void {
    var p = params(key, nonce);
    chachapoly.sealParams(&p, pt, ad, out[0..pt.len], out[pt.len..][0..TAG_LEN]);
    std.crypto.secureZero(u32, &p.key);
}

/// Verifies the tag at the end of `sealed` before writing any plaintext to out (sealed.len − 16 bytes).
pub fn open(key: *const [32]u8, nonce: *const [24]u8, sealed: []const u8, ad: []const u8, out: [*]u8) bool {
    if (sealed.len < TAG_LEN) return false;
    const n = sealed.len - TAG_LEN;
    var p = params(key, nonce);
    defer std.crypto.secureZero(u32, &p.key);
    return chachapoly.openParams(&p, sealed[0..n], sealed[n..][0..TAG_LEN], ad, out[0..n]);
}

test "HChaCha20: draft-irtf-cfrg-xchacha-03 §2.2.1" {
    var key: [32]u8 = undefined;
    _ = try std.fmt.hexToBytes(&key, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    var nonce: [16]u8 = undefined;
    _ = try std.fmt.hexToBytes(&nonce, "000000090000004a0000000031415927");
    var want: [32]u8 = undefined;
    _ = try std.fmt.hexToBytes(&want, "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
    var got: [32]u8 = undefined;
    hchacha20(&key, &nonce, &got);
    try std.testing.expectEqualSlices(u8, &want, &got);
}

test "against std XChaCha20Poly1305" {
    const Std = std.crypto.aead.chacha_poly.XChaCha20Poly1305;
    var prng = std.Random.DefaultPrng.init(11);
    const rnd = prng.random();
    var pt: [600]u8 = undefined;
    var a: [616]u8 = undefined;
    var b: [600]u8 = undefined;
    var ad: [40]u8 = undefined;
    for (0..1000) |_| {
        var key: [32]u8 = undefined;
        var nonce: [24]u8 = undefined;
        rnd.bytes(&key);
        rnd.bytes(&nonce);
        rnd.bytes(&pt);
        rnd.bytes(&ad);
        const n = rnd.uintLessThan(usize, 600);
        const adn = rnd.uintLessThan(usize, 40);
        var tb: [16]u8 = undefined;
        seal(&key, &nonce, pt[0..n], ad[0..adn], &a);
        Std.encrypt(b[0..n], &tb, pt[0..n], ad[0..adn], nonce, key);
        try std.testing.expectEqualSlices(u8, b[0..n], a[0..n]);
        try std.testing.expectEqualSlices(u8, &tb, a[n..][0..16]);
        var back: [600]u8 = undefined;
        try std.testing.expect(open(&key, &nonce, a[0 .. n + 16], ad[0..adn], &back));
        try std.testing.expectEqualSlices(u8, pt[0..n], back[0..n]);
        a[rnd.uintLessThan(usize, n + 16)] ^= 1;
        try std.testing.expect(!open(&key, &nonce, a[0 .. n + 16], ad[0..adn], &back));
    }
}
