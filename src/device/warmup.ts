// Warming the data path before the first real packet. Bun's JavaScriptCore runs a function in its interpreter and
// baseline tiers for its first few hundred to few thousand calls before the optimising compilers take over; a fresh
// daemon so handled its first ~150 pings at 5 ms intervals with single-packet drains of 150–800 µs against ~20 µs
// warm, which was most of the tail right after the first handshake (bench/RESULTS.md, "Latency tail"). Here the
// same classes that carry real traffic (Device, Sender, Receiver, the engine, the cryptokey table, the counters, the
// AEAD) move packets between two throw-away devices joined in memory — a handshake (§5.4), then transport packets
// both ways (§5.4.6) — so that the optimised code exists before traffic does. Nothing leaves the process; both
// devices are closed after.
import type { Aead } from "../crypto/aead.ts";
import { systemRandom } from "../crypto/suite.ts";
import { keyToHex } from "../text/codec.ts";
import { applySet } from "../uapi/set.ts";
import { Device, type DataPathOptions } from "./device.ts";
import { EP_SIZE, Endpoint } from "./endpoint.ts";
import type { TunDevice, UdpBind } from "./io.ts";
import { Logger } from "./log.ts";

/** Round trips run: with 3,000 the thread CPU of a daemon's first 400 real drains fell from a mean of 55–58 µs to
 *  39–40 (steady state 23–31; bench/RESULTS.md, "Latency tail"). Fewer were not compared. */
export const WARMUP_ROUND_TRIPS = 3000;
/** Longest run per event-loop turn (ms): warm-up never holds up configuration or real packets for longer. */
const SLICE_MS = 0.5;
/** Datagrams in flight per direction: more than a turn's batch (4 packets) ever leaves unread. */
const RING = 16;

/** Packets handed to a device's readBatch, round-robin from a few prepared ones. */
class WarmTun implements TunDevice {
  readonly fd = -1;
  onDownWrite: (() => void) | null = null;
  /** Packets waiting to be read: indices into `packets`. */
  private waiting = 0;
  private next = 0;
  written = 0;
  constructor(readonly name: string, private readonly packets: Uint8Array[]) {}
  inject(count: number): void { this.waiting += count; }
  readBatch(buf: Uint8Array, stride: number, lens: Uint32Array, max: number): number {
    const n = Math.min(max, this.waiting);
    for (let i = 0; i < n; i++) {
      const p = this.packets[this.next++ % this.packets.length];
      buf.set(p, i * stride);
      lens[i] = p.length;
    }
    this.waiting -= n;
    return n;
  }
  writeBatch(_buf: Uint8Array, _offs: Uint32Array, _lens: Uint32Array, n: number): number {
    this.written += n;
    return n;
  }
  onReadable(): void {}
  rearm(): void {}
  close(): void {}
}

/** One side of an in-memory wire: what it sends lands in the other side's queue, from this side's address. The
 *  queue is a ring of preallocated slots, so that warming leaves little garbage (and heap) behind. */
class WarmBind implements UdpBind {
  readonly fd = -1;
  other: WarmBind | null = null;
  readonly record: Uint8Array;
  private readonly slots: Uint8Array;
  private readonly lens = new Uint32Array(RING);
  private head = 0;
  private count = 0;
  constructor(readonly port: number, address: string, private readonly slotSize: number) {
    this.record = Endpoint.fromAddress(address, port, 4).rec.slice(0, EP_SIZE);
    this.slots = new Uint8Array(RING * slotSize);
  }
  recvBatch(buf: Uint8Array, stride: number, maxMsgs: number, offs: Uint32Array, lens: Uint32Array, eps: Uint8Array, maxPkts: number): number {
    const n = Math.min(maxMsgs, maxPkts, this.count);
    const from = this.other!.record;
    for (let i = 0; i < n; i++) {
      const at = this.head * this.slotSize, len = this.lens[this.head];
      buf.set(this.slots.subarray(at, at + len), i * stride);
      offs[i] = i * stride;
      lens[i] = len;
      eps.set(from, i * EP_SIZE);
      this.head = (this.head + 1) % RING;
    }
    this.count -= n;
    return n;
  }
  private push(bytes: Uint8Array): boolean {
    if (this.count === RING || bytes.length > this.slotSize) return false;
    const slot = (this.head + this.count) % RING;
    this.slots.set(bytes, slot * this.slotSize);
    this.lens[slot] = bytes.length;
    this.count++;
    return true;
  }
  sendBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, _eps: Uint8Array, n: number): number {
    for (let i = 0; i < n; i++) this.other!.push(buf.subarray(offs[i], offs[i] + lens[i]));
    return n;
  }
  sendBytes(bytes: Uint8Array): boolean {
    return this.other!.push(bytes);
  }
  setFwmark(): void {}
  onReadable(): void {}
  rearm(): void {}
  close(): void {}
}

