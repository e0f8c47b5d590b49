//! bunwg native library: the C ABI seen by bun:ffi (src/native/lib.ts). Flat functions over
//! caller-owned buffers; nothing here allocates on the packet path.
const std = @import("std");
const builtin = @import("builtin");
const tun = @import("tun.zig");
const poller = @import("poller.zig");
const aead = @import("aead.zig");
const chachapoly = @import("chachapoly.zig");
const poly_ifma = @import("poly1305_ifma.zig");
const offload = @import("offload.zig");
const xchacha = @import("xchacha.zig");

/// Bumped whenever an exported signature changes; lib.ts refuses a library with another value.
const ABI_VERSION: u32 = 1;

export fn bunwg_abi_version() callconv(.c) u32 {
    return ABI_VERSION;
}

/// Which CPU level this build targets, for Aead.backend.
export fn bunwg_variant() callconv(.c) [*:0]const u8 {
    // ARMv8-A always has NEON (Advanced SIMD); chacha20.zig's 4-lane vectors are NEON registers there.
    if (builtin.cpu.arch == .aarch64 and std.Target.aarch64.featureSetHas(builtin.cpu.features, .neon)) return "aarch64 (NEON)";
    if (builtin.cpu.arch != .x86_64) return @tagName(builtin.cpu.arch);
    const has = std.Target.x86.featureSetHas;
    const f = builtin.cpu.features;
    if (has(f, .avx512f) and has(f, .avx512vl)) return if (poly_ifma.enabled()) "x86-64-v4 (AVX-512, IFMA)" else "x86-64-v4 (AVX-512)";
    if (has(f, .avx2)) return "x86-64-v3 (AVX2)";
    return "x86-64 (baseline)";
}

/// Poly1305 on AVX-512 IFMA (chosen by CPUID in the v4 build): on = 0 turns it off, 1 back on where the CPU
/// has it, -1 only asks. Returns 1 when in use. For tests and benchmarks of both paths.
export fn bunwg_poly_ifma(on: i32) callconv(.c) i32 {
    if (on >= 0) poly_ifma.setEnabled(on == 1);
    return @intFromBool(poly_ifma.enabled());
}

// ---- TUN ----
export fn bunwg_tun_gone_code() callconv(.c) i32 {
    return tun.GONE;
}
export fn bunwg_tun_down_code() callconv(.c) i32 {
    return tun.DOWN;
}
export fn bunwg_tun_open(name: [*:0]const u8, flags: u32, mtu: u32, name_out: [*]u8) callconv(.c) i32 {
    return tun.open(name, @truncate(flags), mtu, name_out);
}
export fn bunwg_tun_set_mtu(name: [*:0]const u8, mtu: u32) callconv(.c) i32 {
    return tun.setMtu(name, mtu);
}
export fn bunwg_tun_get_mtu(name: [*:0]const u8) callconv(.c) i32 {
    return tun.getMtu(name);
}
export fn bunwg_tun_read_batch(fd: i32, buf: [*]u8, stride: u32, lens: [*]u32, max: u32) callconv(.c) i32 {
    return tun.readBatch(fd, buf, stride, lens, max);
}
export fn bunwg_tun_write_batch(fd: i32, buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: u32) callconv(.c) i32 {
    return tun.writeBatch(fd, buf, offs, lens, n);
}
export fn bunwg_tun_close(fd: i32) callconv(.c) i32 {
    return tun.close(fd);
}

// ---- poll thread ----
export fn bunwg_poller_start(fd: i32, cb: poller.Callback) callconv(.c) ?*poller.Poller {
    return poller.start(fd, cb);
}
export fn bunwg_poller_rearm(p: *poller.Poller) callconv(.c) void {
    poller.rearm(p);
}
export fn bunwg_poller_stop(p: *poller.Poller) callconv(.c) void {
    poller.stop(p);
}

// ---- TUN offloads (offload.zig): a TUN opened with IFF_VNET_HDR gets a state, used instead of the fd ----
/// Sets the virtio_net_hdr size and enables what the kernel accepts of `want` (TUN_F_*). Returns the flags
/// enabled, or -errno when the header could not be set up.
export fn bunwg_tun_offload_enable(fd: i32, want: u32) callconv(.c) i32 {
    return offload.enable(fd, want);
}
export fn bunwg_tun_offload_new(fd: i32, offloads: u32) callconv(.c) ?*offload.Tun {
    return offload.create(fd, offloads);
}
export fn bunwg_tun_offload_free(t: *offload.Tun) callconv(.c) void {
    offload.destroy(t);
}
export fn bunwg_tun_offload_read_batch(t: *offload.Tun, buf: [*]u8, stride: u32, lens: [*]u32, max: u32) callconv(.c) i32 {
    return offload.readBatch(t, buf, stride, lens, max);
}
export fn bunwg_tun_offload_write_batch(t: *offload.Tun, buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: u32) callconv(.c) i32 {
    return offload.writeBatch(t, buf, offs, lens, n);
}
/// The poll thread of an offload TUN also fires while split segments wait (rearm semantics unchanged).
export fn bunwg_poller_start_offload(t: *offload.Tun, cb: poller.Callback) callconv(.c) ?*poller.Poller {
    return poller.startWithPending(t.fd, cb, &t.pending);
}
/// Pure, for tests: split one read (header + packet) into packets at out[i*stride]; count or -errno.
export fn bunwg_offload_split(pkt: [*]u8, len: u32, out: [*]u8, stride: u32, lens: [*]u32, max: u32) callconv(.c) i32 {
    return offload.splitOne(pkt, len, out, stride, lens, max);
}
/// For tests: what readBatch makes of one read that reported rc bytes (see offload.takeReadForTest).
export fn bunwg_offload_take_read(t: *offload.Tun, vhdr: [*]const u8, slot: [*]u8, stride: u32, rc: u32) callconv(.c) i32 {
    return offload.takeReadForTest(t, vhdr, slot, stride, rc);
}
/// Pure, for tests: coalesce like a write, into out (header + packet each); output count or -errno.
export fn bunwg_offload_coalesce(buf: [*]const u8, offs: [*]const u32, lens: [*]const u32, n: u32, out: [*]u8, cap: u32, out_offs: [*]u32, out_lens: [*]u32, max_out: u32) callconv(.c) i32 {
    return offload.coalesceToMemory(buf, offs, lens, n, out, cap, out_offs, out_lens, max_out);
}

