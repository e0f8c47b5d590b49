// A structure-aware fuzzer for every wire parser of the protocol core (§5.4): handshake initiations, responses and
// cookie replies go through Engine.consumeHandshake; transport messages through the shell's sequence
// keypairByIndex → replayMayAccept → AEAD open → packetReceived. Two engines hold a real session; genuine messages
// captured from them are mutated (bit flips, truncation, extension, wrong types, reserved bytes, forged indexes and
// counters, low-order points, random bytes with a valid mac1, exact replays) and fed to the engine that would
// receive them. The oracle knows every genuine message: anything else that is accepted, any genuine message
// accepted twice, any exception, or plaintext released by a failed open is a failure.
//
// Deterministic: a seed fixes every byte (engines get seeded randomness and a fake clock).
import type { Aead } from "../../src/crypto/aead.ts";
import { LABEL_MAC1, REKEY_TIMEOUT } from "../../src/noise/constants.ts";
import { defaultSuite, jsSuite } from "../../src/crypto/suite.ts";
import { labelKey } from "../../src/noise/cookie.ts";
import { Engine, type Keypair, type Peer, readCounter } from "../../src/noise/index.ts";
import { seal } from "../noise/helpers.ts";

/** xorshift128: fast, seeded, never used for keys outside tests. */
export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    this.a = seed >>> 0 || 1; this.b = 0x9e3779b9; this.c = 0x243f6a88; this.d = 0xb7e15162;
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    let t = this.d;
    const s = this.a;
    this.d = this.c; this.c = this.b; this.b = s;
    t ^= t << 11; t ^= t >>> 8;
    this.a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.a;
  }
  /** 0 ≤ n < max */
  int(max: number): number { return this.u32() % max; }
  chance(p: number): boolean { return this.u32() < p * 4294967296; }
  fill(out: Uint8Array): void {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const v = this.u32();
      out[i] = v; out[i + 1] = v >>> 8; out[i + 2] = v >>> 16; out[i + 3] = v >>> 24;
    }
    for (; i < out.length; i++) out[i] = this.u32();
  }
  bytes(n: number): Uint8Array { const b = new Uint8Array(n); this.fill(b); return b; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  /** A random(out) function for an Engine, from this generator. */
  source(): (out: Uint8Array) => void { return (out) => this.fill(out); }
}

const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
/** Curve25519 points of small order and their non-canonical twins (the set libsodium refuses): a DH with any of
 *  them gives zero, which §5.4 requires refusing. */
export const LOW_ORDER_POINTS = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
  "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
  "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
].map(unhex);

/** Writes a valid mac1 (§5.4.4) for a receiver whose mac1 key is `mac1Key` into a 148- or 92-byte message: what
 *  an attacker who knows the receiver's public key can always do. */
export function writeMac1(msg: Uint8Array, mac1Key: Uint8Array): void {
  const m1 = msg.length - 32;
  REF.blake2s.mac(msg.subarray(m1, m1 + 16), mac1Key, msg.subarray(0, m1));
}

const REF = jsSuite(); // the fuzzer's own MACs: the JS reference, independent of the engines' Zig BLAKE2s
export function mac1KeyOf(publicKey: Uint8Array): Uint8Array { return labelKey(REF, LABEL_MAC1, publicKey); }

/** A payload padded with zeros to a multiple of 16 bytes, as the shell pads packets before sealing (§5.4.6). */
export function padded(payload: Uint8Array): Uint8Array {
  const pt = new Uint8Array((payload.length + 15) & ~15);
  pt.set(payload);
  return pt;
}

/** The classes of input the fuzzer makes; each case draws one. */
export const CASE_CLASSES = [
  "random-bytes", // any length, any content
  "random-shaped", // right type byte, zero reserved bytes, right size, random content
  "random-mac1", // shaped handshake messages with a valid mac1 for the receiver (they reach the DH)
  "low-order", // initiations/responses with a low-order ephemeral and a valid mac1
  "truncated", // a genuine message cut short
  "oversized", // a genuine message with bytes appended
  "wrong-type", // a genuine message with another type byte, or a reserved byte set
  "forged-index", // receiver index replaced (random, or another live index)
  "forged-counter", // transport counter replaced (random, huge, old, just ahead)
  "bit-flip", // 1–4 bits of a genuine message flipped
  "field-splice", // one field of a genuine message overwritten with random bytes
  "replay", // a genuine message sent again, exactly
  "genuine", // control: a genuine message never delivered (may be accepted, once)
] as const;
export type CaseClass = (typeof CASE_CLASSES)[number];

