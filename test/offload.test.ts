// TUN offloads (zig/src/offload.zig). Unit tests of splitting and coalescing through the library's pure entry points,
// checked byte by byte against packets built here with an independent checksum; then a live test: two offload
// TUNs in two namespaces of our own, bridged by a forwarder in this process, carrying an iperf3 TCP stream whose
// bytes are compared end to end, and the same without offload.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { loadNative } from "../src/native/lib.ts";
import { Tun } from "../src/device/tun.ts";
import { run, waitFor } from "./support/process.ts";
import { isRoot, uniqueTag } from "./support/programs.ts";
import { Scope } from "./support/scope.ts";

const sym = loadNative().sym;

const FIN = 0x01, PSH = 0x08, ACK = 0x10, CWR = 0x80;
const GSO_TCPV4 = 1, GSO_TCPV6 = 4, GSO_UDP_L4 = 5;

// ---- an independent packet model (RFC 1071 checksums over big-endian words) ----

function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += (p[i] << 8) | (p[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

interface Flow { v6: boolean; src: number[]; dst: number[]; sport: number; dport: number }
const flow4: Flow = { v6: false, src: [10, 1, 2, 3], dst: [10, 4, 5, 6], sport: 40000, dport: 5201 };
const flow6: Flow = {
  v6: true, src: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], dst: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
  sport: 40001, dport: 5201,
};

function pseudo(f: Flow, proto: number, l4len: number): Uint8Array {
  if (!f.v6) return new Uint8Array([...f.src, ...f.dst, 0, proto, l4len >> 8, l4len & 0xff]);
  return new Uint8Array([...f.src, ...f.dst, 0, 0, l4len >> 8, l4len & 0xff, 0, 0, 0, proto]);
}

interface Seg { seq?: number; ack?: number; flags?: number; win?: number; opts?: Uint8Array; payload: Uint8Array; id?: number; ttl?: number }

/** An IP header for the flow, l4len bytes of transport after it. */
function ipHeader(f: Flow, proto: number, l4len: number, id: number, ttl: number): Uint8Array {
  if (f.v6) {
    const h = new Uint8Array(40);
    h[0] = 0x60;
    h[4] = l4len >> 8; h[5] = l4len & 0xff;
    h[6] = proto; h[7] = ttl;
    h.set(f.src, 8); h.set(f.dst, 24);
    return h;
  }
  const h = new Uint8Array(20);
  const dv = new DataView(h.buffer);
  h[0] = 0x45;
  dv.setUint16(2, 20 + l4len);
  dv.setUint16(4, id & 0xffff);
  dv.setUint16(6, 0x4000); // DF
  h[8] = ttl; h[9] = proto;
  h.set(f.src, 12); h.set(f.dst, 16);
  dv.setUint16(10, checksum(h));
  return h;
}

function tcp(f: Flow, s: Seg): Uint8Array {
  const opts = s.opts ?? new Uint8Array(0);
  const thl = 20 + opts.length;
  const t = new Uint8Array(thl + s.payload.length);
  const dv = new DataView(t.buffer);
  dv.setUint16(0, f.sport); dv.setUint16(2, f.dport);
  dv.setUint32(4, (s.seq ?? 1000) >>> 0); dv.setUint32(8, (s.ack ?? 777) >>> 0);
  t[12] = (thl / 4) << 4; t[13] = s.flags ?? ACK;
  dv.setUint16(14, s.win ?? 512);
  t.set(opts, 20); t.set(s.payload, thl);
  dv.setUint16(16, checksum(pseudo(f, 6, t.length), t));
  const ip = ipHeader(f, 6, t.length, s.id ?? 0x1234, s.ttl ?? 64);
  return concat(ip, t);
}

function udp(f: Flow, payload: Uint8Array, id = 0x4321): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  const dv = new DataView(u.buffer);
  dv.setUint16(0, f.sport); dv.setUint16(2, f.dport); dv.setUint16(4, u.length);
  u.set(payload, 8);
  const c = checksum(pseudo(f, 17, u.length), u);
  dv.setUint16(6, c === 0 ? 0xffff : c);
  return concat(ipHeader(f, 17, u.length, id, 64), u);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** virtio_net_hdr, little-endian u16s as on x86-64. */
function vnet(flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): Uint8Array {
  const h = new Uint8Array(10);
  const dv = new DataView(h.buffer);
  h[0] = flags; h[1] = gsoType;
  dv.setUint16(2, hdrLen, true); dv.setUint16(4, gsoSize, true); dv.setUint16(6, csumStart, true); dv.setUint16(8, csumOffset, true);
  return h;
}

/** Replaces the transport checksum by the pseudo-header sum, as the kernel hands over a CHECKSUM_PARTIAL packet. */
function partial(pkt: Uint8Array, f: Flow, proto: number, l4: number): Uint8Array {
  const p = pkt.slice();
  const field = l4 + (proto === 6 ? 16 : 6);
  const v = ~checksum(pseudo(f, proto, p.length - l4)) & 0xffff;
  p[field] = v >> 8; p[field + 1] = v & 0xff;
  return p;
}

const l4Of = (f: Flow) => (f.v6 ? 40 : 20);
const tsOpt = new Uint8Array([1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]); // NOP NOP timestamps
const pattern = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed + (i >> 8)) & 0xff);

