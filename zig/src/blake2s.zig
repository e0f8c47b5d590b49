//! WireGuard's symmetric primitives on BLAKE2s (whitepaper §5.4: HASH, MAC, HMAC, KDF1/2/3), for the handshake.
//! The TypeScript core has its own allocation-free BLAKE2s; this one is handed to it by the daemon because a
//! complete handshake runs ~16 KDFs (~100 compressions) and that JS time is a third of the handshake's cost.
//! Outputs may alias inputs: every input is consumed before an output is written.
const std = @import("std");
const Blake2s256 = std.crypto.hash.blake2.Blake2s256;
const Blake2s128 = std.crypto.hash.blake2.Blake2s128;
const Hmac = std.crypto.auth.hmac.Hmac(Blake2s256);

/// HASH(a ‖ b ‖ c) = BLAKE2s-256.
export fn bunwg_hash(out: [*]u8, a: [*]const u8, alen: u32, b: [*]const u8, blen: u32, c: [*]const u8, clen: u32) callconv(.c) void {
    var h = Blake2s256.init(.{});
    h.update(a[0..alen]);
    h.update(b[0..blen]);
    h.update(c[0..clen]);
    h.final(out[0..32]);
}

/// MAC(key, input) = keyed BLAKE2s-128 (mac1, mac2, cookies; §5.4.4). key: 1-32 bytes.
export fn bunwg_mac(out: [*]u8, key: [*]const u8, keylen: u32, input: [*]const u8, inlen: u32) callconv(.c) void {
    var h = Blake2s128.init(.{ .key = key[0..@min(keylen, 32)] });
    h.update(input[0..inlen]);
    h.final(out[0..16]);
}

fn hmac(out: *[32]u8, key: []const u8, a: []const u8, b: []const u8) void {
    var m = Hmac.init(key);
    m.update(a);
    m.update(b);
    m.final(out);
}

/// HMAC-BLAKE2s-256(key, a ‖ b), key ≤ 64 bytes (src/crypto/blake2s.ts checks).
export fn bunwg_hmac(out: [*]u8, key: [*]const u8, keylen: u32, a: [*]const u8, alen: u32, b: [*]const u8, blen: u32) callconv(.c) void {
    hmac(out[0..32], key[0..keylen], a[0..alen], b[0..blen]);
}

/// KDFn(key, input), n = 1..3: τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i−1) ‖ i).
export fn bunwg_kdf(n: u32, out1: [*]u8, out2: [*]u8, out3: [*]u8, key: [*]const u8, keylen: u32, input: [*]const u8, inlen: u32) callconv(.c) void {
    var t0: [32]u8 = undefined;
    var t1: [32]u8 = undefined;
    var t2: [32]u8 = undefined;
    hmac(&t0, key[0..keylen], input[0..inlen], &.{});
    hmac(&t1, &t0, &[_]u8{1}, &.{});
    if (n >= 2) hmac(&t2, &t0, &t1, &[_]u8{2});
    if (n >= 3) {
        var t3: [32]u8 = undefined;
        hmac(&t3, &t0, &t2, &[_]u8{3});
        @memcpy(out3[0..32], &t3);
        std.crypto.secureZero(u8, &t3);
    }
    if (n >= 2) @memcpy(out2[0..32], &t2);
    @memcpy(out1[0..32], &t1);
    std.crypto.secureZero(u8, &t0);
    std.crypto.secureZero(u8, &t1);
    std.crypto.secureZero(u8, &t2);
}