/** An IPv4 packet from src to dst of `len` bytes, zero after its header (the data path reads only the IP header);
 *  ICMP unless `protocol` says otherwise. */
export function ipv4(src: number[], dst: number[], len: number, protocol = 1): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[2] = len >>> 8;
  p[3] = len & 0xff;
  p[8] = 64;
  p[9] = protocol;
  p.set(src, 12);
  p.set(dst, 16);
  return p;
}

const key = () => crypto.getRandomValues(new Uint8Array(32));

export type WarmUpResult = { roundTrips: number; delivered: number; ms: number };

/**
 * Moves `roundTrips` request/reply pairs through two in-memory devices built like the real one (same AEAD, same
 * data-path options and MTU), in event-loop turns of at most SLICE_MS. Resolves with what was delivered (both ways), or
 * rejects when the devices could not talk (the data path is broken: the caller logs it; traffic is unaffected).
 * `stop()` returning true ends it early (the daemon is stopping).
 */
export async function warmUp(aead: Aead, options: DataPathOptions, mtu: number, roundTrips = WARMUP_ROUND_TRIPS,
                             stop: () => boolean = () => false): Promise<WarmUpResult> {
  const t0 = performance.now();
  const log = new Logger("warmup", "silent");
  const aAddr = [10, 255, 0, 1], bAddr = [10, 255, 0, 2];
  // Small packets (what a latency probe sends) and full-size ones (bulk transfer), so both sizes' paths warm.
  const tunA = new WarmTun("warmup-a", [ipv4(aAddr, bAddr, 84), ipv4(aAddr, bAddr, mtu), ipv4(aAddr, bAddr, 84)]);
  const tunB = new WarmTun("warmup-b", [ipv4(bAddr, aAddr, 84), ipv4(bAddr, aAddr, 52), ipv4(bAddr, aAddr, mtu)]);
  // A transport datagram is the padded packet plus 32 bytes (§5.4.6); handshake messages are smaller.
  const slot = mtu + 64;
  const bindA = new WarmBind(1, "127.0.0.1", slot), bindB = new WarmBind(2, "127.0.0.2", slot);
  bindA.other = bindB;
  bindB.other = bindA;
  const opts = { ...options, pump: false };
  const a = new Device(tunA, aead, log, "silent", systemRandom, opts, mtu);
  const b = new Device(tunB, aead, log, "silent", systemRandom, opts, mtu);
  a.openBind = () => bindA;
  b.openBind = () => bindB;
  try {
    const ka = key(), kb = key();
    const configure = (dev: Device, priv: Uint8Array, port: number, peerPriv: Uint8Array, peerPort: number, peerAddr: string, allowed: string) => {
      const lines = [`private_key=${keyToHex(priv)}`, `listen_port=${port}`, `public_key=${keyToHex(dev.engine.publicKeyOf(peerPriv))}`,
        `endpoint=${peerAddr}:${peerPort}`, `allowed_ip=${allowed}`];
      const set = applySet(dev.config, lines, { derivePublicKey: (k) => dev.engine.publicKeyOf(k) });
      if (!set.ok) throw new Error(`warm-up: configuration refused: ${set.message}`);
      dev.applyConfig(set.config, set.changes);
    };
    configure(a, ka, 1, kb, 2, "127.0.0.2", "10.255.0.2/32");
    configure(b, kb, 2, ka, 1, "127.0.0.1", "10.255.0.1/32");
    // Both directions until nothing moves: a request, the handshake it starts, the reply.
    // As the pump does after each drain (pump.ts): the timers bring out the handshake initiation.
    const timers = () => {
      const now = performance.now();
      a.runDueTimers(now);
      b.runDueTimers(now);
    };
    const settle = () => {
      for (let i = 0; i < 8; i++) {
        const moved = a.sender.drainTun() + b.receiver.drain() + b.sender.drainTun() + a.receiver.drain();
        timers();
        if (moved === 0) return;
      }
    };
    // One side starts (§5.4.2): had both staged packets at once, each would answer the other's initiation and
    // abandon its own, leaving two responders waiting for a first data packet until a retry (§6.4).
    tunA.inject(1);
    settle();
    let done = 0;
    while (done < roundTrips && !stop()) {
      const until = performance.now() + SLICE_MS;
      for (; done < roundTrips && performance.now() < until; done++) {
        tunA.inject(done % 16 === 15 ? 4 : 1); // now and then a small batch, as a TCP window
        a.sender.drainTun();
        b.receiver.drain();
        tunB.inject(1);
        b.sender.drainTun();
        a.receiver.drain();
        timers();
      }
      await new Promise<void>((r) => setImmediate(r));
    }
    settle();
    const delivered = tunA.written + tunB.written;
    if (done > 0 && delivered === 0) throw new Error("warm-up: no packet crossed between the two in-memory devices");
    return { roundTrips: done, delivered, ms: performance.now() - t0 };
  } finally {
    a.close();
    b.close();
  }
}
