//! WireGuard's AEAD (whitepaper §5.4: ChaCha20-Poly1305 per RFC 8439, nonce = 4 zero bytes ‖ counter u64 LE).
//! Single messages with associated data (handshake), and batches of transport packets sealed/opened in place.
const std = @import("std");
const impl = @import("chachapoly.zig");

pub const KEY_LEN = 32;
pub const TAG_LEN = 16;
pub const HEADER_LEN = 16; // transport header: type 4, 3 zero bytes, receiver u32, counter u64 (§5.4.6)

pub fn seal(key: *const [32]u8, counter: u64, pt: []const u8, ad: []const u8, out: [*]u8) void {
    impl.seal(key, counter, pt, ad, out[0..pt.len], out[pt.len..][0..16]);
}

/// Verifies the tag over `ct` (which ends with it) before writing any plaintext to `out`.
pub fn open(key: *const [32]u8, counter: u64, ct: []const u8, ad: []const u8, out: [*]u8) bool {
    if (ct.len < TAG_LEN) return false;
    const n = ct.len - TAG_LEN;
    return impl.open(key, counter, ct[0..n], ct[n..][0..16], ad, out[0..n]);
}

/// Checks that every packet lies inside `buf` and names an existing key, before touching anything.
/// `extra` = bytes past the payload the packet needs (the tag when sealing). Returns the first bad index.
fn firstOutOfBounds(n: u32, buf_len: usize, offs: [*]const u32, lens: [*]const u32, extra: usize, nkeys: u32, key_idx: [*]const u16) ?u32 {
    var i: u32 = 0;
    while (i < n) : (i += 1) {
        const end = @as(usize, offs[i]) + HEADER_LEN + @as(usize, lens[i]) + extra;
        if (end > buf_len or key_idx[i] >= nkeys) return i;
    }
    return null;
}

/// Seals packets in place; returns 0, or -(i+1) for the first packet i that does not fit in `buf` (nothing sealed then).
pub fn sealTransport(n: u32, buf: [*]u8, buf_len: usize, offs: [*]const u32, lens: [*]const u32, keys: [*]const u8, nkeys: u32, key_idx: [*]const u16) i32 {
    if (firstOutOfBounds(n, buf_len, offs, lens, TAG_LEN, nkeys, key_idx)) |i| return -@as(i32, @intCast(i)) - 1;
    var i: u32 = 0;
    while (i < n) : (i += 1) {
        const p = buf + offs[i];
        const counter = std.mem.readInt(u64, p[8..16], .little);
        const key = keys[@as(usize, key_idx[i]) * 32 ..][0..32];
        const len = lens[i];
        const payload = p[HEADER_LEN..][0..len];
        impl.seal(key, counter, payload, &.{}, payload, p[HEADER_LEN + len ..][0..16]);
    }
    return 0;
}

/// Opens packets in place; ok[i] = 1 when packet i verified (plaintext now in place), else 0 and its
/// bytes are left as they were. Returns 0, or -(i+1) for the first packet outside `buf` (nothing opened then).
pub fn openTransport(n: u32, buf: [*]u8, buf_len: usize, offs: [*]const u32, lens: [*]const u32, keys: [*]const u8, nkeys: u32, key_idx: [*]const u16, ok: [*]u8) i32 {
    if (firstOutOfBounds(n, buf_len, offs, lens, 0, nkeys, key_idx)) |i| return -@as(i32, @intCast(i)) - 1;
    var i: u32 = 0;
    while (i < n) : (i += 1) {
        const len = lens[i];
        if (len < TAG_LEN) {
            ok[i] = 0;
            continue;
        }
        const p = buf + offs[i];
        const counter = std.mem.readInt(u64, p[8..16], .little);
        const key = keys[@as(usize, key_idx[i]) * 32 ..][0..32];
        const m = len - TAG_LEN;
        const payload = p[HEADER_LEN..][0..m];
        ok[i] = @intFromBool(impl.open(key, counter, payload, p[HEADER_LEN + m ..][0..16], &.{}, payload));
    }
    return 0;
}
