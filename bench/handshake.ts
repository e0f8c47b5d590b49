#!/usr/bin/env bun
// Handshake benchmark of the sans-IO engine (src/noise): complete handshakes per second between two engines on one
// core (both sides' work: create initiation, consume it and create the response, consume the response), the
// initiations a responder consumes per second, and the same under load (cookie replies; valid mac2 + rate
// limiter). Rates are per CPU-second of this process (steadier than wall time on a shared machine).
//
// Baselines from the same run: a handshake costs 8 X25519 operations (each side: one key import + three shared
// secrets, the static-static one precomputed), so "X25519 bound" = X25519 ops/s ÷ 8 with the same X25519, and the
// ratio says how much of the time goes to everything else (BLAKE2s, AEAD, bookkeeping).
//
//   bun run bench/handshake.ts [--json] [--time=SECONDS] [--append]
import { loadAead, nobleAead } from "../src/crypto/aead.ts";
import { jsBlake2s } from "../src/crypto/blake2s.ts";
import { defaultSuite } from "../src/crypto/suite.ts";
import { nobleX25519, nodeX25519 } from "../src/crypto/x25519.ts";
import { nobleXAead } from "../src/crypto/xchacha.ts";
import { Engine, type NoiseCrypto, type X25519 } from "../src/noise/index.ts";
import { REKEY_TIMEOUT } from "../src/noise/constants.ts";
import { appendResultsSection, fmt, loadAverage, machineFacts, table, today } from "./lib/harness.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const append = args.includes("--append");
const timeArg = args.find((a) => a.startsWith("--time="));
const SECONDS = timeArg ? Number(timeArg.slice(7)) : 1;
if (!(SECONDS > 0)) throw new Error(`--time: expected a positive number of seconds, got "${timeArg?.slice(7)}"`);

// crypto.getRandomValues: ~0.04 µs a call here, node:crypto.randomFillSync ~0.6 µs.
const random = (out: Uint8Array) => void crypto.getRandomValues(out);
const SRC = new Uint8Array([127, 0, 0, 1, 0xca, 0x6c]);

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// CPU time a step spent on preparation, not to be counted (see `untimed`).
let excluded = 0;

/** Runs `prepare` without counting its CPU time. */
function untimed<T>(prepare: () => T): T {
  const t = cpuMs();
  const r = prepare();
  excluded += cpuMs() - t;
  return r;
}

/** Runs `step` (which does `batch` operations) until SECONDS of CPU time have passed; returns operations/s. */
function rate(batch: number, step: () => void): number {
  step(); // warm up
  let n = 0;
  excluded = 0;
  const start = cpuMs();
  let elapsed = 0;
  do {
    step();
    n += batch;
    elapsed = cpuMs() - start - excluded;
  } while (elapsed < SECONDS * 1000);
  return (n / elapsed) * 1000;
}

function pair(crypto: NoiseCrypto) {
  const a = new Engine({ crypto, unixTimeOffset: 1.7e12 });
  const b = new Engine({ crypto, unixTimeOffset: 1.7e12 });
  a.setPrivateKey(randomBytes(32));
  b.setPrivateKey(randomBytes(32));
  return { a, b, pa: a.addPeer(b.publicKey!), pb: b.addPeer(a.publicKey!) };
}

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  random(b);
  return b;
}

// The engines run on a fake clock that moves REKEY_TIMEOUT per handshake, so neither the initiator's retry spacing
// nor the responder's flood limit or timestamp check ever refuses one.
function completeHandshakes(c: NoiseCrypto): number {
  const { a, b, pa } = pair(c);
  let now = 0;
  return rate(16, () => {
    for (let i = 0; i < 16; i++) {
      now += REKEY_TIMEOUT;
      const init = pa.createInitiation(now)!;
      const r = b.consumeHandshake(now, init, SRC, false);
      if (r.kind !== "response") throw new Error(`handshake: responder said ${JSON.stringify(r)}`);
      const e = a.consumeHandshake(now, r.packet, SRC, false);
      if (e.kind !== "established") throw new Error(`handshake: initiator said ${JSON.stringify(e)}`);
    }
  });
}