export type Kind = "initiation" | "response" | "cookie" | "transport";
interface Genuine extends GenuineMessage {
  delivered: boolean;
  /** transport: its plaintext, to check that a failed open releases none of it. */
  plaintext?: Uint8Array;
}

export interface Failure { seed: number; case: number; cls: CaseClass; what: string; hex: string }

export interface FuzzReport {
  cases: number;
  ms: number;
  /** "class outcome" → count */
  outcomes: Map<string, number>;
  failures: Failure[];
  genuineAccepted: number;
  heapGrowthBytes: number;
  maxIndices: number;
}

const SRC = [unhex("7f000001ca6c"), unhex("7f000002ca6d"), unhex("0a0000010001"), unhex("fd000000000000000000000000000001ca6c")];
const EMPTY = new Uint8Array(0);

/** Fuzzes two engines a (initiator) and b (responder). `cases` are split across refresh epochs: every epoch runs
 *  a fresh genuine handshake and captures new genuine messages. */
export class WireFuzzer {
  readonly rng: Rng;
  private now = 1_000;
  private readonly a: Engine;
  private readonly b: Engine;
  private readonly pa: Peer; // b, as a sees it
  private readonly pb: Peer; // a, as b sees it
  private readonly mac1A: Uint8Array;
  private readonly mac1B: Uint8Array;
  private corpus: Genuine[] = [];
  private readonly byPrefix = new Map<string, Genuine>();
  private readonly report: FuzzReport;
  private readonly out = new Uint8Array(70_000);
  private seq = 0;

  constructor(readonly seed: number, private readonly aead: Aead, readonly epochCases = 2_000) {
    this.rng = new Rng(seed);
    const mk = () => new Engine({ crypto: defaultSuite({ aead, random: this.rng.source() }), unixTimeOffset: 1.8e12 });
    this.a = mk();
    this.b = mk();
    this.a.setPrivateKey(this.rng.bytes(32));
    this.b.setPrivateKey(this.rng.bytes(32));
    this.pa = this.a.addPeer(this.b.publicKey!);
    this.pb = this.b.addPeer(this.a.publicKey!);
    if (this.rng.chance(0.5)) {
      const psk = this.rng.bytes(32);
      this.pa.setPresharedKey(psk);
      this.pb.setPresharedKey(psk);
    }
    this.mac1A = mac1KeyOf(this.a.publicKey!);
    this.mac1B = mac1KeyOf(this.b.publicKey!);
    this.report = { cases: 0, ms: 0, outcomes: new Map(), failures: [], genuineAccepted: 0, heapGrowthBytes: 0, maxIndices: 0 };
  }