/** Calls the library's split; returns the packets. */
function split(readBuf: Uint8Array, max = 64, stride = 2048): Uint8Array[] {
  const out = new Uint8Array(max * stride);
  const lens = new Uint32Array(max);
  const n = sym.bunwg_offload_split(readBuf, readBuf.length, out, stride, lens, max);
  if (n < 0) throw new Error(`split returned ${n}`);
  return Array.from({ length: n }, (_, i) => out.slice(i * stride, i * stride + lens[i]));
}

/** Calls the library's coalescer on packets placed at odd offsets; returns what would be written (header + packet). */
function coalesce(pkts: Uint8Array[]): Uint8Array[] {
  const offs = new Uint32Array(pkts.length);
  const lens = new Uint32Array(pkts.length);
  let o = 3;
  for (let i = 0; i < pkts.length; i++) { offs[i] = o; lens[i] = pkts[i].length; o += pkts[i].length + 5; }
  const buf = new Uint8Array(o);
  pkts.forEach((p, i) => buf.set(p, offs[i]));
  const cap = o + pkts.length * 10 + 1024;
  const out = new Uint8Array(cap);
  const oo = new Uint32Array(pkts.length), ol = new Uint32Array(pkts.length);
  const n = sym.bunwg_offload_coalesce(buf, offs, lens, pkts.length, out, cap, oo, ol, pkts.length);
  if (n < 0) throw new Error(`coalesce returned ${n}`);
  return Array.from({ length: n }, (_, i) => out.slice(oo[i], oo[i] + ol[i]));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The segments a kernel would produce from one super-packet: the expected output of split. */
function expectedTcpSegments(f: Flow, s: Seg, mss: number): Uint8Array[] {
  const n = Math.max(1, Math.ceil(s.payload.length / mss));
  return Array.from({ length: n }, (_, k) => {
    let flags = s.flags ?? ACK;
    if (k < n - 1) flags &= ~(FIN | PSH);
    if (k > 0) flags &= ~CWR;
    return tcp(f, { ...s, seq: ((s.seq ?? 1000) + k * mss) >>> 0, id: ((s.id ?? 0x1234) + k) & 0xffff, flags,
      payload: s.payload.subarray(k * mss, (k + 1) * mss) });
  });
}

function tcpSuper(f: Flow, s: Seg, mss: number): Uint8Array {
  const whole = tcp(f, s);
  const l4 = l4Of(f);
  const hl = l4 + 20 + (s.opts?.length ?? 0);
  return concat(vnet(1, f.v6 ? GSO_TCPV6 : GSO_TCPV4, hl, mss, l4, 16), partial(whole, f, 6, l4));
}

/** Checks one packet's IP header and transport checksum independently of the byte comparison. */
function verify(p: Uint8Array, f: Flow, proto: number): void {
  const l4 = l4Of(f);
  if (!f.v6) {
    expect(checksum(p.subarray(0, 20))).toBe(0);
    expect((p[2] << 8) | p[3]).toBe(p.length);
  } else expect(((p[4] << 8) | p[5]) + 40).toBe(p.length);
  expect(checksum(pseudo(f, proto, p.length - l4), p.subarray(l4))).toBe(0);
}

describe("offload: splitting super-packets (read path)", () => {
  for (const f of [flow4, flow6]) {
    const v = f.v6 ? "IPv6" : "IPv4";
    test(`TCP/${v}: segments like the kernel's, every header and checksum byte for byte`, () => {
      const mss = 1388;
      const s: Seg = { seq: 0xfffff000, ack: 0x01020304, flags: ACK | PSH | FIN | CWR, opts: tsOpt, payload: pattern(20_000, f.v6 ? 1 : 0), id: 0xfffe };
      const got = split(tcpSuper(f, s, mss));
      const want = expectedTcpSegments(f, s, mss);
      expect(got.length).toBe(Math.ceil(20_000 / mss));
      for (let k = 0; k < want.length; k++) {
        verify(got[k], f, 6);
        expect(hex(got[k])).toBe(hex(want[k]));
      }
      // sequence numbers wrapped, ids wrapped, flags: CWR only first, FIN|PSH only last
      const l4 = l4Of(f);
      expect(got[0][l4 + 13]).toBe(ACK | CWR);
      expect(got[1][l4 + 13]).toBe(ACK);
      expect(got.at(-1)![l4 + 13]).toBe(ACK | PSH | FIN);
    });

    test(`UDP/${v} (USO): datagrams with lengths and checksums`, () => {
      const size = 1200;
      const payload = pattern(5000, 3);
      const whole = udp(f, payload, 0x0100);
      const l4 = l4Of(f);
      const got = split(concat(vnet(1, GSO_UDP_L4, l4 + 8, size, l4, 6), partial(whole, f, 17, l4)));
      expect(got.length).toBe(5);
      for (let k = 0; k < got.length; k++) {
        verify(got[k], f, 17);
        expect(hex(got[k])).toBe(hex(udp(f, payload.subarray(k * size, (k + 1) * size), 0x0100 + k)));
      }
    });

    test(`${v}: a single packet with a partial checksum is completed, one without is untouched`, () => {
      const l4 = l4Of(f);
      const t = tcp(f, { payload: pattern(333), flags: ACK | PSH });
      expect(hex(split(concat(vnet(1, 0, 0, 0, l4, 16), partial(t, f, 6, l4)))[0])).toBe(hex(t));
      const u = udp(f, pattern(101, 9));
      expect(hex(split(concat(vnet(1, 0, 0, 0, l4, 6), partial(u, f, 17, l4)))[0])).toBe(hex(u));
      expect(hex(split(concat(vnet(0, 0, 0, 0, 0, 0), t))[0])).toBe(hex(t));
    });
  }

  test("malformed super-packets are refused, not split", () => {
    const s = tcpSuper(flow4, { payload: pattern(3000) }, 1000);
    const bad = (mut: (p: Uint8Array) => void) => {
      const p = s.slice();
      mut(p);
      const out = new Uint8Array(8 * 2048);
      return sym.bunwg_offload_split(p, p.length, out, 2048, new Uint32Array(8), 8);
    };
    expect(bad(() => {})).toBe(3);
    expect(bad((p) => { p[4] = 0; p[5] = 0; })).toBeLessThan(0); // gso_size 0
    expect(bad((p) => { p[1] = GSO_TCPV6; })).toBeLessThan(0); // IPv4 packet, IPv6 type
    expect(bad((p) => { p[6] = 24; })).toBeLessThan(0); // csum_start not the IPv4 header length
    expect(bad((p) => { p[10 + 20 + 12] = 0x40; })).toBeLessThan(0); // TCP data offset < 5
    expect(bad((p) => { p[4] = 100; p[5] = 0; })).toBeLessThan(0); // 30 segments > max 8
  });
});

describe("offload: coalescing segments (write path)", () => {
  for (const f of [flow4, flow6]) {
    const v = f.v6 ? "IPv6" : "IPv4";
    test(`TCP/${v}: one flow becomes one super-packet, and splitting it gives the segments back`, () => {
      const mss = 1368;
      const payload = pattern(mss * 20 + 500, 5);
      const segs = expectedTcpSegments(f, { seq: 0xffffff00, ack: 99, flags: ACK | PSH, opts: tsOpt, payload, id: 7 }, mss);
      const out = coalesce(segs);
      expect(out.length).toBe(1);
      const o = out[0];
      const dv = new DataView(o.buffer, o.byteOffset);
      const l4 = l4Of(f), hl = l4 + 32;
      expect([o[0], o[1], dv.getUint16(2, true), dv.getUint16(4, true), dv.getUint16(6, true), dv.getUint16(8, true)])
        .toEqual([1, f.v6 ? GSO_TCPV6 : GSO_TCPV4, hl, mss, l4, 16]);
      const p = o.subarray(10);
      expect(p.length).toBe(hl + payload.length);
      if (!f.v6) expect(checksum(p.subarray(0, 20))).toBe(0);
      expect(hex(p.subarray(hl))).toBe(hex(payload));
      expect(p[l4 + 13]).toBe(ACK | PSH);
      // the checksum field holds the pseudo-header sum for the whole length (NEEDS_CSUM)
      expect((p[l4 + 16] << 8) | p[l4 + 17]).toBe(~checksum(pseudo(f, 6, p.length - l4)) & 0xffff);
      const back = split(o);
      expect(back.length).toBe(segs.length);
      for (let k = 0; k < segs.length; k++) expect(hex(back[k])).toBe(hex(segs[k]));
    });
  }

  test("flows interleave, other packets pass unchanged, order within each flow is kept", () => {
    const fa = flow4, fb = { ...flow4, sport: 40002 };
    const A = expectedTcpSegments(fa, { seq: 1, payload: pattern(1000 * 6), flags: ACK }, 1000);
    const B = expectedTcpSegments(fb, { seq: 5, payload: pattern(900 * 2), flags: ACK }, 900);
    const U = udp(fa, pattern(50));
    const A3psh = A[3].slice();
    A3psh[20 + 13] = ACK | PSH;
    const fix = (p: Uint8Array) => { p[36] = 0; p[37] = 0; const c = checksum(pseudo(fa, 6, p.length - 20), p.subarray(20)); p[36] = c >> 8; p[37] = c & 0xff; return p; };
    fix(A3psh);
    const input = [A[0], A[1], B[0], A[2], U, B[1], A3psh, A[4], A[5]];
    const out = coalesce(input);
    // [A0..A3 ending with PSH] at A0's place, [B0 B1] at B0's, U, then A4+A5 as a new super-packet
    expect(out.length).toBe(4);
    expect(split(out[0]).map(hex)).toEqual([A[0], A[1], A[2], A3psh].map(hex));
    expect(split(out[1]).map(hex)).toEqual([B[0], B[1]].map(hex));
    expect(hex(out[2])).toBe(hex(concat(new Uint8Array(10), U)));
    expect(split(out[3]).map(hex)).toEqual([A[4], A[5]].map(hex));
  });

  test("a corrupt segment, a gap, a changed ACK or options break a run and pass through unchanged", () => {
    const f = flow6;
    const S = expectedTcpSegments(f, { seq: 100, payload: pattern(700 * 8), flags: ACK, opts: tsOpt }, 700);
    const corrupt = S[2].slice();
    corrupt[40 + 32 + 9] ^= 1; // payload bit flip, checksum now wrong
    const ackChanged = tcp(f, { seq: 100 + 700 * 5, ack: 778, payload: pattern(700 * 8).subarray(700 * 5, 700 * 6), opts: tsOpt, flags: ACK });
    const input = [S[0], S[1], corrupt, S[3], S[4], ackChanged, S[7]];
    const out = coalesce(input);
    const zero = (p: Uint8Array) => hex(concat(new Uint8Array(10), p));
    expect(out.length).toBe(5);
    expect(split(out[0]).map(hex)).toEqual([S[0], S[1]].map(hex));
    expect(hex(out[1])).toBe(zero(corrupt));
    expect(split(out[2]).map(hex)).toEqual([S[3], S[4]].map(hex));
    expect(hex(out[3])).toBe(zero(ackChanged));
    expect(hex(out[4])).toBe(zero(S[7])); // seq gap after ackChanged: alone
  });

  test("a super-packet stays within 64 KiB", () => {
    const mss = 1400;
    const payload = pattern(mss * 60, 2);
    const segs = expectedTcpSegments(flow4, { seq: 1, payload, flags: ACK }, mss);
    const out = coalesce(segs);
    expect(out.length).toBe(2);
    for (const o of out) expect(o.length - 10).toBeLessThanOrEqual(65535);
    expect(out.flatMap((o) => split(o)).map(hex)).toEqual(segs.map(hex));
  });
});

describe("offload: a read's reported length is checked before anything is copied", () => {
  // What the read path makes of one TUN read (zig/src/offload.zig takeRead), fed with the length a kernel read
  // reported: a length beyond the buffer the packet was read into must drop the read, not be copied or split.
  const t = sym.bunwg_tun_offload_new(-1, 0);
  afterAll(() => sym.bunwg_tun_offload_free(t));
  const DIRECT = 65664; // the send path's stride (src/device/batch.ts): large enough to be read into directly
  const take = (hdr: Uint8Array, pkt: Uint8Array, stride: number, reported: number): number => {
    const area = new Uint8Array(3 * 65664); // the slot with room behind it, as in a batch buffer
    area.set(pkt);
    return sym.bunwg_offload_take_read(t, hdr, area, stride, 10 + reported);
  };
  const plain = tcp(flow4, { payload: pattern(1000), flags: ACK });
  const sup = tcpSuper(flow4, { payload: pattern(3000) }, 1000);
  const supHdr = sup.subarray(0, 10), supPkt = sup.subarray(10);

  test("reads that fit: a plain packet is kept, a super-packet is split", () => {
    expect(take(vnet(0, 0, 0, 0, 0, 0), plain, DIRECT, plain.length)).toBe(plain.length);
    expect(take(vnet(0, 0, 0, 0, 0, 0), plain, 2048, plain.length)).toBe(plain.length);
    expect(take(supHdr, supPkt, DIRECT, supPkt.length)).toBe(0x10000 + 3);
    expect(take(supHdr, supPkt, 2048, supPkt.length)).toBe(0x10000 + 3);
  });

  test("a length beyond the slot read into directly is dropped", () => {
    expect(take(vnet(0, 0, 0, 0, 0, 0), plain, DIRECT, DIRECT + 100)).toBe(-1);
  });

  test("a super-packet longer than the split buffer (64 KiB) is dropped, not copied into it", () => {
    // The longest IPv6 packet without a jumbogram: 40 + 65,535 bytes, 40 more than the split buffer holds.
    const big = tcpSuper(flow6, { payload: pattern(65535 - 20) }, 1388);
    expect(big.length - 10).toBe(65575);
    expect(take(big.subarray(0, 10), big.subarray(10), DIRECT, big.length - 10)).toBe(-1);
    expect(take(supHdr, supPkt, DIRECT, 65600)).toBe(-1);
  });
});

// ---- live: two offload TUNs bridged in-process ----

interface Stats { packets: number; maxLen: number; taken: number }
interface Bridge { a: Tun; b: Tun; nsA: string; nsB: string; v4B: string; v6B: string; ab: Stats; ba: Stats; stop(): void }

const STRIDE = 65664, SLOTS = 64;

async function bridge(scope: Scope, offload: boolean, mtu = 1420): Promise<Bridge> {
  const t = uniqueTag();
  const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
  const nsA = await scope.netns(`bwo${t}a`), nsB = await scope.netns(`bwo${t}b`);
  const a = Tun.create(`bwo${t}a`, { mtu, offload });
  scope.add(() => a.close());
  const b = Tun.create(`bwo${t}b`, { mtu, offload });
  scope.add(() => b.close());
  const v4A = `10.${n}.${m}.1`, v4B = `10.${n}.${m}.2`, v6A = `fd00:${n}:${m}::1`, v6B = `fd00:${n}:${m}::2`;
  for (const [tun, ns, v4, v6] of [[a, nsA, v4A, v6A], [b, nsB, v4B, v6B]] as const) {
    await run(["ip", "link", "set", tun.name, "netns", ns]);
    await run(["ip", "-n", ns, "addr", "add", `${v4}/24`, "dev", tun.name]);
    await run(["ip", "-n", ns, "addr", "add", `${v6}/64`, "dev", tun.name, "nodad"]);
    await run(["ip", "-n", ns, "link", "set", tun.name, "up"]);
  }
  const ab: Stats = { packets: 0, maxLen: 0, taken: 0 }, ba: Stats = { packets: 0, maxLen: 0, taken: 0 };
  const buf = new Uint8Array(SLOTS * STRIDE);
  const lens = new Uint32Array(SLOTS);
  const offs = Uint32Array.from({ length: SLOTS }, (_, i) => i * STRIDE);
  let stopped = false;
  const forward = (from: Tun, to: Tun, stats: Stats) => () => {
    if (stopped) return;
    for (let k = from.readBatch(buf, STRIDE, lens, SLOTS); k > 0; k = from.readBatch(buf, STRIDE, lens, SLOTS)) {
      stats.packets += k;
      for (let i = 0; i < k; i++) if (lens[i] > stats.maxLen) stats.maxLen = lens[i];
      stats.taken += to.writeBatch(buf, offs, lens, k);
    }
    from.rearm();
  };
  a.onReadable(forward(a, b, ab));
  b.onReadable(forward(b, a, ba));
  return { a, b, nsA, nsB, v4B, v6B, ab, ba, stop: () => { stopped = true; } };
}

/** iperf3 from A to B for `seconds`: what the receiver counted. */
async function iperf(br: Bridge, seconds = 2): Promise<{ sent: number; received: number; bps: number }> {
  const server = Bun.spawn(["ip", "netns", "exec", br.nsB, "iperf3", "-s", "-1", "-B", br.v4B], { stdout: "ignore", stderr: "ignore" });
  try {
    await waitFor("iperf3 server", async () => (await run(["ss", "-N", br.nsB, "-tln", "sport = 5201"], { check: false })).stdout.includes("5201"), 5000);
    const r = await run(["ip", "netns", "exec", br.nsA, "iperf3", "-c", br.v4B, "-t", String(seconds), "-J"], { timeoutMs: (seconds + 20) * 1000 });
    const end = JSON.parse(r.stdout).end;
    return { sent: end.sum_sent.bytes, received: end.sum_received.bytes, bps: end.sum_received.bits_per_second };
  } finally {
    server.kill();
  }
}

// iperf3 (3.12) cannot check contents (its -F mode loses data even on loopback), so a file goes through a plain
// TCP connection between two Bun processes, one in each namespace, and the receiver reports length and SHA-256.
const RECEIVER = `const net = require("node:net"), h = require("node:crypto").createHash("sha256"); let n = 0;
net.createServer((c) => { c.on("data", (d) => { n += d.length; h.update(d); });
  c.on("end", () => { console.log(JSON.stringify({ n, sha: h.digest("hex") })); process.exit(0); }); })
  .listen(Number(process.argv[2]), process.argv[1], () => console.log("ready"));
setTimeout(() => process.exit(3), 30000);`;
const SENDER = `const s = require("node:net").connect(Number(process.argv[2]), process.argv[1], () => require("node:fs").createReadStream(process.argv[3]).pipe(s));
s.on("close", () => process.exit(0)); s.on("error", (e) => { console.error(e.message); process.exit(2); });`;

async function transfer(br: Bridge, file: string, v6: boolean): Promise<{ n: number; sha: string }> {
  const dst = v6 ? br.v6B : br.v4B;
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const rx = Bun.spawn(["ip", "netns", "exec", br.nsB, process.execPath, "-e", RECEIVER, dst, port], { stdout: "pipe", stderr: "pipe" });
  try {
    const reader = rx.stdout.getReader();
    let text = "";
    const readMore = async () => {
      const { value, done } = await reader.read();
      if (done) throw new Error(`receiver exited: ${await new Response(rx.stderr).text()}`);
      text += new TextDecoder().decode(value);
    };
    while (!text.includes("ready")) await readMore();
    await run(["ip", "netns", "exec", br.nsA, process.execPath, "-e", SENDER, dst, port, file], { timeoutMs: 30_000 });
    while (!text.includes("}")) await Promise.race([readMore(), Bun.sleep(30_000).then(() => { throw new Error("receiver did not report"); })]);
    return JSON.parse(text.slice(text.indexOf("{")));
  } finally {
    rx.kill();
  }
}

async function linkPackets(ns: string, dev: string, dir: "rx" | "tx"): Promise<number> {
  const j = JSON.parse((await run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev])).stdout);
  return j[0].stats64[dir].packets as number;
}

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe.skipIf(!isRoot)("offload: live TUNs (root)", () => {
  if (!isRoot) console.log("offload.test.ts: live tests skipped: need root (TUN devices, namespaces)");
  const scope = new Scope();
  afterAll(() => scope.close());

  test("TCP through two offload TUNs: a file arrives whole over IPv4 and IPv6, iperf3 runs, JS sees MTU-sized packets", async () => {
    const br = await bridge(scope, true);
    try {
      expect(br.a.offloads).toMatch(/^vnet,csum,tso4,tso6/);
      const file = `${scope.dir}/send`;
      const size = 48 * 1024 * 1024 + 12345;
      writeFileSync(file, randomBytes(size));
      const want = sha(file);
      for (const v6 of [false, true]) expect(await transfer(br, file, v6)).toEqual({ n: size, sha: want });
      const r = await iperf(br, 2);
      expect(r.received).toBeGreaterThan(r.sent * 0.9);
      // The kernel counts a super-packet as one packet: A's kernel handed over super-packets that JS saw split
      // into MTU-sized packets, and B's kernel received them coalesced again. Every packet read was written.
      const txA = await linkPackets(br.nsA, br.a.name, "tx"), rxB = await linkPackets(br.nsB, br.b.name, "rx");
      console.log(`  A→B: ${br.ab.packets} packets in JS, ${txA} from A's kernel, ${rxB} into B's kernel`);
      expect(br.ab.maxLen).toBeLessThanOrEqual(1420);
      expect(txA).toBeLessThan(br.ab.packets / 4);
      expect(rxB).toBeLessThan(br.ab.packets / 4);
      expect(br.ab.taken).toBe(br.ab.packets);
      expect(br.ba.taken).toBe(br.ba.packets);
    } finally {
      br.stop();
    }
  }, 60_000);

  test("a UDP GSO send arrives split (USO), one segment per wake-up: the poll thread fires while segments wait", async () => {
    const t = uniqueTag();
    const ns = await scope.netns(`bwo${t}u`);
    const tun = Tun.create(`bwo${t}u`, { mtu: 1420 });
    scope.add(() => tun.close());
    if (!tun.offloads.includes("uso4")) return console.log(`  skipped: no USO on this kernel (${tun.offloads})`);
    const n = parseInt(t.slice(0, 2), 16), m = parseInt(t.slice(2, 4), 16);
    const f: Flow = { v6: false, src: [10, n, m, 1], dst: [10, n, m, 2], sport: 0, dport: 9999 };
    await run(["ip", "link", "set", tun.name, "netns", ns]);
    await run(["ip", "-n", ns, "addr", "add", `${f.src.join(".")}/24`, "dev", tun.name]);
    await run(["ip", "-n", ns, "link", "set", tun.name, "up"]);
    const stride = 2048, buf = new Uint8Array(stride), lens = new Uint32Array(1);
    const got: Uint8Array[] = [];
    let wakes = 0;
    const done = new Promise<void>((resolve) => {
      tun.onReadable(() => {
        wakes++;
        // One packet per wake-up, then rearm without draining: what is left must wake us again.
        if (tun.readBatch(buf, stride, lens, 1) === 1) {
          const p = buf.slice(0, lens[0]);
          if (p[0] >> 4 === 4 && p[9] === 17 && ((p[22] << 8) | p[23]) === 9999) got.push(p);
          if (got.length === 10) return resolve();
        }
        tun.rearm();
      });
    });
    // UDP_SEGMENT (SOL_UDP 17, option 103): one send of 10 × 1000 bytes leaves the socket as one super-packet.
    await run(["ip", "netns", "exec", ns, "python3", "-c",
      `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(17, 103, 1000); ` +
      `s.sendto(bytes(i * 7 % 251 for i in range(10000)), ("${f.dst.join(".")}", 9999))`]);
    await Promise.race([done, Bun.sleep(5000).then(() => { throw new Error(`timed out with ${got.length} of 10 segments`); })]);
    const payload = Uint8Array.from({ length: 10000 }, (_, i) => (i * 7) % 251);
    const id = (got[0][4] << 8) | got[0][5];
    f.sport = (got[0][20] << 8) | got[0][21];
    for (let k = 0; k < 10; k++) {
      verify(got[k], f, 17);
      const want = udp(f, payload.subarray(k * 1000, (k + 1) * 1000), id + k);
      // Flags (DF), TTL and so the header checksum as the kernel chose them; verify() checked that checksum.
      for (const i of [6, 7, 8, 10, 11]) want[i] = got[k][i];
      expect(hex(got[k])).toBe(hex(want));
    }
    expect(wakes).toBeGreaterThanOrEqual(10);
  }, 30_000);

  test("a TUN without offload still works; TCP throughput with offload against without (same run)", async () => {
    const off = await bridge(scope, false);
    const on = await bridge(scope, true);
    try {
      expect(off.a.offloads).toBe("");
      const file = `${scope.dir}/send-small`;
      writeFileSync(file, randomBytes(4 * 1024 * 1024 + 7));
      expect(await transfer(off, file, false)).toEqual({ n: 4 * 1024 * 1024 + 7, sha: sha(file) });
      const base = await iperf(off, 2);
      const fast = await iperf(on, 2);
      console.log(`  bridge TCP: without offload ${(base.bps / 1e6).toFixed(0)} Mbit/s, with ${(fast.bps / 1e6).toFixed(0)} Mbit/s (×${(fast.bps / base.bps).toFixed(2)})`);
      expect(base.bps).toBeGreaterThan(10e6);
      expect(fast.bps).toBeGreaterThan(10e6);
    } finally {
      off.stop();
      on.stop();
    }
  }, 60_000);
});