// The responder's side alone: consume an initiation, create the response. Initiations are made by a untimed (a's clock moves REKEY_TIMEOUT per initiation, b's 60 ms per message: past the 20 ms flood limit and
// the rate limiter's 50 ms per token). Under load, a draws a fresh cookie every 20 initiations, so each one it
// sends carries a valid mac2 (a holds a cookie for COOKIE_REFRESH_TIME of its own clock).
function responderRate(c: NoiseCrypto, underLoad: boolean): number {
  const { a, b, pa } = pair(c);
  let aNow = 0;
  let bNow = 0;
  const prepare = (): Uint8Array[] => {
    const out: Uint8Array[] = [];
    while (out.length < 128) {
      aNow += REKEY_TIMEOUT;
      if (underLoad && out.length % 20 === 0) {
        const probe = pa.createInitiation(aNow)!;
        probe[probe.length - 1] ^= 1; // a wrong mac2 draws a cookie reply
        const reply = b.consumeHandshake(bNow, probe, SRC, true);
        if (reply.kind !== "cookie-reply") throw new Error(`expected a cookie reply, got ${reply.kind}`);
        if (a.consumeHandshake(aNow, reply.packet, SRC, false).kind !== "cookie-consumed") throw new Error("cookie refused");
        aNow += REKEY_TIMEOUT;
      }
      out.push(pa.createInitiation(aNow)!);
    }
    return out;
  };
  let batch = prepare();
  let i = 0;
  return rate(16, () => {
    for (let k = 0; k < 16; k++) {
      if (i === batch.length) {
        batch = untimed(prepare);
        i = 0;
      }
      bNow += 60;
      const r = b.consumeHandshake(bNow, batch[i++], SRC, underLoad);
      if (r.kind === "cookie-reply" && underLoad) {
        // b replaced its cookie secret (every 120 s of its clock): the prepared cookies are stale
        batch = untimed(prepare);
        i = 0;
      } else if (r.kind !== "response") {
        throw new Error(`responder said ${r.kind}${r.kind === "rejected" ? ` (${r.reason})` : ""}`);
      }
    }
  });
}

// Under load, initiations without mac2 are answered with cookie replies: mac1 check + cookie + XChaCha20-Poly1305.
function cookieReplyRate(c: NoiseCrypto): number {
  const { b, pa } = pair(c);
  const init = pa.createInitiation(0)!;
  return rate(64, () => {
    for (let k = 0; k < 64; k++) {
      const r = b.consumeHandshake(0, init, SRC, true);
      if (r.kind !== "cookie-reply") throw new Error(`expected a cookie reply, got ${r.kind}`);
    }
  });
}

// A flood of initiations with a wrong mac1: the cheapest rejection, what an attacker without our public key costs.
function badMac1Rate(c: NoiseCrypto): number {
  const { b, pa } = pair(c);
  const init = pa.createInitiation(0)!;
  init[120] ^= 1;
  return rate(256, () => {
    for (let k = 0; k < 256; k++) {
      if (b.consumeHandshake(0, init, SRC, false).kind !== "rejected") throw new Error("expected a rejection");
    }
  });
}

function x25519Rate(x: X25519): number {
  const k = x.privateKey(randomBytes(32));
  const peer = x.privateKey(randomBytes(32)).publicKey;
  const out = new Uint8Array(32);
  return rate(8, () => {
    for (let i = 0; i < 8; i++) x.sharedSecret(k, peer, out);
  });
}

function importRate(x: X25519): number {
  const secret = randomBytes(32);
  return rate(8, () => {
    for (let i = 0; i < 8; i++) x.privateKey(secret);
  });
}

// Not a Diffie-Hellman at all (an XOR, so both sides still agree): with it, a handshake costs everything but the
// curve arithmetic — BLAKE2s, AEAD, bookkeeping — which says what is left to gain outside X25519.
function noCurve(): X25519 {
  type Key = { publicKey: Uint8Array; secret: Uint8Array; destroy(): void };
  return {
    name: "no curve (XOR, not a DH)",
    privateKey: (secret): Key => ({ publicKey: Uint8Array.from(secret), secret: Uint8Array.from(secret), destroy() {} }),
    sharedSecret(k, pub, out) {
      const s = (k as Key).secret;
      for (let i = 0; i < 32; i++) out[i] = s[i] ^ pub[i] ^ 1;
      return true;
    },
  };
}

// The daemon's suite (src/device/device.ts: defaultSuite), and variants of it with one backend swapped.
const aead = loadAead();
const suite = defaultSuite({ aead, random, x25519: nodeX25519() });
const fast = suite.x25519;
const noble = nobleX25519();
const backends = aead.backend;
const withParts = (parts: Partial<NoiseCrypto>): NoiseCrypto => ({ ...suite, ...parts });