  /** Runs n cases; returns the cumulative report. */
  run(n: number): FuzzReport {
    const r = this.report;
    Bun.gc(true);
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (this.seq % this.epochCases === 0) {
        try {
          this.refresh();
        } catch (e) {
          this.fail("genuine", `a genuine exchange failed after fuzzing: ${(e as Error).message}`, new Uint8Array(0));
          break;
        }
      }
      this.oneCase();
      this.seq++;
      this.now += 0.25;
      const size = this.a.indices.size + this.b.indices.size;
      if (size > r.maxIndices) r.maxIndices = size;
    }
    r.ms += performance.now() - t0;
    r.cases += n;
    Bun.gc(true);
    r.heapGrowthBytes = Math.max(r.heapGrowthBytes, process.memoryUsage().heapUsed - heap0);
    return r;
  }

  // ---- the genuine corpus of one epoch

  private add(g: Genuine): void {
    this.corpus.push(g);
    this.byPrefix.set(this.keyOf(g.kind, g.bytes), g);
  }

  /** What identifies a message to the oracle — the bytes the receiver can authenticate. Handshake messages: all
   *  but the sender index and the macs (§5.4.2–3: the sender index is covered by mac1 alone, which anyone who
   *  knows the receiver's public key can recompute, so an on-path attacker may change it — as harmless as dropping
   *  the message; mac2 is only checked under load). Cookie replies: the nonce and sealed cookie (any receiver
   *  index naming the same peer may carry them). Transport messages: every byte. */
  private keyOf(kind: Kind, m: Uint8Array): string {
    const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
    if (kind === "transport") return kind + latin1(m);
    if (kind === "cookie") return kind + latin1(m.subarray(8));
    return kind + latin1(m.subarray(0, 4)) + latin1(m.subarray(8, m.length - 32));
  }

  private refresh(): void {
    // Whatever was thrown at the engines in the last epoch must not have disturbed their sessions: every genuine
    // transport message not delivered yet still opens, once (forged counters must not have moved the window).
    for (const g of this.corpus) {
      if (g.kind !== "transport" || g.delivered) continue;
      if (this.openTransport(g.to === "a" ? this.a : this.b, g.bytes, g, "genuine") !== "accepted") {
        throw new Error(`genuine transport message to ${g.to} (counter ${readCounter(g.bytes)}) refused after the epoch's fuzzing`);
      }
    }
    this.corpus = [];
    this.byPrefix.clear();
    this.now += REKEY_TIMEOUT + 1 + this.rng.int(1000);
    const now = this.now;
    // 1. A full handshake a → b, confirmed by a keepalive (§5.4.5, §6.5).
    const init = this.pa.createInitiation(now);
    if (init === null) throw new Error("fuzzer: a could not create an initiation");
    const atB = this.b.consumeHandshake(now, init, SRC[0], false);
    if (atB.kind !== "response") throw new Error(`fuzzer: b refused a genuine initiation: ${JSON.stringify(atB)}`);
    const atA = this.a.consumeHandshake(now, atB.packet, SRC[1], false);
    if (atA.kind !== "established") throw new Error(`fuzzer: a refused a genuine response: ${JSON.stringify(atA)}`);
    this.add({ kind: "initiation", bytes: init, to: "b", delivered: true });
    this.add({ kind: "response", bytes: atB.packet, to: "a", delivered: true });
    const ka = this.seal(this.pa, new Uint8Array(0));
    this.add(ka);
    if (this.openTransport(this.b, ka.bytes, ka, "genuine") !== "accepted") throw new Error("fuzzer: b refused the confirming keepalive");
    // 2. Transport messages both ways, of assorted sizes, not delivered yet.
    for (let i = 0; i < 48; i++) {
      this.add(this.seal(this.pa, this.rng.bytes(this.rng.pick([0, 1, 15, 16, 40, 84, 576, 1280, 1420]))));
      this.add(this.seal(this.pb, this.rng.bytes(this.rng.pick([0, 1, 15, 16, 40, 84, 576, 1280, 1420]))));
    }
    // 3. A second initiation, left pending at a: b answers it under load (a cookie reply) and not under load (a
    //    response); neither answer is delivered, so their mutants reach a's deepest checks.
    this.now += REKEY_TIMEOUT + 1;
    const init2 = this.pa.createInitiation(this.now)!;
    // From another source address than the one a may hold a cookie for, so b must answer with a cookie reply.
    const cookie = this.b.consumeHandshake(this.now, init2, this.rng.bytes(6), true);
    if (cookie.kind !== "cookie-reply") throw new Error(`fuzzer: expected a cookie reply, got ${cookie.kind}`);
    const resp2 = this.b.consumeHandshake(this.now, init2, SRC[0], false);
    if (resp2.kind !== "response") throw new Error(`fuzzer: b refused the second initiation: ${JSON.stringify(resp2)}`);
    this.add({ kind: "initiation", bytes: init2, to: "b", delivered: true });
    this.add({ kind: "cookie", bytes: cookie.packet, to: "a", delivered: false });
    this.add({ kind: "response", bytes: resp2.packet, to: "a", delivered: false });
  }

  private seal(from: Peer, payload: Uint8Array): Genuine {
    const kp = from.sendingKeypair(this.now);
    if (kp === null) throw new Error("fuzzer: no sending session");
    const pt = padded(payload);
    return { kind: "transport", bytes: seal(this.aead, from, kp, pt), to: from === this.pa ? "b" : "a", delivered: false, plaintext: pt };
  }

  // ---- one case

  private oneCase(): void {
    const rng = this.rng;
    // Controls are rarer, so undelivered genuine messages last through the epoch for the mutants to aim at.
    let cls = CASE_CLASSES[rng.int(CASE_CLASSES.length)];
    if (cls === "genuine" && rng.chance(0.75)) cls = "bit-flip";
    let msg: Uint8Array;
    let to: "a" | "b";
    let original: Genuine | null = null;
    switch (cls) {
      case "random-bytes": {
        const len = rng.chance(0.05) ? rng.int(65_536) : rng.chance(0.5) ? rng.int(200) : rng.int(2_000);
        msg = rng.bytes(len);
        if (rng.chance(0.5) && len > 0) msg[0] = 1 + rng.int(4);
        to = rng.chance(0.5) ? "a" : "b";
        break;
      }
      case "random-shaped":
      case "random-mac1": {
        const type = cls === "random-mac1" ? 1 + rng.int(2) : 1 + rng.int(4);
        const len = type === 1 ? 148 : type === 2 ? 92 : type === 3 ? 64 : 32 + 16 * rng.int(90);
        msg = rng.bytes(len);
        msg[0] = type; msg[1] = 0; msg[2] = 0; msg[3] = 0;
        to = type === 1 ? "b" : type === 4 ? (rng.chance(0.5) ? "a" : "b") : "a";
        if (type === 2 && rng.chance(0.7)) setU32(msg, 8, this.pendingIndexOfA());
        if (type === 3 && rng.chance(0.7)) setU32(msg, 4, this.pendingIndexOfA());
        if (type === 4 && rng.chance(0.7)) setU32(msg, 4, this.someKeypairIndex(to));
        if (cls === "random-mac1") writeMac1(msg, to === "b" ? this.mac1B : this.mac1A);
        break;
      }
      case "low-order": {
        const point = rng.pick(LOW_ORDER_POINTS);
        if (rng.chance(0.5)) {
          msg = Uint8Array.from(this.pickGenuine("initiation").bytes);
          msg.set(point, 8);
          to = "b";
        } else {
          msg = Uint8Array.from(this.pickGenuine("response").bytes);
          msg.set(point, 12);
          setU32(msg, 8, this.pendingIndexOfA());
          to = "a";
        }
        writeMac1(msg, to === "b" ? this.mac1B : this.mac1A);
        break;
      }
      default: {
        // Mutants of messages not delivered yet matter most: they must not use them up (checked in refresh).
        original = cls === "replay" ? this.pickDelivered() : cls === "genuine" || rng.chance(0.6) ? this.pickUndelivered() : this.pickGenuine();
        to = original.to;
        msg = this.mutate(cls, original);
      }
    }
    this.deliver(cls, msg, to, original);
  }

  private pickGenuine(kind?: Kind): Genuine {
    for (;;) {
      const g = this.corpus[this.rng.int(this.corpus.length)];
      if (kind === undefined || g.kind === kind) return g;
    }
  }

  private pickUndelivered(): Genuine {
    const left = this.corpus.filter((g) => !g.delivered);
    return left.length > 0 ? this.rng.pick(left) : this.pickGenuine();
  }

  private pickDelivered(): Genuine {
    const done = this.corpus.filter((g) => g.delivered);
    return done.length > 0 ? this.rng.pick(done) : this.pickGenuine();
  }

  private pendingIndexOfA(): number {
    const r = this.corpus.find((g) => g.kind === "response" && !g.delivered);
    return r ? getU32(r.bytes, 8) : this.rng.u32();
  }

  private someKeypairIndex(to: "a" | "b"): number {
    const p = to === "a" ? this.pa : this.pb;
    const kp = this.rng.pick([p.current, p.previous, p.next]);
    return kp ? kp.localIndex : this.rng.u32();
  }

  private mutate(cls: CaseClass, g: Genuine): Uint8Array {
    return mutate(this.rng, cls, g, {
      mac1Key: (to) => (to === "b" ? this.mac1B : this.mac1A),
      otherIndex: (to) => this.someKeypairIndex(to),
    });
  }

  // ---- delivery and the oracle

  private deliver(cls: CaseClass, msg: Uint8Array, to: "a" | "b", original: Genuine | null): void {
    const engine = to === "a" ? this.a : this.b;
    let outcome: string;
    try {
      if (msg.length >= 1 && msg[0] === 4) outcome = this.openTransport(engine, msg, original, cls);
      else outcome = this.handshakeOutcome(engine, msg, cls);
    } catch (e) {
      outcome = "exception";
      this.fail(cls, `exception: ${(e as Error).stack ?? e}`, msg);
    }
    const key = `${cls} ${outcome}`;
    this.report.outcomes.set(key, (this.report.outcomes.get(key) ?? 0) + 1);
  }

  private handshakeOutcome(engine: Engine, msg: Uint8Array, cls: CaseClass): string {
    const underLoad = this.rng.chance(0.3);
    const src = this.rng.chance(0.9) ? SRC[this.rng.int(2)] : this.rng.bytes(this.rng.chance(0.5) ? 6 : 18);
    const out = engine.consumeHandshake(this.now, msg, src, underLoad);
    if (out.kind === "rejected") return `rejected:${out.reason}`;
    if (out.kind === "cookie-reply") {
      // Allowed for any message with a valid mac1 for this receiver (an attacker who knows the public key can
      // always make one); check the mac1 independently.
      const want = new Uint8Array(16);
      const m1 = msg.length - 32;
      REF.blake2s.mac(want, engine === this.b ? this.mac1B : this.mac1A, msg.subarray(0, m1));
      if (!underLoad || (msg.length !== 148 && msg.length !== 92) || !want.every((v, i) => v === msg[m1 + i])) {
        this.fail(cls, `cookie reply to a message without a valid mac1 (underLoad=${underLoad})`, msg);
      }
      return "cookie-reply";
    }
    const kind: Kind = out.kind === "response" ? "initiation" : out.kind === "established" ? "response" : "cookie";
    const g = this.byPrefix.get(this.keyOf(kind, msg));
    if (g === undefined || g.delivered) {
      this.fail(cls, `accepted (${out.kind}) a handshake message that is ${g ? "a replay" : "not genuine"}`, msg);
    } else {
      g.delivered = true;
      this.report.genuineAccepted++;
    }
    return `accepted:${out.kind}`;
  }

  /** The shell's inbound order (receive.ts): index → replay pre-check → open → record. Returns the outcome. */
  private openTransport(engine: Engine, msg: Uint8Array, original: Genuine | null, cls: CaseClass): string {
    const failWith = (what: string) => this.fail(cls, what, msg);
    if (msg.length < 32 || msg[1] !== 0 || msg[2] !== 0 || msg[3] !== 0) return "dropped:malformed";
    const kp: Keypair | undefined = engine.keypairByIndex(getU32(msg, 4));
    if (kp === undefined) return "dropped:unknown-index";
    const counter = readCounter(msg);
    if (!kp.peer.replayMayAccept(kp, counter)) return "dropped:replay-window";
    const ct = msg.subarray(16);
    const out = this.out.subarray(0, ct.length - 16);
    out.fill(0xa5);
    if (!this.aead.open(kp.receiveKey, counter, ct, EMPTY, out)) {
      // A failed open must release no plaintext (aead.ts contract): when only the header or the tag was changed,
      // a careless open would have written the genuine plaintext.
      const pt = original?.plaintext;
      if (pt && pt.length >= 16 && out.length === pt.length && out.every((v, i) => v === pt[i])) failWith("a failed open released the plaintext");
      return "dropped:aead";
    }
    if (!kp.peer.packetReceived(this.now, kp, counter, out.length === 0)) return "dropped:packet-refused";
    const g = this.byPrefix.get(this.keyOf("transport", msg));
    if (g === undefined || g.delivered) failWith(`accepted a transport message that is ${g ? "a replay" : "not genuine"}`);
    else {
      g.delivered = true;
      this.report.genuineAccepted++;
    }
    return "accepted";
  }

  private fail(cls: CaseClass, what: string, msg: Uint8Array): void {
    if (this.report.failures.length < 50) {
      this.report.failures.push({ seed: this.seed, case: this.seq, cls, what, hex: Buffer.from(msg.subarray(0, 200)).toString("hex") });
    }
  }

}