// ---- AEAD ----
export fn bunwg_aead_seal(key: [*]const u8, counter: u64, pt: [*]const u8, pt_len: u32, ad: [*]const u8, ad_len: u32, out: [*]u8) callconv(.c) void {
    aead.seal(key[0..32], counter, pt[0..pt_len], ad[0..ad_len], out);
}
/// 1 = verified (plaintext in out), 0 = rejected (out untouched).
export fn bunwg_aead_open(key: [*]const u8, counter: u64, ct: [*]const u8, ct_len: u32, ad: [*]const u8, ad_len: u32, out: [*]u8) callconv(.c) i32 {
    return @intFromBool(aead.open(key[0..32], counter, ct[0..ct_len], ad[0..ad_len], out));
}
/// RFC 8439 with an arbitrary 96-bit nonce (not WireGuard's); for the RFC's test vectors.
export fn bunwg_chachapoly_seal(key: [*]const u8, nonce: [*]const u8, pt: [*]const u8, pt_len: u32, ad: [*]const u8, ad_len: u32, out: [*]u8) callconv(.c) void {
    const p = chachapoly.nonceParams(key[0..32], nonce[0..12]);
    chachapoly.sealParams(&p, pt[0..pt_len], ad[0..ad_len], out[0..pt_len], out[pt_len..][0..16]);
}
export fn bunwg_chachapoly_open(key: [*]const u8, nonce: [*]const u8, ct: [*]const u8, ct_len: u32, ad: [*]const u8, ad_len: u32, out: [*]u8) callconv(.c) i32 {
    if (ct_len < 16) return 0;
    const p = chachapoly.nonceParams(key[0..32], nonce[0..12]);
    const n = ct_len - 16;
    return @intFromBool(chachapoly.openParams(&p, ct[0..n], ct[n..][0..16], ad[0..ad_len], out[0..n]));
}
/// XChaCha20-Poly1305 (xchacha.zig), for cookie replies: out gets pt_len + 16 bytes (ciphertext ‖ tag).
export fn bunwg_xchacha_seal(key: [*]const u8, nonce: [*]const u8, pt: [*]const u8, pt_len: u32, ad: [*]const u8, ad_len: u32, out: [*]u8) callconv(.c) void {
    xchacha.seal(key[0..32], nonce[0..24], pt[0..pt_len], ad[0..ad_len], out);
}
/// 1 = verified (ct_len − 16 plaintext bytes in out), 0 = rejected (out holds no plaintext).
export fn bunwg_xchacha_open(key: [*]const u8, nonce: [*]const u8, ct: [*]const u8, ct_len: u32, ad: [*]const u8, ad_len: u32, out: [*]u8) callconv(.c) i32 {
    return @intFromBool(xchacha.open(key[0..32], nonce[0..24], ct[0..ct_len], ad[0..ad_len], out));
}
export fn bunwg_seal_transport(n: u32, buf: [*]u8, buf_len: u32, offs: [*]const u32, lens: [*]const u32, keys: [*]const u8, nkeys: u32, key_idx: [*]const u16) callconv(.c) i32 {
    return aead.sealTransport(n, buf, buf_len, offs, lens, keys, nkeys, key_idx);
}
export fn bunwg_open_transport(n: u32, buf: [*]u8, buf_len: u32, offs: [*]const u32, lens: [*]const u32, keys: [*]const u8, nkeys: u32, key_idx: [*]const u16, ok: [*]u8) callconv(.c) i32 {
    return aead.openTransport(n, buf, buf_len, offs, lens, keys, nkeys, key_idx, ok);
}

test {
    _ = @import("pool.zig");
    _ = @import("sessions.zig");
    _ = aead;
    _ = chachapoly;
    _ = xchacha;
    _ = @import("chacha20.zig");
    _ = @import("poly1305.zig");
    _ = poly_ifma;
    _ = offload;
}

// ---- UDP (udp.zig exports bunwg_udp_*; added by the lead) ----
comptime {
    _ = @import("udp.zig");
    _ = @import("route.zig");
    _ = @import("wait.zig");
    _ = @import("blake2s.zig");
    _ = @import("trim.zig"); // bunwg_release_pages: memory given back when quiet (src/device/trim.ts)
    _ = @import("pool.zig"); // bunwg_pool_*: the data plane's worker threads (issue #14, docs/threads.md)
    _ = @import("link.zig"); // bunwg_link_*: the interface's up/down state and MTU, in whichever namespace
}