interface Row {
  op: string;
  what: string;
  per_s: number;
  baseline?: string;
  ratio?: number;
}
const rows: Row[] = [];
const emit = (r: Row) => {
  rows.push(r);
  if (json) console.log(JSON.stringify(r));
};

const dhFast = x25519Rate(fast);
const importFast = importRate(fast);
emit({ op: "x25519", what: `X25519 shared secret, ${fast.name}`, per_s: dhFast });
emit({ op: "x25519-import", what: `X25519 key import + public key, ${fast.name}`, per_s: importFast });
const dhNoble = x25519Rate(noble);
emit({ op: "x25519-noble", what: `X25519 shared secret, ${noble.name}`, per_s: dhNoble, baseline: "x25519", ratio: dhNoble / dhFast });
// Per handshake: 2 imports (ephemerals) + 6 shared secrets.
const bound = 1 / (2 / importFast + 6 / dhFast);
emit({ op: "x25519-bound", what: "X25519 bound: 1 / (2 imports + 6 shared secrets)", per_s: bound });
const hs = completeHandshakes(suite);
emit({ op: "handshake", what: `complete handshakes, both sides (the daemon's suite: ${fast.name}, ${backends})`, per_s: hs, baseline: "x25519-bound", ratio: hs / bound });
const hsJs = completeHandshakes(withParts({ blake2s: jsBlake2s() }));
emit({ op: "handshake-js-blake2s", what: "complete handshakes, both sides (JS BLAKE2s)", per_s: hsJs, baseline: "handshake", ratio: hsJs / hs });
const hsNoCurve = completeHandshakes(withParts({ x25519: noCurve() }));
emit({ op: "handshake-without-x25519", what: "complete handshakes without the curve arithmetic (XOR stand-in)", per_s: hsNoCurve, baseline: "handshake", ratio: hsNoCurve / hs });
const hsNoble = completeHandshakes(withParts({ x25519: noble }));
emit({ op: "handshake-noble", what: `complete handshakes, both sides (${noble.name})`, per_s: hsNoble, baseline: "handshake", ratio: hsNoble / hs });
const hsNobleAead = completeHandshakes(withParts({ aead: nobleAead() }));
emit({ op: "handshake-noble-aead", what: "complete handshakes, both sides (@noble/ciphers AEAD)", per_s: hsNobleAead, baseline: "handshake", ratio: hsNobleAead / hs });
const resp = responderRate(suite, false);
emit({ op: "initiation-consume", what: "initiations consumed + responses created", per_s: resp, baseline: "handshake", ratio: resp / hs });
const respLoad = responderRate(suite, true);
emit({ op: "initiation-consume-under-load", what: "same, under load with valid mac2 (+ rate limiter)", per_s: respLoad, baseline: "initiation-consume", ratio: respLoad / resp });
const cookies = cookieReplyRate(suite);
emit({ op: "cookie-reply", what: "under load without mac2: cookie replies", per_s: cookies, baseline: "initiation-consume", ratio: cookies / resp });
const cookiesNoble = cookieReplyRate(withParts({ xaead: nobleXAead() }));
emit({ op: "cookie-reply-noble", what: "same, @noble/ciphers XChaCha20-Poly1305", per_s: cookiesNoble, baseline: "cookie-reply", ratio: cookiesNoble / cookies });
const bad = badMac1Rate(suite);
emit({ op: "invalid-mac1", what: "initiations rejected for a bad mac1", per_s: bad, baseline: "initiation-consume", ratio: bad / resp });

const load = loadAverage();
if (!json) {
  console.log(
    table(
      ["operation", "per CPU-second", "vs baseline"],
      rows.map((r) => [r.what, fmt(r.per_s, 0), r.ratio === undefined ? "" : `${fmt(r.ratio, 2)}× ${r.baseline}`]),
    ),
  );
  console.log(`load average ${load}; ${SECONDS} s of CPU per figure`);
}
if (append) {
  const m = await machineFacts();
  const body = [
    `### ${today()} — ${m.cpu}, kernel ${m.kernel}, Bun ${m.bun}, load average ${load}`,
    "",
    "`bun run bench/handshake.ts` (rates per CPU-second of one process, both engines on one core):",
    "",
    table(
      ["operation", "per CPU-second", "vs baseline"],
      rows.map((r) => [r.what, fmt(r.per_s, 0), r.ratio === undefined ? "" : `${fmt(r.ratio, 2)}× ${r.baseline}`]),
    ),
  ].join("\n");
  console.error(`appended to ${appendResultsSection("Handshake", body)}`);
}