/** A genuine message as the mutations see it. */
export interface GenuineMessage {
  kind: Kind;
  bytes: Uint8Array;
  to: "a" | "b";
}

export interface MutationContext {
  /** The mac1 key of the receiver `to` (attackers know public keys, so they can always write a valid mac1). */
  mac1Key(to: "a" | "b"): Uint8Array;
  /** Another live session index of the receiver, or a random one. */
  otherIndex(to: "a" | "b"): number;
}

export function getU32(m: Uint8Array, at: number): number {
  return (m[at] | (m[at + 1] << 8) | (m[at + 2] << 16) | (m[at + 3] << 24)) >>> 0;
}

export function setU32(m: Uint8Array, at: number, v: number): void {
  m[at] = v; m[at + 1] = v >>> 8; m[at + 2] = v >>> 16; m[at + 3] = v >>> 24;
}

/** One mutant of a genuine message for a mutation class (never byte-identical to it, except for "replay" and
 *  "genuine"). */
export function mutate(rng: Rng, cls: CaseClass, g: GenuineMessage, ctx: MutationContext): Uint8Array {
  const src = g.bytes;
  switch (cls) {
    case "truncated":
      return src.slice(0, rng.int(src.length));
    case "oversized": {
      const extra = rng.chance(0.1) ? 1 + rng.int(60_000) : 1 + rng.int(64);
      const m = new Uint8Array(src.length + extra);
      m.set(src);
      rng.fill(m.subarray(src.length));
      return m;
    }
    case "wrong-type": {
      const m = Uint8Array.from(src);
      if (rng.chance(0.5)) {
        let t = rng.int(256);
        if (t === m[0]) t = (t + 1) & 255;
        m[0] = t;
      } else m[1 + rng.int(3)] = 1 + rng.int(255);
      return m;
    }
    case "forged-index": {
      const m = Uint8Array.from(src);
      const at = g.kind === "response" ? 8 : 4;
      const other = g.kind === "transport" ? ctx.otherIndex(g.to) : rng.u32();
      const v = rng.chance(0.5) ? other : rng.u32();
      setU32(m, at, v === getU32(src, at) ? (v + 1) >>> 0 : v);
      if (g.kind !== "transport" && g.kind !== "cookie" && rng.chance(0.5)) writeMac1(m, ctx.mac1Key(g.to));
      return m;
    }
    case "forged-counter": {
      if (g.kind !== "transport") return mutate(rng, "bit-flip", g, ctx);
      const m = Uint8Array.from(src);
      const c = readCounter(src);
      const choices = [rng.u32() + rng.u32() * 4294967296, 2 ** 53 - 1, 2 ** 53, 2 ** 64 - 1, 2 ** 64 - 2 ** 13, 0,
        c + 1, c + 8128, c + 8129, Math.max(0, c - 8129), c + 2 ** 32];
      let v = rng.pick(choices);
      if (v === c) v = c + 1;
      const lo = v % 4294967296, hi = Math.floor(v / 4294967296) % 4294967296;
      setU32(m, 8, lo >>> 0);
      setU32(m, 12, hi >>> 0);
      if (getU32(m, 8) === getU32(src, 8) && getU32(m, 12) === getU32(src, 12)) m[8] ^= 1;
      return m;
    }
    case "bit-flip": {
      const m = Uint8Array.from(src);
      const flips = 1 + rng.int(4);
      for (let i = 0; i < flips; i++) {
        const bit = rng.int(m.length * 8);
        m[bit >>> 3] ^= 1 << (bit & 7);
      }
      if (m.every((v, i) => v === src[i])) m[0] ^= 0x80;
      return m;
    }
    case "field-splice": {
      const m = Uint8Array.from(src);
      const start = rng.int(m.length);
      const len = 1 + rng.int(Math.min(32, m.length - start));
      rng.fill(m.subarray(start, start + len));
      if (m.every((v, i) => v === src[i])) m[start] ^= 1;
      // Half the time the attacker also fixes up mac1, so the message passes the cheap check.
      if ((g.kind === "initiation" || g.kind === "response") && rng.chance(0.5)) writeMac1(m, ctx.mac1Key(g.to));
      return m;
    }
    case "replay":
    case "genuine":
      return Uint8Array.from(src);
    default:
      throw new Error(`fuzzer: no mutation for ${cls}`);
  }
}

/** Outcomes grouped by class, for tables: class → { cases, outcomes "name n, …" }. */
export function summarise(r: FuzzReport): { cls: string; cases: number; outcomes: string }[] {
  const by = new Map<string, Map<string, number>>();
  for (const [k, n] of r.outcomes) {
    const [cls, outcome] = k.split(" ") as [string, string];
    if (!by.has(cls)) by.set(cls, new Map());
    by.get(cls)!.set(outcome, n);
  }
  return CASE_CLASSES.filter((c) => by.has(c)).map((cls) => {
    const m = by.get(cls)!;
    const cases = [...m.values()].reduce((a, b) => a + b, 0);
    const outcomes = [...m.entries()].sort((x, y) => y[1] - x[1]).map(([o, n]) => `${o} ${n}`).join(", ");
    return { cls, cases, outcomes };
  });
}
