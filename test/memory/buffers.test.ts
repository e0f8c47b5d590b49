// Memory the data path and the peer set hold: send-path slots sized by the MTU and grown when a larger packet shows
// up; staged-packet storage only while packets wait; nothing of a removed peer kept alive (bench/RESULTS.md, "Memory").
import { afterEach, expect, test } from "bun:test";
import { nobleAead } from "../../src/crypto/aead.ts";
import { AllowedIps } from "../../src/device/allowedips.ts";
import { Device } from "../../src/device/device.ts";
import { Logger } from "../../src/device/log.ts";
import { StagedQueue } from "../../src/device/queue.ts";
import { keyToHex } from "../../src/text/codec.ts";
import { configure } from "../support/device.ts";
import { MemoryTun } from "../support/tuntest.ts";
import { ipv4 } from "../../src/device/warmup.ts";

/** A UDP packet from 10.7.0.1 to dst of `len` bytes, with a payload that is not all zeros. */
function udp4(dst: [number, number, number, number], len: number): Uint8Array {
  const p = ipv4([10, 7, 0, 1], dst, len, 17);
  for (let i = 20; i < len; i++) p[i] = i & 0xff;
  return p;
}

const devices: Device[] = [];
afterEach(() => { for (const d of devices.splice(0)) d.close(); });

function device(tun = new MemoryTun("mem0"), mtu = 1420): Device {
  const random = (out: Uint8Array) => { crypto.getRandomValues(out); };
  const dev = new Device(tun, nobleAead(), new Logger("mem0", "silent"), "silent", random, undefined, mtu);
  devices.push(dev);
  return dev;
}

const key = () => crypto.getRandomValues(new Uint8Array(32));

test("the send path's slots are sized by the MTU, not by the 64 KiB maximum", () => {
  const dev = device();
  // 128 slots for TUN reads and 128 for staged packets, each header + 1420 + padding + tag (≤ 1536 bytes).
  expect(dev.sender.bufferBytes).toBeLessThanOrEqual(2 * 128 * 1536 + 64);
  // …and sized by it from the start: a fresh device drops no first packet to grow them.
  expect(dev.sender.bufferBytes).toBeGreaterThanOrEqual(2 * 128 * (16 + 1420 + 16));
});

test("a packet larger than the slots (the MTU was raised) is dropped once, then the slots grow and it passes intact", () => {
  const tun = new MemoryTun("mem0");
  const dev = device(tun);
  const peerKey = key();
  configure(dev, [`private_key=${keyToHex(key())}`, `public_key=${keyToHex(peerKey)}`, "allowed_ip=10.7.0.0/24"]);
  const peer = dev.peers.get(keyToHex(peerKey))!;
  const big = udp4([10, 7, 0, 2], 9000);
  // No session yet: a packet that is read whole is staged for the handshake (§6.2), which makes it observable.
  tun.inject(big);
  dev.sender.drainTun();
  expect(peer.staged.length).toBe(0); // cut short by the 1420-byte slots: dropped, not sent truncated
  expect(dev.sender.bufferBytes).toBeGreaterThanOrEqual(2 * 128 * 9000);
  tun.inject(big, udp4([10, 7, 0, 3], 100));
  dev.sender.drainTun();
  const got: Uint8Array[] = [];
  peer.staged.drain((pkt, len) => got.push(pkt.slice(0, len)));
  expect(got.map((p) => p.length)).toEqual([9000, 100]);
  expect(got[0]).toEqual(big);
});

test("staged-packet storage exists only while packets wait", () => {
  const q = new StagedQueue();
  expect(q.storageBytes).toBe(0);
  const pkt = udp4([10, 7, 0, 2], 1400);
  for (let i = 0; i < 5; i++) q.push(pkt, 0, pkt.length);
  expect(q.storageBytes).toBeGreaterThan(5 * 1400);
  let n = 0;
  q.drain(() => n++);
  expect(n).toBe(5);
  expect(q.length).toBe(0);
  expect(q.storageBytes).toBe(0);
  q.push(pkt, 0, 100);
  q.clear();
  expect(q.storageBytes).toBe(0);
});

test("a packet staged again while the queue drains is kept, in a fresh queue", () => {
  const q = new StagedQueue();
  const pkt = udp4([10, 7, 0, 2], 200);
  q.push(pkt, 0, pkt.length);
  q.push(pkt, 0, 100);
  const seen: number[] = [];
  q.drain((p, len) => { seen.push(len); if (len === 100) q.push(p, 0, len); });
  expect(seen).toEqual([200, 100]);
  expect(q.length).toBe(1);
});

