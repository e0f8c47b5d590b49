// Shared fixtures for the noise tests: a seeded random source (deterministic runs), engines with a fake clock,
// and a loop that carries one handshake between two engines.

import { nobleAead, type Aead } from "../../src/crypto/aead.ts";
import { jsSuite } from "../../src/crypto/suite.ts";
import { defaultX25519 } from "../../src/crypto/x25519.ts";
import { Engine, type Keypair, type NoiseCrypto, type Peer, type X25519 } from "../../src/noise/index.ts";
import { readCounter, writeTransportHeader } from "../../src/noise/messages.ts";

/** A deterministic random source (xorshift32); never use outside tests. */
export function seededRandom(seed: number): (out: Uint8Array) => void {
  let s = seed >>> 0 || 1;
  return (out) => {
    for (let i = 0; i < out.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = s >>> 0;
    }
  };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

/** Unix time of `now` = 0 in these tests: 2026-11-25T00:00:00Z. */
export const UNIX_OFFSET = Date.UTC(2026, 10, 25);

export interface Pair {
  a: Engine;
  b: Engine;
  pa: Peer; // b as seen by a
  pb: Peer; // a as seen by b
}

export const SRC_A = unhex("7f000001ca6c"); // 127.0.0.1:51820
export const SRC_B = unhex("7f000002ca6d");

/** An engine on the JS suite (with the fast X25519) and a seeded random source — `parts` replaces any backend —
 *  on the fake clock. */
export function testEngine(seed: number, parts: Partial<NoiseCrypto> = {}): Engine {
  return new Engine({ crypto: jsSuite({ x25519: defaultX25519(), random: seededRandom(seed), ...parts }), unixTimeOffset: UNIX_OFFSET });
}

export function makePair(opts: { seed?: number; psk?: Uint8Array | "mismatch"; aead?: Aead; x25519?: X25519; crypto?: Partial<NoiseCrypto> } = {}): Pair {
  const seed = opts.seed ?? 1;
  const parts: Partial<NoiseCrypto> = { aead: opts.aead ?? nobleAead(), ...(opts.x25519 ? { x25519: opts.x25519 } : {}), ...opts.crypto };
  const a = testEngine(seed, parts);
  const b = testEngine(seed + 1000, parts);
  const ka = new Uint8Array(32);
  seededRandom(seed + 7)(ka);
  const kb = new Uint8Array(32);
  seededRandom(seed + 9)(kb);
  a.setPrivateKey(ka);
  b.setPrivateKey(kb);
  const pa = a.addPeer(b.publicKey!);
  const pb = b.addPeer(a.publicKey!);
  if (opts.psk === "mismatch") {
    pa.setPresharedKey(new Uint8Array(32).fill(1));
    pb.setPresharedKey(new Uint8Array(32).fill(2));
  } else if (opts.psk) {
    pa.setPresharedKey(opts.psk);
    pb.setPresharedKey(opts.psk);
  }
  return { a, b, pa, pb };
}

/** a initiates at `now`; returns b's outcome and a's outcome on the response. */
export function handshake(p: Pair, now: number) {
  const init = p.pa.createInitiation(now);
  if (init === null) throw new Error("no initiation");
  const atB = p.b.consumeHandshake(now, init, SRC_A, false);
  if (atB.kind !== "response") return { atB, atA: null };
  const atA = p.a.consumeHandshake(now, atB.packet, SRC_B, false);
  return { atB, atA };
}

/** Seals one transport message with kp (header + padded payload + tag), as the shell does. */
export function seal(aead: Aead, peer: Peer, kp: Keypair, payload: Uint8Array): Uint8Array {
  const counter = peer.reserveCounters(kp, 1);
  if (counter < 0) throw new Error("counter exhausted");
  const msg = new Uint8Array(16 + payload.length + 16);
  writeTransportHeader(msg, 0, kp.remoteIndexBits, counter); // as the data path (send.ts)
  aead.seal(kp.sendKey, counter, payload, new Uint8Array(0), msg.subarray(16));
  return msg;
}

/** Opens a transport message at the receiving engine, running the replay check and the timers like the shell.
 *  Returns the plaintext, or null when any step refuses it. */
export function open(aead: Aead, engine: Engine, now: number, msg: Uint8Array): Uint8Array | null {
  const kp = engine.keypairByIndex((msg[4] | (msg[5] << 8) | (msg[6] << 16) | (msg[7] << 24)) >>> 0); // indices are unsigned
  if (kp === undefined) return null;
  const counter = readCounter(msg);
  if (!kp.peer.replayMayAccept(kp, counter)) return null;
  const out = new Uint8Array(msg.length - 32);
  if (!aead.open(kp.receiveKey, counter, msg.subarray(16), new Uint8Array(0), out)) return null;
  if (!kp.peer.packetReceived(now, kp, counter, out.length === 0)) return null;
  return out;
}

export interface SimEvent {
  t: number;
  from: "a" | "b";
  what: "initiation" | "retry" | "response" | "data" | "keepalive" | "gave-up" | "zeroed";
}

/** A zero-latency network between the two engines of a Pair plus a minimal shell on each side, driven by a fake
 *  clock: timers fire at their deadlines, packets are delivered (or dropped) at once. */
export class Sim {
  now = 0;
  dropAB = false;
  dropBA = false;
  readonly events: SimEvent[] = [];
  private readonly staged = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  private readonly aead = nobleAead();

  constructor(readonly p: Pair) {}

  private side(x: "a" | "b") {
    const { a, b, pa, pb } = this.p;
    return x === "a" ? { engine: a, peer: pa, other: "b" as const } : { engine: b, peer: pb, other: "a" as const };
  }

  private log(from: "a" | "b", what: SimEvent["what"]) {
    this.events.push({ t: this.now, from, what });
  }

  /** The shell's send path for one payload (empty = keepalive). */
  send(from: "a" | "b", payload: Uint8Array) {
    const { peer } = this.side(from);
    const kp = peer.sendingKeypair(this.now);
    if (kp === null) {
      this.staged[from].push(payload);
      peer.wantHandshake(this.now);
      this.runTimers(from);
      return;
    }
    const msg = seal(this.aead, peer, kp, payload);
    peer.packetSent(this.now, payload.length === 0);
    this.log(from, payload.length === 0 ? "keepalive" : "data");
    this.wire(from, msg);
  }

  private flush(from: "a" | "b") {
    const q = this.staged[from].splice(0);
    for (const m of q) this.send(from, m);
  }

  private wire(from: "a" | "b", msg: Uint8Array) {
    if (from === "a" ? this.dropAB : this.dropBA) return;
    const to = from === "a" ? "b" : "a";
    const { engine, peer } = this.side(to);
    if (msg[0] === 4) {
      if (open(this.aead, engine, this.now, msg) !== null && this.staged[to].length > 0) this.flush(to);
      return;
    }
    const out = engine.consumeHandshake(this.now, msg, to === "a" ? SRC_B : SRC_A, false);
    if (out.kind === "response") {
      this.log(to, "response");
      this.wire(to, out.packet);
    } else if (out.kind === "established") {
      if (this.staged[to].length > 0) this.flush(to);
      else this.send(to, new Uint8Array(0));
    } else if (out.kind === "cookie-reply") {
      this.wire(to, out.packet);
    }
    void peer;
  }

  private runTimers(x: "a" | "b") {
    const { peer } = this.side(x);
    while (peer.nextDeadline() <= this.now) {
      for (const act of peer.tick(this.now)) {
        if (act.kind === "initiation") {
          this.log(x, act.retry ? "retry" : "initiation");
          this.wire(x, act.packet);
        } else if (act.kind === "keepalive") {
          this.send(x, new Uint8Array(0));
        } else {
          if (act.kind === "gave-up") this.staged[x].length = 0;
          this.log(x, act.kind);
        }
      }
    }
  }

  /** Advances the clock to `t`, firing every deadline on the way; `every` (ms) with `onStep` adds traffic. */
  runUntil(t: number, every?: number, onStep?: (now: number) => void) {
    let nextStep = every === undefined ? Infinity : this.now + every;
    for (;;) {
      const d = Math.min(this.p.pa.nextDeadline(), this.p.pb.nextDeadline(), nextStep);
      if (d > t) break;
      this.now = Math.max(this.now, d);
      this.runTimers("a");
      this.runTimers("b");
      if (this.now >= nextStep) {
        nextStep += every!;
        onStep?.(this.now);
      }
    }
    this.now = t;
  }

  times(from: "a" | "b", ...what: SimEvent["what"][]): number[] {
    return this.events.filter((e) => e.from === from && what.includes(e.what)).map((e) => e.t);
  }
}