/** Whether `make` leaves its object collectable once `drop` ran (WeakRef after a full collection). */
function collected(ref: WeakRef<object>): boolean {
  Bun.gc(true);
  return ref.deref() === undefined;
}

test("the allowed-IPs table keeps nothing of a removed owner, also after its jump index was built", () => {
  const t = new AllowedIps<object>();
  const refs: WeakRef<object>[] = [];
  (() => {
    const owners = Array.from({ length: 1100 }, () => ({}));
    owners.forEach((o, i) => t.insert(new Uint8Array([10, i >> 8, i & 255, 0]), 24, o));
    const wide = {};
    t.insert(new Uint8Array([10, 0, 0, 0]), 8, wide); // shorter than 16 bits: remembered by the jump index
    expect(t.lookup(new Uint8Array([10, 200, 1, 1]))).toBe(wide); // builds the jump index (≥ 1024 prefixes)
    for (const o of [...owners, wide]) refs.push(new WeakRef(o)), t.removeValue(o);
  })();
  expect(t.size).toBe(0);
  expect(t.lookup(new Uint8Array([10, 200, 1, 1]))).toBeUndefined();
  expect(refs.filter((r) => !collected(r)).length).toBe(0);
}, 30_000); // a full collection per object: seconds on the large heap of a whole-suite run (5.5 s in CI)

test("a peer removed by configuration is not kept alive by the device", () => {
  const dev = device();
  const peerKey = key();
  configure(dev, [`private_key=${keyToHex(key())}`, `public_key=${keyToHex(peerKey)}`, "allowed_ip=10.7.0.0/24", "allowed_ip=fd07::/64",
    "endpoint=127.0.0.1:9", "persistent_keepalive_interval=25"]);
  const tun = dev.tun as MemoryTun;
  const ref = (() => {
    const peer = dev.peers.get(keyToHex(peerKey))!;
    tun.inject(udp4([10, 7, 0, 2], 300));
    dev.sender.drainTun(); // stages a packet and starts a handshake
    return new WeakRef(peer);
  })();
  configure(dev, [`public_key=${keyToHex(peerKey)}`, "remove=true"]);
  expect(dev.peers.size).toBe(0);
  expect(collected(ref)).toBe(true);
});

// In JSC every small typed array is an object plus its storage, several times its bytes; tens of thousands of
// configured, mostly idle peers multiply whatever one costs (bench/RESULTS.md, "Memory"). Counted on the heap, not
// timed: what a peer holds before it ever handshakes, and that removing the peers gives all of it back.
test("an idle configured peer holds a handful of typed arrays and objects; removing the peers gives them all back", () => {
  const { heapStats } = require("bun:jsc") as typeof import("bun:jsc");
  const TYPED = ["Uint8Array", "Uint16Array", "Uint32Array", "Float64Array", "ArrayBuffer"];
  const count = () => {
    Bun.gc(true);
    const s = heapStats();
    const types = s.objectTypeCounts as Record<string, number>;
    return { typed: TYPED.reduce((a, t) => a + (types[t] ?? 0), 0), objects: s.objectCount };
  };
  const dev = device();
  configure(dev, [`private_key=${keyToHex(key())}`]);
  const N = 2000;
  const idle = count();
  (() => {
    const lines: string[] = [];
    for (let i = 0; i < N; i++) lines.push(`public_key=${keyToHex(key())}`, `allowed_ip=10.${i >> 8}.${i & 255}.0/24`, `allowed_ip=fd00:${i.toString(16)}::/64`);
    configure(dev, lines);
  })();
  expect(dev.peers.size).toBe(N);
  const loaded = count();
  // Its key twice (configuration and protocol state), its other protocol bytes in one buffer, two prefixes'
  // addresses in the configuration: 5 (22 before the per-peer state was compacted).
  expect((loaded.typed - idle.typed) / N).toBeLessThanOrEqual(6);
  expect((loaded.objects - idle.objects) / N).toBeLessThanOrEqual(35); // 60 before
  configure(dev, ["replace_peers=true"]);
  expect(dev.peers.size).toBe(0);
  expect((count().objects - idle.objects) / N).toBeLessThan(0.5);
}, 30_000);
